//! Timing helpers, cleanup and the report table.

use crate::Samples;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

pub const LABEL: &str = "tenantctl-bench.run";

/// Docker's health-check interval for every tool alike: 10 s, or N/10 s
/// past 100 tenants. Each check is a `docker exec`; 1,000 containers
/// checked every 10 s are 100 execs a second, which on this 2-core machine
/// drove the load average to 75 and slowed everything (any tool) to a
/// crawl. Set per fleet size by `main`.
static HEALTH_INTERVAL_SECS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(10);

pub fn set_fleet_size(n: usize) {
    HEALTH_INTERVAL_SECS.store(
        (n as u64 / 10).max(10),
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// `"10s"` style, for tenants.toml and `docker run`.
pub fn health_interval() -> String {
    format!(
        "{}s",
        HEALTH_INTERVAL_SECS.load(std::sync::atomic::Ordering::Relaxed)
    )
}

pub fn require_tools() {
    for (tool, hint) in [
        ("docker", "a running Docker Engine"),
        ("docker-compose", "apt-get install docker-compose"),
    ] {
        let ok = Command::new(tool)
            .arg("version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(ok, "the benchmark needs `{tool}` ({hint})");
    }
}

pub fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn docker(args: &[&str]) -> String {
    sh(Command::new("docker").args(args))
}

/// Whether `GET /path` on the port answers `want_status` (and `body`).
pub fn http_ok(port: u16, path: &str, body: Option<&str>) -> bool {
    // Short timeouts, so a poll is retried rather than waited out: a poll
    // that reaches a published port while the container's network is still
    // being set up has its SYN retransmitted after TCP's initial 1 s
    // timeout (at connect when Docker's NAT rule is in place first, at
    // read when docker-proxy accepts first). Only a tool whose containers
    // start while the poller runs (the controller) can hit that window;
    // `docker run` and `docker-compose up` return before polling starts.
    // With blocking connects and a 2 s read it cost tenantctl a second in
    // most S3/S4 samples.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(250)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(250)));
    if write!(s, "GET {path} HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut r = String::new();
    let _ = s.read_to_string(&mut r);
    r.starts_with("HTTP/1.0 200") && body.is_none_or(|b| r.ends_with(&format!("{b}\n")))
}

/// How long a scenario may take before the benchmark gives up: 5 minutes,
/// plus a second per port past 100 (a 1,000-tenant cold start on this
/// 2-core machine takes several minutes for the raw engine too).
fn limit(ports: usize) -> Duration {
    Duration::from_secs(300 + ports.saturating_sub(100) as u64)
}

/// Polls every 20 ms until all ports answer; returns the elapsed time
/// since `start`. Bounded (see `limit`).
pub fn wait_all_healthy(start: Instant, ports: &[u16]) -> Duration {
    let mut pending: Vec<u16> = ports.to_vec();
    while !pending.is_empty() {
        pending.retain(|p| !http_ok(*p, "/health", None));
        if start.elapsed() >= limit(ports.len()) {
            // What Docker says about the ports that never answered, so a
            // failed run says whether a container is missing, stopped,
            // unhealthy or running without answering.
            for p in &pending {
                let out = std::process::Command::new("docker")
                    .args(["ps", "-a", "--filter", &format!("publish={p}")])
                    .args(["--format", "{{.Names}} {{.Status}} {{.Ports}}"])
                    .output();
                let text = out.map(|o| String::from_utf8_lossy(&o.stdout).to_string());
                eprintln!("port {p} never answered: {text:?}");
            }
            panic!("{} tenants never became healthy", pending.len());
        }
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    start.elapsed()
}

/// Runs `change` on another thread while `poll` (which measures from the
/// same start) waits for its result, and returns what `poll` measured.
/// Every tool is timed this way, from the change until its tenants answer:
/// a controller's containers start while the poller already runs, so the
/// engine and compose baselines poll while their commands run too (a poll
/// that reaches a container whose network is still being set up stalls for
/// up to a second, and polling only after `docker run` returned hid that
/// stall from the baselines alone).
pub fn while_polling(change: impl FnOnce() + Send, poll: impl FnOnce() -> Duration) -> Duration {
    std::thread::scope(|s| {
        let changing = s.spawn(change);
        let served = poll();
        changing.join().expect("the change panicked");
        served
    })
}

pub fn wait_until(start: Instant, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "{what}: not within 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// Cleans up a run's objects when dropped, so a failed scenario leaves
/// nothing behind either.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        cleanup(&self.0);
    }
}

/// Removes every container, volume and network labelled with this run.
pub fn cleanup(run: &str) {
    let filter = format!("label={LABEL}={run}");
    for kind in [
        vec!["ps", "-aq"],
        vec!["volume", "ls", "-q"],
        vec!["network", "ls", "-q"],
    ] {
        let mut args = kind.clone();
        args.extend(["--filter", &filter]);
        let ids = docker(&args);
        let ids: Vec<&str> = ids.lines().collect();
        if ids.is_empty() {
            continue;
        }
        let mut rm: Vec<&str> = match kind[0] {
            "ps" => vec!["rm", "-f"],
            "volume" => vec!["volume", "rm", "-f"],
            _ => vec!["network", "rm"],
        };
        rm.extend(ids);
        // dockerd can take a moment to release a removed container's
        // endpoint under load; a network rm right after may be refused.
        for _ in 0..10 {
            if Command::new("docker")
                .args(&rm)
                .output()
                .is_ok_and(|o| o.status.success())
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// The labelled bridge network a baseline's containers join.
pub fn create_network(run: &str) {
    docker(&[
        "network",
        "create",
        "--label",
        &format!("{LABEL}={run}"),
        &format!("{run}-net"),
    ]);
}

/// `n` ports free now, below the kernel's ephemeral range (32768 and up
/// here): a port handed out by `bind(0)` is an ephemeral one, and with
/// 1,000 tenants a client connection (the pollers', the controller's)
/// took one as its source port between the pick and the container's
/// start, so Docker could not publish it ("address already in use"; one
/// tenant of 1,000 never started, 2026-12-01). Picked from 20000 up, past
/// any in use; a few random-ish starts keep parallel runs apart.
pub fn free_ports(n: usize) -> Vec<u16> {
    use std::sync::atomic::{AtomicU16, Ordering};
    /// Past the last port handed out. Each call starts there, not `n`
    /// further than the last call's start: a port skipped because it was
    /// taken moved the last call's ports further up, and its tenants' last
    /// port was once handed out again as the controller's `--listen`.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 64) as u16 * 100;
    let mut out = Vec::with_capacity(n);
    let mut port = NEXT.load(Ordering::Relaxed).max(start);
    while out.len() < n {
        assert!(port < 32_000, "no free ports below the ephemeral range");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            out.push(port);
        }
        port += 1;
    }
    NEXT.fetch_max(port, Ordering::Relaxed);
    out
}

pub fn unique_id(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{tag}{:x}", nanos % 0xffffff)
}

fn median(v: &[Duration]) -> Option<Duration> {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied()
}

fn fmt(d: Option<Duration>) -> String {
    match d {
        Some(d) if d.as_secs_f64() < 1.0 => format!("{:.1} ms", d.as_secs_f64() * 1000.0),
        Some(d) => format!("{:.2} s", d.as_secs_f64()),
        None => "—".into(),
    }
}

fn ratio(a: Option<Duration>, b: Option<Duration>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a.as_nanos() > 0 => {
            format!("{:.1}×", b.as_secs_f64() / a.as_secs_f64())
        }
        _ => "—".into(),
    }
}

pub fn machine_facts() -> String {
    let server = docker(&["version", "-f", "{{.Server.Version}}"]);
    let info = docker(&["info", "-f", "{{.NCPU}} CPUs, {{.MemTotal}} bytes, storage {{.Driver}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}"]);
    let compose = sh(Command::new("docker-compose").arg("version").arg("--short"));
    format!("Docker Engine {server} ({info}); docker-compose {compose}\n\n")
}

pub fn table(
    n: usize,
    runs: usize,
    samples: &Samples,
    calls: &BTreeMap<String, Vec<u64>>,
    peak_rss_kib: u64,
) -> String {
    let scenarios = [
        ("S1", "cold start: nothing → all running and healthy"),
        (
            "S2",
            "no-op resync (nothing changed): lists the host (raw: the container list alone)",
        ),
        (
            "S2c",
            "no-op pass read from the cached view (the pass after changes)",
        ),
        ("S3", "edit one tenant's env → recreated and healthy"),
        ("S4", "add one tenant → serving"),
        ("S5", "remove one tenant → container gone (volumes kept)"),
        ("S6", "10% of containers removed by hand → all healed"),
    ];
    let compose_note = if n > crate::COMPOSE_MAX {
        format!(" (compose loop skipped past N = {})", crate::COMPOSE_MAX)
    } else {
        String::new()
    };
    let mut out = format!(
        "### N = {n}{compose_note}, {runs} run(s), medians\n\n| scenario | tenantctl | compose loop | raw engine | compose / tenantctl | tenantctl / raw | Docker calls (tenantctl) |\n|---|---|---|---|---|---|---|\n"
    );
    for (id, name) in scenarios {
        let get = |tool: &str| {
            samples
                .get(&(id.to_string(), tool.to_string()))
                .and_then(|v| median(v))
        };
        let (t, c, r) = (get("tenantctl"), get("compose"), get("raw"));
        let tr = match (t, r) {
            (Some(t), Some(r)) if r.as_nanos() > 0 => {
                format!("{:.2}", t.as_secs_f64() / r.as_secs_f64())
            }
            _ => "—".into(),
        };
        let call = calls.get(id).map(|v| {
            let mut v = v.clone();
            v.sort();
            v[v.len() / 2].to_string()
        });
        out.push_str(&format!(
            "| {id} {name} | {} | {} | {} | {} | {tr} | {} |\n",
            fmt(t),
            fmt(c),
            fmt(r),
            ratio(t, c),
            call.unwrap_or_else(|| "—".into())
        ));
    }
    if let Some(s1) = calls.get("S1").and_then(|v| {
        let mut v = v.clone();
        v.sort();
        v.get(v.len() / 2).copied()
    }) {
        out.push_str(&format!(
            "\nDocker calls per created tenant during S1: {:.1}\n",
            s1 as f64 / n as f64
        ));
    }
    out.push_str(&format!(
        "\nController peak RSS while running N={n}: {:.1} MiB\n\n",
        peak_rss_kib as f64 / 1024.0
    ));
    out
}
