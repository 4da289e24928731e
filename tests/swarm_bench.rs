//! Issue 16's benchmark: the cold start of N tenants (CI: 12; `make
//! swarm-bench`: 60) over a three-node Swarm with `tenantctl apply`, side
//! by side with `docker stack deploy` of an equivalent stack file
//! generated from the same fleet, on the same cluster in one run (the
//! machine is noisy: the ratio is the figure). Both are timed from the
//! command's start until every tenant answers `/health` on its node's
//! address. Then the calls of one no-op pass of `tenantctl run`, at N and
//! at N/2, which must be equal (O(1) in N). Figures go into BENCHMARKS.md.

mod common;
#[path = "common/swarm_cluster.rs"]
mod swarm_cluster;

use common::*;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use swarm_cluster::SwarmCluster;

const BIN: &str = env!("CARGO_BIN_EXE_tenantctl");
const BASE_PORT: u16 = 19100;
const LISTEN: u16 = 19479;

fn tenants() -> usize {
    std::env::var("SWARM_BENCH_TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

fn write_fleet(f: &Fleet, c: &SwarmCluster, n: usize) {
    let mut text = format!("backend = \"swarm\"\n{}", f.header());
    for i in 0..n {
        text.push_str(&format!(
            "\n[tenants.b{i:02}]\nport = {}\nnode = \"{}\"\n",
            BASE_PORT + i as u16,
            c.nodes[i % c.nodes.len()].name
        ));
    }
    f.write_raw(&text);
}

/// The same fleet as a compose v3 stack: image (by id), env, host-mode
/// port, placement, limits and reservations, restart, health check, the
/// two volumes, an overlay network.
fn stack_file(f: &Fleet, c: &SwarmCluster, n: usize, image: &str) -> String {
    let mut out = String::from("version: \"3.8\"\nservices:\n");
    let mut volumes = String::from("volumes:\n");
    for i in 0..n {
        let name = format!("b{i:02}");
        out.push_str(&format!(
            r#"  {name}:
    image: {image}
    environment:
      WEBUI_NAME: "{name}"
      ENABLE_SIGNUP: "false"
      ENV: prod
    ports:
      - {{ target: 8080, published: {port}, protocol: tcp, mode: host }}
    volumes:
      - {name}-data:/app/backend/data
      - {name}-backups:/app/backups
    networks: [net]
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:8080/health"]
      interval: 1s
      timeout: 1s
      start_period: 1s
      retries: 3
    deploy:
      replicas: 1
      placement: {{ constraints: ["node.hostname=={node}"] }}
      resources:
        limits: {{ cpus: "0.25", memory: 64M }}
        reservations: {{ memory: 32M }}
      restart_policy: {{ condition: any }}
      update_config: {{ order: stop-first, failure_action: rollback }}
"#,
            port = BASE_PORT + i as u16,
            node = c.nodes[i % c.nodes.len()].name,
        ));
        volumes.push_str(&format!("  {name}-data:\n  {name}-backups:\n"));
    }
    let _ = f;
    out.push_str("networks:\n  net:\n    driver: overlay\n    attachable: true\n");
    out.push_str(&volumes);
    out
}

/// Polls every tenant's `/health` on its node (one curl per round for
/// all that do not answer yet) until all answer; the time it took.
fn until_all_serve(c: &SwarmCluster, n: usize, since: Instant, within: Duration) -> Duration {
    let mut pending: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "http://{}:{}/health",
                c.nodes[i % c.nodes.len()].addr,
                BASE_PORT + i as u16
            )
        })
        .collect();
    while !pending.is_empty() {
        assert!(
            since.elapsed() < within,
            "{} tenants still not serving",
            pending.len()
        );
        let out = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", c.nodes[0].netns))
            .args([
                "curl",
                "-s",
                "-m",
                "1",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}\n",
            ])
            .args(&pending)
            .output()
            .unwrap();
        let codes: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        pending = pending
            .into_iter()
            .enumerate()
            .filter(|(i, _)| codes.get(*i).map(String::as_str) != Some("200"))
            .map(|(_, u)| u)
            .collect();
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    since.elapsed()
}

