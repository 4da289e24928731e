//! Faults (issue 17, items 1, 3 and 4): a private Docker daemon killed
//! under `apply` and under `run`, a lying and slow daemon behind a
//! fault-injecting socket proxy, and a tenants file that disappears,
//! turns into a directory or an unreadable file, or is swapped through
//! symlinks. Figures go into RELIABILITY.md (`make faults` runs the full
//! counts; CI runs `FAULT_RUNS`, 1 by default).

mod common;
#[path = "common/fault_proxy.rs"]
mod fault_proxy;
#[path = "common/private_daemon.rs"]
mod private_daemon;

use common::*;
use fault_proxy::{Fault, FaultProxy};
use private_daemon::PrivateDaemon;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tenantctl");

fn runs() -> usize {
    std::env::var("FAULT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// A small seeded generator (xorshift): the kill points of a run are
/// reproducible from `FAULT_SEED`.
struct Seeded(u64);

impl Seeded {
    fn from_env() -> Seeded {
        let seed = std::env::var("FAULT_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(17);
        eprintln!("FAULT_SEED={seed}");
        Seeded(seed * 2_654_435_761 + 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The fleet's tenants file for `n` tenants on fixed ports (the private
/// daemon's namespace has its own port space).
fn write_fleet(f: &Fleet, n: usize, base_port: u16) -> Vec<(String, u16)> {
    write_fleet_named(f, n, base_port, "v0")
}

/// As [`write_fleet`], every tenant with `display_name = label` (a new
/// label recreates them all, by a rollout).
fn write_fleet_named(f: &Fleet, n: usize, base_port: u16, label: &str) -> Vec<(String, u16)> {
    let tenants: Vec<(String, u16)> = (0..n)
        .map(|i| (format!("t{i:02}"), base_port + i as u16))
        .collect();
    // A gate that fails (a port Docker forwards nowhere after its crash)
    // says so in 20 s, not the default 2 minutes.
    let mut text = f.header().replacen(
        "min_ready = \"1s\"",
        "min_ready = \"1s\"\nprogress_deadline = \"20s\"",
        1,
    );
    for (name, port) in &tenants {
        text.push_str(&format!(
            "\n[tenants.{name}]\nport = {port}\ndisplay_name = \"{label}\"\n"
        ));
    }
    f.write_raw(&text);
    tenants
}

fn tenantctl_in(d: &PrivateDaemon, f: &Fleet, args: &[&str], log: &Path) -> Command {
    let mut cmd = d.command(BIN);
    cmd.args(args)
        .arg("-f")
        .arg(&f.file)
        .env("TENANTCTL_LOG", "info")
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::fs::OpenOptions::new().append(true).open(log).unwrap());
    cmd
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tenantctl did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every tenant runs exactly one container (its own name, running), no
/// `Created` leftover or half-replaced container exists, and both volumes
/// of every tenant are there.
fn converged(d: &PrivateDaemon, f: &Fleet, tenants: &[(String, u16)]) -> Result<(), String> {
    let all = d.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={RUN_LABEL}={}", f.run_id),
        "--format",
        "{{.Names}} {{.State}}",
    ]);
    let mut lines: Vec<&str> = all.lines().collect();
    lines.sort();
    let want: Vec<String> = tenants
        .iter()
        .map(|(t, _)| format!("{} running", f.container_name(t)))
        .collect();
    if lines != want {
        return Err(format!("containers: {lines:?}"));
    }
    let volumes = d.docker_ok(&["volume", "ls", "--format", "{{.Name}}"]);
    for (t, _) in tenants {
        for key in ["data", "backups"] {
            let name = format!("{}-{t}-{key}", f.run_id);
            if !volumes.lines().any(|v| v == name) {
                return Err(format!("volume {name} missing"));
            }
        }
    }
    Ok(())
}

fn wait_converged(
    d: &PrivateDaemon,
    f: &Fleet,
    tenants: &[(String, u16)],
    within: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        match converged(d, f, tenants) {
            Ok(()) => return start.elapsed(),
            Err(why) if start.elapsed() > within => {
                panic!("not converged within {within:?}: {why}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Where tenant `t`'s data volume keeps its files on the private daemon.
fn data_dir(d: &PrivateDaemon, f: &Fleet, t: &str) -> std::path::PathBuf {
    d.root
        .join(format!("data/volumes/{}-{t}-data/_data", f.run_id))
}

/// Each tenant's marker file, written into its data volume, is still
/// there, and its container mounts that volume: no volume was lost or
/// replaced. Read on disk, not through the tenant's port (after a crash
/// Docker may forward a port to a stale address for a while). Returns how
/// many hold, and what is wrong with the others.
fn markers_intact(d: &PrivateDaemon, f: &Fleet, tenants: &[(String, u16)]) -> (usize, Vec<String>) {
    let mut bad = Vec::new();
    for (t, _) in tenants {
        let marker = std::fs::read_to_string(data_dir(d, f, t).join("marker"));
        let mounts = d.docker_ok(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Name}}={{.Destination}} {{end}}",
            &f.container_name(t),
        ]);
        let mounted = mounts.contains(&format!("{}-{t}-data=/app/backend/data", f.run_id));
        if !matches!(&marker, Ok(text) if *text == format!("marker of {t}")) || !mounted {
            bad.push(format!("{t}: marker {marker:?}, mounts {mounts}"));
        }
    }
    (tenants.len() - bad.len(), bad)
}

/// What Docker says about tenants that run but do not answer on their
/// port: the container's state and address, whether it answers on that
/// address directly, and the NAT rules naming its port. Printed before the
/// runbook step, so a failure says which layer lost the traffic.
fn explain_silent(d: &PrivateDaemon, f: &Fleet, silent: &[(String, u16)]) -> String {
    let nat =
        String::from_utf8_lossy(&d.in_netns(&["iptables", "-t", "nat", "-S"]).stdout).to_string();
    let mut out = String::new();
    for (t, port) in silent {
        let info = d.docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} started={{.State.StartedAt}} restarts={{.RestartCount}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}",
            &f.container_name(t),
        ]);
        let ip = info
            .split_whitespace()
            .filter_map(|w| w.split_once('=').map(|(_, v)| v))
            .next_back()
            .unwrap_or("")
            .to_string();
        let direct = d.in_netns(&[
            "curl",
            "-s",
            "-m",
            "3",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{ip}:8080/health"),
        ]);
        let rules: Vec<&str> = nat
            .lines()
            .filter(|l| l.contains(&format!("--dport {port}")))
            .collect();
        out += &format!(
            "{t}: {info}; direct {ip}:8080 -> {}; nat rules: {rules:?}\n",
            String::from_utf8_lossy(&direct.stdout)
        );
    }
    out
}

fn metric_line(d: &PrivateDaemon, listen: u16, name: &str) -> Option<String> {
    let (_, text) = d.get(listen, "/metrics")?;
    text.lines()
        .find(|l| l.starts_with(name))
        .map(str::to_string)
}

/// Item 1: `kill -9` of the daemon in the middle of a 30-tenant apply and
/// under a running controller. Nothing is deleted while it is away or just
/// back; afterwards every tenant runs exactly one container with its
/// volumes and data, and no `Created` leftover is there.
#[test]
fn a_daemon_killed_under_apply_and_under_run_loses_nothing() {
    let mut d = PrivateDaemon::start();
    let f = Fleet::new();
    let tenants = write_fleet(&f, 30, 20000);
    let mut rng = Seeded::from_env();
    let mut figures = Vec::new();

    for run in 0..runs() {
        // Each run gives apply work: the first creates the fleet, then a
        // cold start (every container gone, volumes kept) and a rollout
        // of 30 recreates (a new display name) take turns.
        if run > 0 && run % 2 == 1 {
            write_fleet_named(&f, 30, 20000, &format!("v{run}"));
        } else if run > 0 {
            for (t, _) in &tenants {
                d.docker(&["rm", "-f", &f.container_name(t)]);
            }
        }
        // Under apply: killed at a seeded point of the first 4 s.
        let log = f.dir.join(format!("apply-{run}.log"));
        let lock = path_str(&f.apply_lock());
        let mut apply = tenantctl_in(&d, &f, &["apply", "--lock-file", &lock], &log)
            .spawn()
            .unwrap();
        let at = Duration::from_millis(300 + rng.below(3700));
        std::thread::sleep(at);
        d.kill9();
        let code = wait_exit(&mut apply, Duration::from_secs(120));
        eprintln!("run {run}: daemon killed {at:?} into apply; apply exited {code:?}");
        d.restart();
        let started = Instant::now();
        // Docker itself restores its containers for a few seconds after a
        // restart (restart policies, old tasks and ports being released):
        // an apply in that window may fail for a tenant, as an operator
        // would see; the next one converges. How many it took is counted.
        let (mut applies, mut clean_restarts) = (0, 0);
        loop {
            applies += 1;
            let log = f.dir.join(format!("apply-{run}-after-{applies}.log"));
            let ok = tenantctl_in(&d, &f, &["apply", "--lock-file", &lock], &log)
                .status()
                .unwrap()
                .success();
            if ok {
                break;
            }
            let text = std::fs::read_to_string(&log).unwrap();
            let failures: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
            eprintln!(
                "run {run}: apply {applies} after the restart failed:\n{}",
                failures.join("\n")
            );
            assert!(
                applies < 5,
                "apply after the restart failed {applies} times:\n{text}"
            );
            // Docker 20.10 keeps the port of a container its crash cut
            // short until a clean restart; tenantctl says so (and that
            // nothing else failed is checked here).
            // A rollout the daemon's crash cut short can also halt: the
            // new container's port forwarded to a stale address fails its
            // health gate (the old one is put back). The runbook: a clean
            // daemon restart, then `tenantctl rollout resume`.
            let halted = failures.iter().any(|l| l.contains("HALTED"));
            if (halted
                || failures
                    .iter()
                    .all(|l| l.contains("systemctl restart docker")))
                && clean_restarts == 0
            {
                clean_restarts += 1;
                d.restart_clean();
                if halted {
                    let log = f.dir.join(format!("resume-{run}.log"));
                    let resumed = tenantctl_in(&d, &f, &["rollout", "resume"], &log)
                        .status()
                        .unwrap();
                    assert!(
                        resumed.success(),
                        "{}",
                        std::fs::read_to_string(&log).unwrap()
                    );
                }
            } else {
                std::thread::sleep(Duration::from_secs(2));
            }
        }
        let took = started.elapsed() + wait_converged(&d, &f, &tenants, Duration::from_secs(120));
        eprintln!("run {run}: converged after {applies} apply(s) and {clean_restarts} clean daemon restart(s), {took:?} after the crash restart");
        figures.push(("apply", took));
        if run == 0 {
            for (t, _) in &tenants {
                std::fs::write(data_dir(&d, &f, t).join("marker"), format!("marker of {t}"))
                    .unwrap();
            }
        }
        let (intact, bad) = markers_intact(&d, &f, &tenants);
        assert_eq!(intact, tenants.len(), "data lost: {bad:?}");
    }

    // Under run.
    let listen = 19477;
    let log = f.dir.join("run.log");
    let lock = path_str(&f.dir.join("controller.lock"));
    let mut ctl = tenantctl_in(
        &d,
        &f,
        &[
            "run",
            "--listen",
            &format!("127.0.0.1:{listen}"),
            "--resync",
            "2s",
            "--lock-file",
            &lock,
        ],
        &log,
    )
    .stdin(Stdio::null())
    .spawn()
    .unwrap();
    let ready = |d: &PrivateDaemon| d.get(listen, "/readyz").map(|(s, _)| s);
    time_until("controller ready", Duration::from_secs(60), || {
        ready(&d) == Some(200)
    });
    for run in 0..runs() {
        let at = Duration::from_millis(rng.below(3000));
        std::thread::sleep(at);
        d.kill9();
        time_until("readyz says not ready", Duration::from_secs(30), || {
            ready(&d) == Some(503)
        });
        assert_eq!(
            metric_line(&d, listen, "tenantctl_docker_up").as_deref(),
            Some("tenantctl_docker_up 0")
        );
        // Several resyncs with the daemon away: the controller stays up.
        std::thread::sleep(Duration::from_secs(5));
        assert_eq!(d.get(listen, "/healthz").map(|(s, _)| s), Some(200));
        assert!(ctl.try_wait().unwrap().is_none(), "the controller exited");
        d.restart();
        let started = Instant::now();
        time_until("ready again", Duration::from_secs(90), || {
            ready(&d) == Some(200)
        });
        wait_converged(&d, &f, &tenants, Duration::from_secs(120));
        // A crash can leave Docker's own port forwarding for a container
        // pointing at a stale address (its iptables rules outlive its
        // bookkeeping): running, yet not answering on its port, until a
        // clean daemon restart. Counted, as the operator's runbook step.
        let serving = |d: &PrivateDaemon| {
            tenants
                .iter()
                .all(|(_, p)| d.get(*p, "/health").is_some_and(|(s, _)| s == 200))
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !serving(&d) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        // The runbook step, at most twice: once in CI a tenant still did
        // not answer after the first (the controller recreating it while
        // the daemon stopped); what Docker says about it is printed.
        let mut clean_restarts = 0;
        while !serving(&d) {
            let silent: Vec<(String, u16)> = tenants
                .iter()
                .filter(|(_, p)| d.get(*p, "/health").is_none())
                .cloned()
                .collect();
            let why = explain_silent(&d, &f, &silent);
            assert!(
                clean_restarts < 2,
                "still not answering after {clean_restarts} clean daemon restarts:\n{why}\ndockerd:\n{}",
                d.log_tail()
            );
            eprintln!("run {run}: running but not answering on their ports; a clean daemon restart:\n{why}");
            clean_restarts += 1;
            d.restart_clean();
            wait_converged(&d, &f, &tenants, Duration::from_secs(120));
            let deadline = Instant::now() + Duration::from_secs(60);
            while !serving(&d) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        let took = started.elapsed();
        let (intact, bad) = markers_intact(&d, &f, &tenants);
        assert_eq!(intact, tenants.len(), "data lost: {bad:?}");
        assert_eq!(
            metric_line(&d, listen, "tenantctl_docker_up").as_deref(),
            Some("tenantctl_docker_up 1")
        );
        eprintln!("run {run}: daemon killed under run; converged {took:?} after the restart ({clean_restarts} clean daemon restart(s))");
        figures.push(("run", took));
    }
    let _ = ctl.kill();
    let _ = ctl.wait();
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !logs.contains("removed orphan") && !logs.contains("\"removed\""),
        "the controller removed something:\n{logs}"
    );
    for (kind, took) in &figures {
        eprintln!(
            "FIGURE daemon-kill {kind} converged_after_restart_ms={}",
            took.as_millis()
        );
    }
}

/// The ids of the fleet's containers, read from the daemon itself.
fn container_ids(d: &PrivateDaemon, f: &Fleet) -> Vec<String> {
    let out = d.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={RUN_LABEL}={}", f.run_id),
        "--format",
        "{{.Names}} {{.ID}}",
    ]);
    let mut ids: Vec<String> = out.lines().map(str::to_string).collect();
    ids.sort();
    ids
}

fn counter(d: &PrivateDaemon, listen: u16, line: &str) -> f64 {
    metric_line(d, listen, line)
        .and_then(|l| l.rsplit(' ').next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Item 3: a lying or slow daemon behind a fault-injecting proxy. Lists
/// that fail, hang or come back empty never cause a delete; a 30 s slow
/// daemon is bounded by the per-call timeout (and so is the number of
/// calls in flight); a frozen event stream is caught by the watchdog and
/// drift is still healed within a resync period; a stream cut mid-way is
/// reopened; `/healthz` answers throughout.
#[test]
fn a_lying_or_slow_daemon_never_causes_a_delete() {
    let d = PrivateDaemon::start();
    let proxy = FaultProxy::start(&d.socket, &d.root.join("proxy.sock"));
    let f = Fleet::new();
    let tenants = write_fleet(&f, 3, 21000);
    let lock = path_str(&f.apply_lock());
    let run_in = |args: &[&str], log: &Path| {
        let mut cmd = tenantctl_in(&d, &f, args, log);
        cmd.env("DOCKER_HOST", proxy.host());
        if let Ok(level) = std::env::var("FAULT_LOG") {
            cmd.env("TENANTCTL_LOG", level);
        }
        cmd
    };
    let log = f.dir.join("apply.log");
    assert!(run_in(&["apply", "--lock-file", &lock], &log)
        .status()
        .unwrap()
        .success());
    wait_converged(&d, &f, &tenants, Duration::from_secs(60));

    let listen = 19478;
    let resync = Duration::from_secs(3);
    let ctl_lock = path_str(&f.dir.join("controller.lock"));
    let log = f.dir.join("run.log");
    let mut ctl = run_in(
        &[
            "run",
            "--listen",
            &format!("127.0.0.1:{listen}"),
            "--resync",
            "3s",
            "--docker-timeout",
            "5s",
            "--lock-file",
            &ctl_lock,
        ],
        &log,
    )
    .stdin(Stdio::null())
    .spawn()
    .unwrap();
    let status = |path: &str| d.get(listen, path).map(|(s, _)| s);
    time_until("controller ready", Duration::from_secs(60), || {
        status("/readyz") == Some(200)
    });
    let ids = container_ids(&d, &f);
    let healthz_fast = || {
        let started = Instant::now();
        let ok = status("/healthz") == Some(200);
        ok && started.elapsed() < Duration::from_secs(1)
    };

    for fault in [Fault::List500, Fault::ListEmpty, Fault::ListHang] {
        proxy.set(fault);
        proxy.take_peak();
        let until = Instant::now() + resync * 3;
        while Instant::now() < until {
            assert!(healthz_fast(), "{fault:?}: /healthz slow or down");
            std::thread::sleep(Duration::from_millis(500));
        }
        assert_eq!(
            container_ids(&d, &f),
            ids,
            "{fault:?}: a container was removed or replaced"
        );
        let peak = proxy.take_peak();
        proxy.set(Fault::None);
        let back = time_until("ready again", Duration::from_secs(30), || {
            status("/readyz") == Some(200)
        });
        eprintln!("{fault:?}: nothing removed; at most {peak} Docker calls in flight; ready {back:?} after the fault ended");
        assert!(peak <= 40, "{fault:?}: {peak} calls in flight");
    }
    assert_eq!(converged(&d, &f, &tenants), Ok(()));

    // 30 s slow: every call is cut at the 5 s timeout; nothing piles up.
    proxy.set(Fault::Slow);
    proxy.take_peak();
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        assert!(healthz_fast(), "slow daemon: /healthz slow or down");
        std::thread::sleep(Duration::from_millis(500));
    }
    time_until("readyz says not ready", Duration::from_secs(30), || {
        status("/readyz") == Some(503)
    });
    let peak = proxy.take_peak();
    proxy.set(Fault::None);
    assert!(peak <= 40, "slow daemon: {peak} calls in flight");
    let back = time_until(
        "ready after the slow daemon",
        Duration::from_secs(60),
        || status("/readyz") == Some(200),
    );
    eprintln!("Slow: at most {peak} Docker calls in flight; ready {back:?} after the fault ended");
    assert_eq!(
        container_ids(&d, &f),
        ids,
        "slow daemon: a container was replaced"
    );

    // A frozen event stream: a container removed by hand is not announced;
    // the resync heals it and the watchdog reopens the stream.
    proxy.set(Fault::EventsSilent);
    std::thread::sleep(Duration::from_millis(500));
    let frozen_before = counter(
        &d,
        listen,
        "tenantctl_event_stream_reopened_total{reason=\"frozen\"}",
    );
    d.docker_ok(&["rm", "-f", &f.container_name("t00")]);
    let started = Instant::now();
    while converged(&d, &f, &tenants).is_err() {
        assert!(
            started.elapsed() < resync * 3,
            "t00 not healed without events within {:?}: {:?}\n{}",
            resync * 3,
            converged(&d, &f, &tenants),
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let healed = started.elapsed();
    eprintln!("frozen event stream: drift healed in {healed:?} (resync {resync:?})");
    proxy.set(Fault::None);
    // The watchdog's verdict comes a pass after the finding.
    d.docker_ok(&["rm", "-f", &f.container_name("t01")]);
    time_until("t01 healed", resync * 3, || {
        converged(&d, &f, &tenants).is_ok()
    });
    proxy.set(Fault::EventsSilent);
    d.docker_ok(&["rm", "-f", &f.container_name("t02")]);
    time_until("watchdog caught the frozen stream", resync * 6, || {
        counter(
            &d,
            listen,
            "tenantctl_event_stream_reopened_total{reason=\"frozen\"}",
        ) > frozen_before
    });
    proxy.set(Fault::None);
    time_until("t02 healed", resync * 3, || {
        converged(&d, &f, &tenants).is_ok()
    });

    // A stream cut mid-way is reopened, and events work again.
    let reopened = |reason: &str| {
        counter(
            &d,
            listen,
            &format!("tenantctl_event_stream_reopened_total{{reason=\"{reason}\"}}"),
        )
    };
    let before = reopened("ended") + reopened("error");
    proxy.set(Fault::EventsCut);
    let started = Instant::now();
    while reopened("ended") + reopened("error") <= before {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the cut stream was not reopened:\n{}",
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("cut event stream: reopened in {:?}", started.elapsed());
    proxy.set(Fault::None);
    std::thread::sleep(Duration::from_secs(2));
    d.docker_ok(&["stop", "-t", "1", &f.container_name("t01")]);
    time_until("t01 restarted after the cut", resync * 3, || {
        converged(&d, &f, &tenants).is_ok()
    });
    assert!(healthz_fast());
    assert!(ctl.try_wait().unwrap().is_none(), "the controller exited");
    let _ = ctl.kill();
    let _ = ctl.wait();
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logs.contains("missed a change the resync found"),
        "no watchdog line in the log"
    );
}

/// The inotify queue size new watchers get, lowered for one start of the
/// controller and put back at once (it is read at `inotify_init`).
struct InotifyQueue(String);

impl InotifyQueue {
    const PATH: &'static str = "/proc/sys/fs/inotify/max_queued_events";

    fn lower(to: u32) -> InotifyQueue {
        let old = std::fs::read_to_string(Self::PATH).unwrap();
        std::fs::write(Self::PATH, to.to_string()).unwrap();
        InotifyQueue(old.trim().to_string())
    }
}

impl Drop for InotifyQueue {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::PATH, &self.0);
    }
}

/// Item 4: the tenants file swapped through symlinks the way Kubernetes
/// ConfigMaps are (`..data` replaced atomically), deleted, replaced by a
/// directory, made unreadable, its directory renamed, and its watcher's
/// inotify queue overflowed. Each time the last good state is kept (no
/// tenant touched), a clear line is logged, and the next good file is
/// applied.
#[test]
fn a_tenants_file_that_vanishes_or_is_swapped_keeps_the_last_good_state() {
    let f = Fleet::new();
    let config = f.dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let text = |names: &[(&str, u16)], label: &str| {
        let mut t = f.header();
        for (n, p) in names {
            t.push_str(&format!(
                "\n[tenants.{n}]\nport = {p}\ndisplay_name = \"{label}\"\n"
            ));
        }
        t
    };
    // A ConfigMap's layout: tenants.toml -> ..data/tenants.toml, ..data ->
    // a timestamped folder.
    let publish = |version: &str, content: &str| {
        let dir = config.join(format!("..{version}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tenants.toml"), content).unwrap();
        let tmp = config.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(format!("..{version}"), &tmp).unwrap();
        std::fs::rename(&tmp, config.join("..data")).unwrap();
    };
    publish("v1", &text(&[("a", pa), ("b", pb)], "v1"));
    let file = config.join("tenants.toml");
    std::os::unix::fs::symlink("..data/tenants.toml", &file).unwrap();

    // Started without the capability to read past file modes (as a
    // non-root service user is), with a small inotify queue.
    let listen = free_port();
    let log = f.dir.join("run.log");
    let small = InotifyQueue::lower(8);
    let child = {
        Command::new("setpriv")
            .args([
                "--bounding-set",
                "-dac_override,-dac_read_search",
                "--inh-caps",
                "-dac_override,-dac_read_search",
                BIN,
                "run",
                "-f",
            ])
            .arg(&file)
            .args(["--listen", &format!("127.0.0.1:{listen}"), "--lock-file"])
            .arg(f.dir.join("controller.lock"))
            .env("TENANTCTL_LOG", "info")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::OpenOptions::new().append(true).open(&log).unwrap())
            .spawn()
            .unwrap()
    };
    let mut ctl = ControllerProc {
        child,
        log: log.clone(),
        listen,
    };
    // The watcher exists once the file was first read: the queue size is
    // put back for everyone else.
    ctl.wait_log("loaded desired state", Duration::from_secs(20));
    drop(small);
    let name_is = |port: u16, want: &str| matches!(http("GET", port, "/", ""), Some((200, body)) if body.trim() == format!("mAI - {want}"));
    time_until("v1 applied", Duration::from_secs(60), || {
        name_is(pa, "v1") && name_is(pb, "v1")
    });
    let mut figures = Vec::new();

    // 1. The ConfigMap swap: ..data now points at v2, which adds c.
    publish("v2", &text(&[("a", pa), ("b", pb), ("c", pc)], "v2"));
    let took = time_until(
        "v2 applied through the symlink swap",
        Duration::from_secs(60),
        || name_is(pa, "v2") && name_is(pb, "v2") && name_is(pc, "v2"),
    );
    figures.push(("symlink swap (..data)", took));
    let rollout_done = |what: &str| {
        time_until(
            &format!("{what}: rollout done"),
            Duration::from_secs(60),
            || {
                metric(listen, "tenantctl_rollout_info{")
                    .is_some_and(|l| l.contains("state=\"done\"") && l.ends_with(" 1"))
            },
        );
    };
    rollout_done("symlink swap");
    let ids = |f: &Fleet| -> Vec<Option<String>> {
        ["a", "b", "c"].iter().map(|t| f.container_id(t)).collect()
    };
    let all = [("a", pa), ("b", pb), ("c", pc)];

    // Each fault: the last good state stays (same containers, config_valid
    // 0, a clear log line), then the next good file is applied.
    let mut version = 2;
    let mut fault = |what: &'static str, break_it: &dyn Fn(), log_says: &str, repair: &dyn Fn()| {
        let lines_before = ctl.logs().lines().count();
        let kept = ids(&f);
        break_it();
        time_until(
            &format!("{what}: reported"),
            Duration::from_secs(20),
            || {
                ctl.logs()
                    .lines()
                    .skip(lines_before)
                    .any(|l| l.contains(log_says))
            },
        );
        time_until(
            &format!("{what}: config_valid 0"),
            Duration::from_secs(10),
            || metric(listen, "tenantctl_config_valid").is_some_and(|l| l.ends_with(" 0")),
        );
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(ids(&f), kept, "{what}: a tenant was touched");
        repair();
        version += 1;
        let label = format!("v{version}");
        publish(&label, &text(&all, &label));
        let took = time_until(
            &format!("{what}: next good file applied"),
            Duration::from_secs(60),
            || all.iter().all(|(_, p)| name_is(*p, &label)),
        );
        figures.push((what, took));
        // Every tenant answering the new version is not the rollout's
        // end (a gate may still put an old container back): the next
        // fault starts from a finished rollout (CI once started it
        // earlier and saw a container change under it).
        rollout_done(what);
    };
    let real = || std::fs::canonicalize(&file).unwrap();
    fault(
        "deleted",
        &|| std::fs::remove_file(&file).unwrap(),
        "cannot read the tenants file",
        &|| std::os::unix::fs::symlink("..data/tenants.toml", &file).unwrap(),
    );
    fault(
        "replaced by a directory",
        &|| {
            std::fs::remove_file(&file).unwrap();
            std::fs::create_dir(&file).unwrap();
        },
        "not a regular file",
        &|| {
            std::fs::remove_dir(&file).unwrap();
            std::os::unix::fs::symlink("..data/tenants.toml", &file).unwrap();
        },
    );
    fault(
        "unreadable (mode 000)",
        &|| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(real(), std::fs::Permissions::from_mode(0o000)).unwrap();
        },
        "Permission denied",
        &|| {},
    );
    let moved = f.dir.join("config.moved");
    fault(
        "its directory renamed",
        &|| std::fs::rename(&config, &moved).unwrap(),
        "cannot read the tenants file",
        &|| std::fs::rename(&moved, &config).unwrap(),
    );
    // The watcher's queue (8 events) overflows under a flood of changes
    // in the folder; the edit made meanwhile is applied all the same.
    let lines_before = ctl.logs().lines().count();
    let kept = ids(&f);
    for i in 0..200 {
        let p = config.join(format!("flood-{i}"));
        std::fs::write(&p, "x").unwrap();
        std::fs::remove_file(&p).unwrap();
    }
    version += 1;
    let label = format!("v{version}");
    publish(&label, &text(&all, &label));
    let took = time_until(
        "applied through an overflowed watcher",
        Duration::from_secs(60),
        || all.iter().all(|(_, p)| name_is(*p, &label)),
    );
    figures.push(("inotify queue overflow", took));
    assert!(
        ctl.logs()
            .lines()
            .skip(lines_before)
            .any(|l| l.contains("queue overflowed")),
        "no overflow line:\n{}",
        ctl.logs()
    );
    assert_ne!(ids(&f), kept, "the edit made during the flood was applied");
    assert!(
        ctl.child.try_wait().unwrap().is_none(),
        "the controller exited"
    );
    for (what, took) in figures {
        eprintln!(
            "FIGURE file-fault {what}: next good file applied in {} ms",
            took.as_millis()
        );
    }
}

