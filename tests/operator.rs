//! The operator's day (issue 18) against the real Docker Engine: logs,
//! restart (also under a running controller), completions, quiet output
//! with a summary line, `apply --wait`, `status --watch` through a pipe.

mod common;

use common::{contains, free_port, metric, wait_http_ok, Fleet};
use std::process::{Command, Stdio};
use std::time::Duration;

fn tenantctl(fleet: &Fleet, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .args(args)
        .arg("-f")
        .arg(&fleet.file)
        .env_remove("TENANTCTL_LOG")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn apply_is_quiet_by_default_ends_with_a_summary_and_waits_for_health() {
    let fleet = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    fleet.write(&[("alpha", pa, ""), ("beta", pb, "")]);
    let lock = fleet.apply_lock();
    let lock = lock.to_str().unwrap();
    let (code, out, err) = tenantctl(&fleet, &["apply", "--wait", "--lock-file", lock]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !err.contains("INFO"),
        "per-action logs only with -v:\n{err}"
    );
    assert!(!out.contains('\x1b'), "no colour through a pipe:\n{out}");
    contains(&out, "ok   alpha: create_volume, create_volume, create");
    contains(&out, "Applied 7 change(s): 2 created, 0 updated in place, 0 recreated, 0 adopted; 0 failure(s) in");
    contains(&out, "Waited");
    contains(&out, "2 of 2 changed tenant(s) healthy.");
    // --wait returned only once both answer: status says so at once.
    let (_, status, _) = tenantctl(&fleet, &["status", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert!(
        rows.as_array().unwrap().iter().all(|r| r["probe"] == true),
        "{status}"
    );
    // -v brings the per-action log back.
    fleet.write(&[("alpha", pa, "env = { V = \"2\" }"), ("beta", pb, "")]);
    let (code, out, err) = tenantctl(&fleet, &["apply", "-v", "--lock-file", lock]);
    assert_eq!(code, 0, "{out}{err}");
    contains(&err, "INFO");
    contains(&out, "1 recreated");
}

#[test]
fn logs_and_restart_through_the_engine_api_without_a_fight() {
    let fleet = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    fleet.write(&[("alpha", pa, ""), ("beta", pb, "")]);
    fleet.apply();
    wait_http_ok(pa, "/health");
    wait_http_ok(pb, "/health");

    let (code, _, err) = tenantctl(&fleet, &["logs", "alpha"]);
    assert_eq!(code, 0);
    contains(&err, "mai-standin: listening on port 8080");
    let (code, _, err) = tenantctl(&fleet, &["logs", "--all", "--tail", "1"]);
    assert_eq!(code, 0);
    contains(&err, "alpha | mai-standin: listening");
    contains(&err, "beta  | mai-standin: listening");
    let (code, _, err) = tenantctl(&fleet, &["logs", "gamma"]);
    assert_eq!(code, 1);
    contains(&err, "tenant `gamma` is not in the file");

    // A restart under a running controller: it waits, does not "heal".
    let ctl = fleet.start_controller(&["--resync", "1s"]);
    let id = fleet.container_id("alpha");
    let started = fleet.inspect("alpha", "{{.State.StartedAt}}");
    let (code, out, err) = tenantctl(&fleet, &["restart", "alpha"]);
    assert_eq!(code, 0, "{out}{err}");
    contains(&out, "ok   alpha: restarted and healthy in");
    assert_eq!(fleet.container_id("alpha"), id, "the same container");
    assert_ne!(fleet.inspect("alpha", "{{.State.StartedAt}}"), started);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        metric(
            ctl.listen,
            "tenantctl_actions_total{action=\"start\",result=\"success\"}"
        )
        .is_none(),
        "the controller started nothing:\n{}",
        ctl.logs()
    );
    assert_eq!(fleet.container_id("alpha"), id);
}

#[test]
fn completions_and_status_watch_through_a_pipe() {
    let fleet = Fleet::new();
    fleet.write(&[("alpha", free_port(), "")]);
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tenantctl"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("rollout"),
            "{shell}"
        );
    }
    let mut watch = Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .args(["status", "--watch", "1s", "-f"])
        .arg(&fleet.file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    let _ = watch.kill();
    let out = watch.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.matches("TENANT").count() >= 2, "looked again:\n{text}");
    assert!(
        !text.contains('\x1b'),
        "piped: no redraw codes, no colour:\n{text}"
    );
    contains(&text, "alpha");
}