/// Removes every service and waits until no task runs anywhere (ports free).
fn clear(c: &SwarmCluster) {
    let ids = c.manager().docker_ok(&["service", "ls", "-q"]);
    for id in ids.lines() {
        c.manager().docker_ok(&["service", "rm", id]);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while c
        .nodes
        .iter()
        .any(|n| !n.docker_ok(&["ps", "-q"]).is_empty())
    {
        assert!(Instant::now() < deadline, "tasks did not stop");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Docker calls per no-op pass of a running controller over the fleet in
/// the file now: the counters' growth over passes, per pass.
fn calls_per_pass(c: &SwarmCluster, f: &Fleet) -> (f64, BTreeMap<String, f64>) {
    let log = f.dir.join(format!("run-{}.log", std::process::id()));
    let out = std::fs::File::create(&log).unwrap();
    let mut child = c
        .command(BIN)
        .args(["run", "--no-events", "-f"])
        .arg(&f.file)
        .args(["--listen", &format!("127.0.0.1:{LISTEN}"), "--resync", "1s"])
        .arg("--lock-file")
        .arg(f.dir.join("bench-run.lock"))
        .env("TENANTCTL_LOG", "warn")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let read = || -> BTreeMap<String, f64> {
        let text = c
            .get("127.0.0.1", LISTEN, "/metrics")
            .map(|r| r.1)
            .unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with("tenantctl_docker_requests_total{"))
            .filter_map(|l| {
                let op = l.split("operation=\"").nth(1)?.split('"').next()?;
                let v: f64 = l.rsplit(' ').next()?.parse().ok()?;
                Some((op.to_string(), v))
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while read().get("service_list").copied().unwrap_or(0.0) < 2.0 {
        assert!(
            Instant::now() < deadline,
            "no passes:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let before = read();
    std::thread::sleep(Duration::from_secs(5));
    let after = read();
    let _ = child.kill();
    let _ = child.wait();
    let passes = after["service_list"] - before["service_list"];
    // Each operation's calls per pass, rounded: the two samples can fall
    // inside a pass (its list of services counted, its other calls not
    // yet), which is off by one pass for some operations.
    let per_op: BTreeMap<String, f64> = after
        .iter()
        .map(|(k, v)| {
            let delta = v - before.get(k).copied().unwrap_or(0.0);
            (k.clone(), (delta / passes).round())
        })
        .filter(|(_, v)| *v > 0.0)
        .collect();
    (per_op.values().sum(), per_op)
}

#[test]
fn swarm_cold_start_beside_docker_stack_deploy() {
    let n = tenants();
    let f = Fleet::new();
    let c = SwarmCluster::start(3);
    let image = docker_ok(&["image", "inspect", "-f", "{{.Id}}", STANDIN_IMAGE]);

    // tenantctl apply, cold.
    write_fleet(&f, &c, n);
    let start = Instant::now();
    let out = c
        .command(BIN)
        .args(["apply", "-f"])
        .arg(&f.file)
        .arg("--lock-file")
        .arg(f.apply_lock())
        .env("TENANTCTL_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let returned = start.elapsed();
    let ours = until_all_serve(&c, n, start, Duration::from_secs(600));

    // A no-op pass, at N and at N/2 (the file shrunk: the others are
    // orphans, reported and kept, still listed by the same calls).
    let (calls_n, ops_n) = calls_per_pass(&c, &f);
    write_fleet(&f, &c, n / 2);
    let (calls_half, _) = calls_per_pass(&c, &f);
    clear(&c);

    // docker stack deploy of the same fleet.
    let stack = f.dir.join("stack.yml");
    std::fs::write(&stack, stack_file(&f, &c, n, &image)).unwrap();
    let start = Instant::now();
    let out = Command::new("docker")
        .args([
            "-H",
            &c.manager().host(),
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            "-c",
        ])
        .arg(&stack)
        .arg(format!("{}st", f.prefix()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let stack_returned = start.elapsed();
    let theirs = until_all_serve(&c, n, start, Duration::from_secs(600));
    clear(&c);

    eprintln!(
        "SWARM BENCH: {n} tenants over 3 nodes, cold start until every tenant serves on its node:"
    );
    eprintln!(
        "  tenantctl apply:     {:>7.2} s (command returned after {:.2} s)",
        ours.as_secs_f64(),
        returned.as_secs_f64()
    );
    eprintln!(
        "  docker stack deploy: {:>7.2} s (command returned after {:.2} s)",
        theirs.as_secs_f64(),
        stack_returned.as_secs_f64()
    );
    eprintln!(
        "  ratio tenantctl / stack deploy: {:.2}x",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    eprintln!(
        "  no-op pass: {calls_n:.1} Docker calls at {n} tenants, {calls_half:.1} at {} ({ops_n:?})",
        n / 2
    );
    assert!(
        (calls_n - calls_half).abs() < 0.5,
        "a no-op pass must not grow with N: {calls_n} vs {calls_half}"
    );
}
