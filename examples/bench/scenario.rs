//! The tenantctl side: a real `tenantctl run` controller for S1 and S3-S6,
//! and the library's own resync path (observe lists + plan) for S2.

use crate::measure::{self, docker, http_ok, wait_all_healthy, wait_until, LABEL};
use crate::{Args, Samples};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub struct RunResult {
    pub calls: BTreeMap<String, u64>,
    pub peak_rss_kib: u64,
    /// The raw engine's S2: Docker listing the host's containers, nothing
    /// else (measured on tenantctl's converged fleet).
    pub engine_list: Duration,
}

fn tenantctl_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/tenantctl")
}

fn write_fleet(file: &Path, id: &str, ports: &[u16], edited: Option<&str>) {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/mai");
    let mut text = format!(
        "name_prefix = \"{id}\"\nnetwork = \"{id}-net\"\nlabels = {{ \"{LABEL}\" = \"{id}\" }}\n\n[defaults]\nchart = \"{}\"\nimage = \"tenantctl-standin:latest\"\nresources = {{ cpus = 0.25, memory = \"64M\", memory_reservation = \"32M\" }}\nhealth = {{ interval = \"{}\", timeout = \"2s\", start_period = \"1s\" }}\n",
        chart.display(),
        measure::health_interval()
    );
    for (i, port) in ports.iter().enumerate() {
        let name = if i == 0 { edited.unwrap_or("t0") } else { "" };
        text.push_str(&format!("\n[tenants.t{i}]\nport = {port}\n"));
        if !name.is_empty() {
            text.push_str(&format!("display_name = \"{name}\"\n"));
        }
    }
    // Written via temp + rename, as an editor or git would.
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

/// Docker calls the controller made to converge: every operation but the
/// periodic CPU/memory sampling (`stats`, one call per tenant per
/// `--stats-interval`), which does not depend on what changed.
fn docker_calls(listen: u16) -> u64 {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", listen)) else {
        return 0;
    };
    use std::io::{Read, Write};
    let _ = write!(s, "GET /metrics HTTP/1.0\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.lines()
        .filter(|l| l.starts_with("tenantctl_docker_requests_total{"))
        .filter(|l| !l.contains("operation=\"stats\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

struct Controller(Child);

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn container_id(name: &str) -> Option<String> {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.Id}}", name])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub fn tenantctl_run(n: usize, args: &Args, samples: &mut Samples) -> RunResult {
    let id = measure::unique_id("bt");
    let _cleanup = measure::Cleanup(id.clone());
    let dir = std::env::temp_dir().join(format!("tenantctl-bench-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tenants.toml");
    let mut ports = measure::free_ports(n + 1);
    let extra_port = ports.pop().unwrap();
    write_fleet(&file, &id, &ports, None);
    let listen = measure::free_ports(1)[0];
    let mut record = |s: &str, d: Duration| {
        samples
            .entry((s.into(), "tenantctl".into()))
            .or_default()
            .push(d)
    };
    let mut calls = BTreeMap::new();

    // S1: cold start by the controller (bounded parallel creates).
    let start = Instant::now();
    let log = std::fs::File::create(dir.join("controller.log")).unwrap();
    let controller = Controller(
        Command::new(tenantctl_bin())
            .args(["run", "-f"])
            .arg(&file)
            .args([
                "--listen",
                &format!("127.0.0.1:{listen}"),
                "--prune",
                "--concurrency",
                &args.concurrency.to_string(),
            ])
            .arg("--lock-file")
            .arg(dir.join("lock"))
            .env(
                "TENANTCTL_LOG",
                std::env::var("TENANTCTL_LOG").unwrap_or_else(|_| "warn".into()),
            )
            // As the shipped systemd unit runs it (packaging/): one glibc
            // malloc arena instead of up to eight per core, each keeping
            // what its threads freed.
            .env("MALLOC_ARENA_MAX", "1")
            .stderr(log)
            .spawn()
            .expect("build tenantctl first: cargo build --release"),
    );
    let up = Instant::now();
    while docker_calls(listen) == 0 {
        assert!(up.elapsed() < Duration::from_secs(15), "the controller did not start (is target/release/tenantctl current? `make bench` builds it)");
        std::thread::sleep(Duration::from_millis(20));
    }
    record("S1", wait_all_healthy(start, &ports));
    calls.insert("S1".into(), docker_calls(listen));
    let pid = controller.0.id();
    let mut hwm = vec![("S1", peak_rss_kib(pid))];

    // S2: a no-op resync, as the controller does it: lists + in-memory plan.
    let noop = crate::micro::noop_resync(&file, 10);
    record("S2", noop.listed);
    calls.insert("S2".into(), noop.listed_calls);
    record("S2c", noop.cached);
    calls.insert("S2c".into(), noop.cached_calls);

    // S3: edit one tenant's env; only it is recreated.
    let others: Vec<Option<String>> = (1..n)
        .map(|i| container_id(&format!("{id}-t{i}")))
        .collect();
    let before = docker_calls(listen);
    let start = Instant::now();
    write_fleet(&file, &id, &ports, Some("edited"));
    record(
        "S3",
        wait_until(start, "S3", || http_ok(ports[0], "/", Some("mAI - edited"))),
    );
    calls.insert("S3".into(), docker_calls(listen) - before);
    hwm.push(("S3", peak_rss_kib(pid)));
    let after: Vec<Option<String>> = (1..n)
        .map(|i| container_id(&format!("{id}-t{i}")))
        .collect();
    assert_eq!(
        others, after,
        "S3 must leave the other N-1 containers alone"
    );

    // S4: add one tenant.
    let mut with_extra = ports.clone();
    with_extra.push(extra_port);
    let before = docker_calls(listen);
    let start = Instant::now();
    write_fleet(&file, &id, &with_extra, Some("edited"));
    record("S4", wait_all_healthy(start, &[extra_port]));
    calls.insert("S4".into(), docker_calls(listen) - before);
    hwm.push(("S4", peak_rss_kib(pid)));

    // S5: remove it again (the controller runs with --prune).
    let before = docker_calls(listen);
    let start = Instant::now();
    write_fleet(&file, &id, &ports, Some("edited"));
    let gone = format!("{id}-t{n}");
    record(
        "S5",
        wait_until(start, "S5", || container_id(&gone).is_none()),
    );
    calls.insert("S5".into(), docker_calls(listen) - before);
    hwm.push(("S5", peak_rss_kib(pid)));
    assert!(
        !docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("name={gone}-data")
        ])
        .is_empty(),
        "S5 keeps volumes"
    );

    // S6: remove 10% by hand; the controller heals them.
    let victims: Vec<String> = (0..n.div_ceil(10))
        .map(|i| format!("{id}-t{}", i * 10 % n))
        .collect();
    let before = docker_calls(listen);
    let start = Instant::now();
    let mut rm = vec!["rm", "-f"];
    rm.extend(victims.iter().map(String::as_str));
    docker(&rm);
    std::thread::sleep(Duration::from_millis(50));
    record("S6", wait_all_healthy(start, &ports));
    calls.insert("S6".into(), docker_calls(listen) - before);

    let peak = peak_rss_kib(pid);
    hwm.push(("S6", peak));
    // The high-water mark only grows: the scenario where it jumps is the
    // one that set the peak.
    let steps: Vec<String> = hwm.iter().map(|(s, k)| format!("{s} {k}")).collect();
    eprintln!(
        "controller VmHWM (KiB) after each scenario: {}",
        steps.join(", ")
    );
    drop(controller);
    if std::env::var_os("TENANTCTL_BENCH_KEEP").is_some() {
        eprintln!("kept the controller's file and log: {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    RunResult {
        calls,
        peak_rss_kib: peak,
        engine_list: noop.engine_list,
    }
}