#[test]
fn leftover_volumes_are_reported_and_overcommitted_memory_warns() {
    let fleet = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    fleet.write(&[("alpha", pa, ""), ("beta", pb, "")]);
    fleet.apply();
    fleet.write(&[("alpha", pa, "")]);
    fleet.tenantctl_expect(&["apply", "--prune"], 0);
    let status = fleet.tenantctl_expect(&["status"], 0);
    contains(&status, "Volumes of tenants no longer in the file");
    contains(
        &status,
        &format!("beta: {0}-beta-backups, {0}-beta-data", fleet.prefix()),
    );
    let ctl = fleet.start_controller(&[]);
    common::time_until("the leftover metric", Duration::from_secs(20), || {
        metric(ctl.listen, "tenantctl_leftover_volumes{tenant=\"beta\"} 2").is_some()
    });

    // Reservations beyond the host: plan and validate warn, and pass.
    fleet.write(&[(
        "alpha",
        pa,
        "resources = { memory = \"4000G\", memory_reservation = \"2000G\" }",
    )]);
    for command in ["plan", "validate"] {
        let (code, out, err) = tenantctl(&fleet, &[command]);
        assert_eq!(code, 0, "{out}{err}");
        contains(
            &err,
            "warning: the tenants' memory reservations add up to 2000G",
        );
    }
}

fn chromium(args: &[&str], url: &str) -> std::process::Output {
    let profile = tempdir_for_chromium();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(args)
        .arg(url)
        .output()
        .expect(
            "chromium not found: install Debian's `chromium` package (make test does, as root)",
        );
    // Its profile (tens of MB) is the test's to remove.
    let _ = std::fs::remove_dir_all(&profile);
    out
}

fn tempdir_for_chromium() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tenantctl-chromium-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_status_page_in_a_real_browser_lists_every_tenant_and_highlights_a_stopped_one() {
    let fleet = Fleet::new();
    let ports = [free_port(), free_port(), free_port()];
    fleet.write(&[
        ("alpha", ports[0], ""),
        ("beta", ports[1], ""),
        ("gamma", ports[2], ""),
    ]);
    fleet.apply();
    for p in ports {
        wait_http_ok(p, "/health");
    }
    common::docker_ok(&["stop", "-t", "1", &fleet.container_name("beta")]);
    // Observe-only, so beta stays stopped for the page.
    let ctl = fleet.start_controller(&["--observe-only", "--stats-interval", "1s"]);
    common::time_until("usage sampled", Duration::from_secs(30), || {
        metric(
            ctl.listen,
            "tenantctl_tenant_memory_bytes{tenant=\"alpha\"}",
        )
        .is_some()
    });
    std::thread::sleep(Duration::from_secs(3)); // a few samples for the sparklines
    let (status, json) = common::http("GET", ctl.listen, "/api/status", "").unwrap();
    assert_eq!(status, 200, "{json}");
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3, "{json}");
    assert!(json.contains("\"state\": \"exited\""), "{json}");

    let url = format!("http://127.0.0.1:{}/", ctl.listen);
    let out = chromium(&["--dump-dom"], &url);
    let dom = String::from_utf8_lossy(&out.stdout);
    for (tenant, state, class) in [
        ("alpha", "running", ""),
        ("beta", "exited", "wrong"),
        ("gamma", "running", ""),
    ] {
        contains(
            &dom,
            &format!(r#"<tr id="tenant-{tenant}" class="{class}" data-state="{state}">"#),
        );
    }
    contains(
        &dom,
        r#"<div id="wrong"><b class="bad">1</b>need attention</div>"#,
    );
    assert!(!dom.contains("<script"), "no JavaScript");

    let artifacts = common::manifest_dir().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let out = chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,420",
        ],
        &url,
    );
    assert!(
        shot.metadata().map(|m| m.len() > 10_000).unwrap_or(false),
        "a screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn init_scaffolds_a_valid_fleet_repository_and_refuses_a_full_directory() {
    let fleet = Fleet::new();
    let dir = fleet.dir.join("fleet-repo");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tenantctl"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["init", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "tenants.toml",
        "charts/mai/chart.toml",
        ".github/workflows/tenantctl.yml",
        "tenantctl.service",
        "README.md",
        ".git/HEAD",
    ] {
        assert!(dir.join(file).exists(), "{file}");
    }
    let workflow = std::fs::read_to_string(dir.join(".github/workflows/tenantctl.yml")).unwrap();
    contains(&workflow, "tenantctl validate -f tenants.toml");
    contains(&workflow, "tenantctl plan -f tenants.toml --exit-code");
    let tenants = dir.join("tenants.toml");
    let out = run(&["validate", "-f", tenants.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = run(&["init", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    contains(
        &String::from_utf8_lossy(&again.stderr),
        "is not empty; nothing was written",
    );
}
