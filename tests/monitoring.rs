//! Observability against real tools: promtool on the shipped rules and on a
//! live scrape, and a real Prometheus server scraping a running controller,
//! queried with PromQL.

mod common;

use common::{docker_ok, free_port, http, manifest_dir, time_until, Fleet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn promtool(args: &[&str], dir: &Path, stdin: Option<&str>) -> String {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: install Debian's `prometheus` package (.ci/run does)");
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn shipped_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let dir = manifest_dir().join("examples/monitoring");
    let checked = promtool(&["check", "rules", "alerts.yml"], &dir, None);
    assert!(checked.contains("SUCCESS: 11 rules found"), "{checked}");
    promtool(&["test", "rules", "alerts.test.yml"], &dir, None);
    promtool(&["check", "config", "prometheus.yml"], &dir, None);
}

#[test]
fn a_live_scrape_passes_promtool_check_metrics_and_names_every_contract_metric() {
    let fleet = Fleet::new();
    fleet.write(&[("alpha", free_port(), ""), ("beta", free_port(), "")]);
    let ctl = fleet.start_controller(&["--stats-interval", "1s"]);
    time_until("metrics populated", Duration::from_secs(30), || {
        let body = http("GET", ctl.listen, "/metrics", "")
            .map(|r| r.1)
            .unwrap_or_default();
        body.contains("tenantctl_tenant_up{tenant=\"alpha\"} 1")
            && ["alpha", "beta"].iter().all(|t| {
                body.contains(&format!("tenantctl_tenant_memory_bytes{{tenant=\"{t}\"}}"))
                    && body.contains(&format!(
                        "tenantctl_tenant_cpu_seconds_total{{tenant=\"{t}\"}}"
                    ))
            })
    });
    let (status, body) = http("GET", ctl.listen, "/metrics", "").unwrap();
    assert_eq!(status, 200);
    promtool(&["check", "metrics"], &fleet.dir, Some(&body));
    for name in [
        "tenantctl_tenants_desired 2",
        "tenantctl_tenant_up{tenant=\"alpha\"} 1",
        "tenantctl_tenant_in_sync{tenant=\"alpha\"} 1",
        "tenantctl_reconcile_total{result=\"changed\"}",
        "tenantctl_reconcile_duration_seconds_bucket",
        "tenantctl_last_successful_reconcile_timestamp_seconds",
        "tenantctl_config_valid 1",
        "tenantctl_config_info{revision=\"\",sha256=\"",
        "tenantctl_docker_requests_total{operation=\"list_containers\"}",
        "tenantctl_proxy_last_reload_successful 1",
        "tenantctl_actions_total{action=\"create\",result=\"success\"} 2",
        "tenantctl_tenant_cpu_seconds_total{tenant=\"alpha\"}",
        "tenantctl_tenant_memory_bytes{tenant=\"alpha\"}",
        "tenantctl_rollout_tenants{state=\"pending\"} 0",
        "process_resident_memory_bytes",
    ] {
        assert!(body.contains(name), "missing {name:?} in:\n{body}");
    }
    assert!(
        !body.contains("tenantctl_drift{"),
        "a converged fleet has no drift series"
    );
}

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_prometheus(dir: &Path, target: u16) -> (Prometheus, u16) {
    let port = free_port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: tenantctl\n    static_configs:\n      - targets: [\"127.0.0.1:{target}\"]\n"),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("prometheus not found: install Debian's `prometheus` package (.ci/run does)");
    (Prometheus(child), port)
}

fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Instant query: each series as `(labels, value)`.
fn query(port: u16, promql: &str) -> Vec<(serde_json::Value, String)> {
    let Some((200, body)) = http(
        "GET",
        port,
        &format!("/api/v1/query?query={}", encode(promql)),
        "",
    ) else {
        return vec![];
    };
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    json["data"]["result"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .map(|r| {
                    (
                        r["metric"].clone(),
                        r["value"][1].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn single_value(port: u16, promql: &str) -> Option<String> {
    let result = query(port, promql);
    (result.len() == 1).then(|| result[0].1.clone())
}

#[test]
fn prometheus_sees_a_paused_stopped_tenant_down_and_a_conflict_as_drift() {
    let fleet = Fleet::new();
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    // gamma's container name is taken by a container tenantctl does not own.
    fleet.run_foreign(&fleet.container_name("gamma"), &[]);
    fleet.write(&[("alpha", pa, ""), ("beta", pb, ""), ("gamma", pc, "")]);
    let ctl = fleet.start_controller(&[]);
    time_until("alpha and beta up", Duration::from_secs(30), || {
        http("GET", pa, "/health", "").is_some() && http("GET", pb, "/health", "").is_some()
    });

    // Pause alpha, then stop it by hand: reported, never healed.
    fleet.write(&[
        ("alpha", pa, "paused = true"),
        ("beta", pb, ""),
        ("gamma", pc, ""),
    ]);
    ctl.wait_log("changed=1", Duration::from_secs(10));
    docker_ok(&["stop", &fleet.container_name("alpha")]);

    let (_prom, port) = start_prometheus(&fleet.dir, ctl.listen);
    let expect = |promql: &str, want: &str| {
        time_until(
            &format!("{promql} == {want}"),
            Duration::from_secs(60),
            || single_value(port, promql).as_deref() == Some(want),
        );
    };
    expect("tenantctl_tenant_up{tenant=\"alpha\"}", "0");
    expect("tenantctl_tenant_up{tenant=\"beta\"}", "1");
    expect("tenantctl_drift{reason=\"conflict\"}", "1");
    let conflict = query(port, "tenantctl_drift{reason=\"conflict\"}");
    assert_eq!(conflict[0].0["tenant"], "gamma");
    assert_eq!(conflict[0].0["resource"], "container");
    expect(
        "tenantctl_drift{tenant=\"alpha\",resource=\"container\",reason=\"stopped\"}",
        "1",
    );
    expect("tenantctl_tenant_in_sync{tenant=\"alpha\"}", "0");
    expect("tenantctl_tenant_in_sync{tenant=\"beta\"}", "1");
    // gamma is blocked before its volumes are created: conflict + missing.
    expect(
        "tenantctl_drift{tenant=\"gamma\",resource=\"volume\",reason=\"missing\"}",
        "1",
    );
    expect("count(tenantctl_drift)", "3");
    expect("tenantctl_tenants_desired", "3");
    expect("tenantctl_config_valid", "1");

    std::thread::sleep(Duration::from_secs(3));
    let running = fleet.inspect("alpha", "{{.State.Running}}");
    assert_eq!(
        running, "false",
        "a paused tenant is never started by tenantctl"
    );
    assert!(
        ctl.logs().contains("tenant=gamma") || ctl.logs().contains("tenant=\"gamma\""),
        "the conflict is logged"
    );
}