/// What one kill run changes before tenantctl is killed.
#[derive(Debug, Clone, Copy)]
enum Scenario {
    /// Every container removed (volumes kept): a cold start.
    ColdStart,
    /// Every tenant's display name changed: a rollout of recreates.
    Edit,
    /// Tenant `d` leaves the file (or comes back): a prune.
    Prune,
    /// Every domain changed: an nginx sync.
    Proxy,
}

/// Item 2: `tenantctl apply` or the controller killed with SIGKILL at a
/// seeded random point of a cold start, an edit, a prune or a proxy sync
/// (`KILL_RUNS`, 100 by `make faults`, 8 in CI). After each, one `apply`
/// (or a restarted controller) converges: exactly the wanted containers,
/// no leftover, every volume and its data there, nginx's config valid.
#[test]
fn tenantctl_killed_at_random_points_converges_after_one_more_run() {
    let runs: usize = std::env::var("KILL_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let mut rng = Seeded::from_env();
    let f = Fleet::new();
    let nginx = Nginx::start(&f);
    let names = ["a", "b", "c", "d"];
    let ports: Vec<u16> = names.iter().map(|_| free_port()).collect();
    let write = |label: &str, suffix: &str, with_d: bool| {
        let mut text = format!("{}\n{}", f.header(), nginx.proxy_table(None));
        for (n, p) in names.iter().zip(&ports) {
            if *n == "d" && !with_d {
                continue;
            }
            text.push_str(&format!(
                "\n[tenants.{n}]\nport = {p}\ndomain = \"{n}.{suffix}.test\"\ndisplay_name = \"{label}\"\n"
            ));
        }
        f.write_raw(&text);
    };
    let (mut label, mut suffix, mut with_d) = ("v0".to_string(), "one", true);
    write(&label, suffix, with_d);
    f.tenantctl_expect(&["apply", "--prune"], 0);
    for (n, p) in names.iter().zip(&ports) {
        wait_http_ok(*p, "/health");
        http("PUT", *p, "/data/marker", &format!("marker of {n}")).unwrap();
    }
    let nginx_t = || {
        Command::new("nginx")
            .args(["-p", &path_str(&nginx.prefix), "-c"])
            .arg(nginx.prefix.join("nginx.conf"))
            .args(["-t", "-q"])
            .status()
            .unwrap()
            .success()
    };
    let converged = |label: &str, suffix: &str, with_d: bool| -> Result<(), String> {
        let want: Vec<String> = names
            .iter()
            .filter(|n| with_d || **n != "d")
            .map(|n| f.container_name(n))
            .collect();
        let have = f.containers();
        if have != want {
            return Err(format!("containers {have:?}"));
        }
        for (n, p) in names.iter().zip(&ports) {
            if *n == "d" && !with_d {
                continue;
            }
            match http("GET", *p, "/", "") {
                Some((200, body)) if body.trim() == format!("mAI - {label}") => {}
                other => return Err(format!("{n} answers {other:?}")),
            }
            match http("GET", *p, "/data/marker", "") {
                Some((200, body)) if body == format!("marker of {n}") => {}
                other => return Err(format!("{n}'s data: {other:?}")),
            }
            let conf = nginx
                .prefix
                .join(format!("conf.d/tenantctl-tenant-{n}.conf"));
            let text = std::fs::read_to_string(&conf).unwrap_or_default();
            if !text.contains(&format!("{n}.{suffix}.test")) {
                return Err(format!("{n}'s vhost is not on {suffix}"));
            }
        }
        for n in names {
            for key in ["data", "backups"] {
                if !f.volume_exists(&format!("{}-{n}-{key}", f.run_id)) {
                    return Err(format!("volume {n}-{key} lost"));
                }
            }
        }
        if !nginx_t() {
            return Err("nginx -t fails".into());
        }
        Ok(())
    };

    let mut figures: Vec<(Scenario, bool, bool, Duration)> = Vec::new();
    for run in 0..runs {
        let scenario = [
            Scenario::ColdStart,
            Scenario::Edit,
            Scenario::Prune,
            Scenario::Proxy,
        ][run % 4];
        let by_controller = (run / 4) % 2 == 1;
        match scenario {
            Scenario::ColdStart => {
                for n in names {
                    docker(&["rm", "-f", &f.container_name(n)]);
                }
            }
            Scenario::Edit => label = format!("v{}", run + 1),
            Scenario::Prune => with_d = !with_d,
            Scenario::Proxy => suffix = if suffix == "one" { "two" } else { "one" },
        }
        write(&label, suffix, with_d);
        // Within the time the work takes: a rollout of four recreates
        // runs for seconds, the rest for well under one.
        let window = match scenario {
            Scenario::Edit => 4000,
            _ => 600,
        };
        let delay = Duration::from_millis(rng.below(window));
        let log = f.dir.join(format!("kill-{run}.log"));
        let mut killed = Command::new(BIN);
        if by_controller {
            killed
                .args(["run", "--prune", "--resync", "1s", "--listen"])
                .arg(format!("127.0.0.1:{}", free_port()))
                .arg("--lock-file")
                .arg(f.dir.join("controller.lock"));
        } else {
            killed
                .args(["apply", "--prune", "--lock-file"])
                .arg(f.apply_lock());
        }
        let mut child = killed
            .arg("-f")
            .arg(&f.file)
            .env("TENANTCTL_LOG", "info")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let mid_work = child.try_wait().unwrap().is_none();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let started = Instant::now();
        // One more run: an apply, or a new controller.
        if by_controller {
            let mut again = f.start_controller(&["--prune", "--resync", "1s"]);
            let deadline = Instant::now() + Duration::from_secs(90);
            while let Err(why) = converged(&label, suffix, with_d) {
                assert!(
                    Instant::now() < deadline,
                    "run {run} ({scenario:?}, controller killed after {delay:?}) did not converge: {why}\n{}",
                    again.logs()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            again.terminate(Duration::from_secs(15));
        } else {
            let out = f.tenantctl(&["apply", "--prune"]);
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(
                out.status.success(),
                "run {run}: apply after the kill failed:\n{text}"
            );
            let deadline = Instant::now() + Duration::from_secs(30);
            while let Err(why) = converged(&label, suffix, with_d) {
                assert!(
                    Instant::now() < deadline,
                    "run {run} ({scenario:?}, apply killed after {delay:?}) not converged by one apply: {why}\n{text}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let took = started.elapsed();
        eprintln!(
            "run {run}: {scenario:?}, {} killed after {delay:?}{}; converged in {took:?}",
            if by_controller { "run" } else { "apply" },
            if mid_work { "" } else { " (it had finished)" }
        );
        figures.push((scenario, by_controller, mid_work, took));
    }
    for (scenario, by_controller, mid_work, took) in figures {
        eprintln!(
            "FIGURE kill {scenario:?} {} mid_work={mid_work} converge_ms={}",
            if by_controller { "run" } else { "apply" },
            took.as_millis()
        );
    }
}
