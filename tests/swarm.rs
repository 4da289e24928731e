//! `backend = "swarm"` on a real three-node Swarm (issue 16): six tenants
//! placed on three nodes (one by tenantctl), each serving on its node's
//! address and port with its reservations in its service spec; hand drift
//! (an env added, a service scaled to 0) repaired by `run`; a node's
//! dockerd killed: its tenants reported `node_down`, the others untouched,
//! then everything converges when it is back; a broken image rolled out:
//! Swarm rolls it back and tenantctl reports it and holds it.
//!
//! The cluster is the test's own (tests/common/swarm_cluster.rs): no
//! daemon of the machine is switched into swarm mode.

mod common;
#[path = "common/swarm_cluster.rs"]
mod swarm_cluster;

use common::*;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use swarm_cluster::SwarmCluster;

const BIN: &str = env!("CARGO_BIN_EXE_tenantctl");
const LISTEN: u16 = 19478;

struct Run(Child, std::path::PathBuf);

impl Run {
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Tenants: (name, port, node or "" for tenantctl's choice).
const TENANTS: [(&str, u16, &str); 6] = [
    ("s1", 18301, "n0"),
    ("s2", 18302, "n0"),
    ("s3", 18303, "n1"),
    ("s4", 18304, "n1"),
    ("s5", 18305, "n2"),
    ("s6", 18306, ""),
];

fn write_file(f: &Fleet, c: &SwarmCluster, nginx: &Nginx, s3_image: &str) {
    let mut text = format!(
        "backend = \"swarm\"\n{}\n{}",
        f.header(),
        nginx.proxy_table(None)
    );
    for (name, port, node) in TENANTS {
        text.push_str(&format!(
            "\n[tenants.{name}]\nport = {port}\ndomain = \"{name}.example.test\"\nresources = {{ cpus = 0.25, memory = \"64M\", memory_reservation = \"32M\", cpus_reservation = 0.1 }}\n"
        ));
        if !node.is_empty() {
            text.push_str(&format!("node = \"{}{node}\"\n", c.id));
        }
        if name == "s3" {
            text.push_str(&format!("image = \"{s3_image}\"\n"));
        }
    }
    f.write_raw(&text);
}

fn tenantctl(c: &SwarmCluster, f: &Fleet, args: &[&str]) -> (Option<i32>, String) {
    let out = c
        .command(BIN)
        .args(args)
        .arg("-f")
        .arg(&f.file)
        .env("TENANTCTL_LOG", "warn")
        .output()
        .unwrap();
    (out.status.code(), output_text(&out))
}

/// The address of the node a tenant's service is pinned to.
fn addr_of(c: &SwarmCluster, f: &Fleet, tenant: &str) -> String {
    let constraint = c.manager().docker_ok(&[
        "service",
        "inspect",
        "-f",
        "{{join .Spec.TaskTemplate.Placement.Constraints \",\"}}",
        &f.container_name(tenant),
    ]);
    let node = constraint.trim_start_matches("node.hostname==");
    c.nodes
        .iter()
        .find(|n| n.name == node)
        .unwrap_or_else(|| panic!("{tenant} pinned to {constraint}"))
        .addr
        .clone()
}

fn serving(c: &SwarmCluster, f: &Fleet, tenant: &str, port: u16) -> bool {
    matches!(
        c.get(&addr_of(c, f, tenant), port, "/health"),
        Some((200, _))
    )
}

fn wait(what: &str, within: Duration, run: Option<&Run>, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < within,
            "{what}: not within {within:?}\n{}",
            run.map(Run::logs).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("{what}: {:.1?}", start.elapsed());
}

fn metrics(c: &SwarmCluster) -> String {
    c.get("127.0.0.1", LISTEN, "/metrics")
        .map(|r| r.1)
        .unwrap_or_default()
}

#[test]
fn a_swarm_fleet_is_placed_repaired_reported_and_rolled_back() {
    let f = Fleet::new();
    let c = SwarmCluster::start(3);
    // nginx on the manager's side (node 0's namespace), in front of all.
    let nginx = Nginx::start_in(&f, Some(&c.nodes[0].netns));
    write_file(&f, &c, &nginx, STANDIN_IMAGE);

    // Plan: the network and six services; nothing changed yet.
    let (code, text) = tenantctl(&c, &f, &["plan", "--exit-code"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("+ network (overlay, attachable)"), "{text}");
    assert!(
        text.contains("Plan: 6 to create, 0 to update, 0 blocked."),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "+ service {} on {}n2 (placed by tenantctl): create",
            f.container_name("s6"),
            c.id
        )),
        "the least loaded node takes the unplaced tenant:\n{text}"
    );

    let started = Instant::now();
    let lock = f.apply_lock().display().to_string();
    let (code, text) = tenantctl(&c, &f, &["apply", "--wait", "--lock-file", &lock]);
    assert_eq!(code, Some(0), "{text}");
    for (name, port, _) in TENANTS {
        wait(
            &format!("{name} serving on its node"),
            Duration::from_secs(120),
            None,
            || serving(&c, &f, name, port),
        );
    }
    eprintln!(
        "six tenants serving {:.1?} after apply began",
        started.elapsed()
    );
    // The proxy reaches each tenant on its node's address.
    let site = f.dir.join("nginx/conf.d");
    let conf: String = std::fs::read_dir(&site)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        conf.contains(&format!("{}:18305", c.nodes[2].addr)),
        "{conf}"
    );
    for (name, _, _) in TENANTS {
        let answer = c.get_host("127.0.0.1", nginx.port, &format!("{name}.example.test"));
        assert!(
            matches!(&answer, Some((200, body)) if body.contains(&format!("mAI - {name}"))),
            "{name} through nginx: {answer:?}"
        );
    }
    // Each on its own node only (host-mode ports): s1 is not on n1's address.
    assert_eq!(c.get(&c.nodes[1].addr, 18301, "/health"), None);
    let reservations = c.manager().docker_ok(&[
        "service",
        "inspect",
        "-f",
        "{{json .Spec.TaskTemplate.Resources.Reservations}}",
        &f.container_name("s1"),
    ]);
    assert!(
        reservations.contains("\"NanoCPUs\":100000000")
            && reservations.contains("\"MemoryBytes\":33554432"),
        "{reservations}"
    );
    let (code, text) = tenantctl(&c, &f, &["plan", "--exit-code"]);
    assert_eq!(code, Some(0), "a second plan is empty:\n{text}");
    let (code, text) = tenantctl(&c, &f, &["apply", "--prune", "--lock-file", &lock]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("tenantctl never removes a Swarm service"),
        "{text}"
    );
    let (_, status) = tenantctl(&c, &f, &["status"]);
    assert!(
        status.contains("s6") && status.contains(&c.nodes[2].addr),
        "{status}"
    );

    // The controller.
    let log = f.dir.join("run.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = c
        .command(BIN)
        .args(["run", "-f"])
        .arg(&f.file)
        .args(["--listen", &format!("127.0.0.1:{LISTEN}"), "--resync", "2s"])
        .arg("--lock-file")
        .arg(f.dir.join("run.lock"))
        .env("TENANTCTL_LOG", "info")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let run = Run(child, log);
    wait(
        "controller serving metrics",
        Duration::from_secs(30),
        Some(&run),
        || {
            has_series(
                &metrics(&c),
                "tenantctl_tenant_up",
                &[("tenant", "s1")],
                "1",
            )
        },
    );

    // Hand drift: an env added, a service scaled to 0.
    let s1 = f.container_name("s1");
    let s2 = f.container_name("s2");
    c.manager()
        .docker_ok(&["service", "update", "--detach", "--env-add", "HAND=1", &s1]);
    c.manager()
        .docker_ok(&["service", "scale", "--detach", &format!("{s2}=0")]);
    wait(
        "hand drift repaired",
        Duration::from_secs(60),
        Some(&run),
        || {
            let env = c.manager().docker_ok(&[
                "service",
                "inspect",
                "-f",
                "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
                &s1,
            ]);
            let replicas = c.manager().docker_ok(&[
                "service",
                "inspect",
                "-f",
                "{{.Spec.Mode.Replicated.Replicas}}",
                &s2,
            ]);
            !env.contains("HAND=1") && replicas == "1"
        },
    );
    wait(
        "s2 serving again",
        Duration::from_secs(60),
        Some(&run),
        || serving(&c, &f, "s2", 18302),
    );
    // Detected as drift and repaired by an update of each (never a new service).
    let logs = run.logs();
    for t in ["s1", "s2"] {
        assert!(
            logs.lines()
                .any(|l| l.contains("updated service") && l.contains(&format!("tenant={t} "))),
            "{logs}"
        );
    }
    assert!(!logs.contains("created service"), "{logs}");

    // A node's dockerd killed: its tenants are node_down, the others untouched.
    let mut c = c;
    let s1_task = c.manager().docker_ok(&[
        "service",
        "ps",
        "-q",
        "--filter",
        "desired-state=running",
        &s1,
    ]);
    c.nodes[2].kill9();
    wait(
        "s5 reported node_down",
        Duration::from_secs(90),
        Some(&run),
        || {
            let m = metrics(&c);
            has_series(
                &m,
                "tenantctl_drift",
                &[("tenant", "s5"), ("reason", "node_down")],
                "1",
            ) && has_series(
                &m,
                "tenantctl_drift",
                &[("tenant", "s6"), ("reason", "node_down")],
                "1",
            )
        },
    );
    assert!(serving(&c, &f, "s1", 18301));
    let m = metrics(&c);
    assert!(
        !has_series(&m, "tenantctl_drift", &[("tenant", "s1")], "1"),
        "{m}"
    );
    let s1_task_now = c.manager().docker_ok(&[
        "service",
        "ps",
        "-q",
        "--filter",
        "desired-state=running",
        &s1,
    ]);
    assert_eq!(s1_task, s1_task_now, "s1 untouched");
    let (_, status) = tenantctl(&c, &f, &["status"]);
    assert!(status.contains("service node_down"), "{status}");
    c.nodes[2].restart();
    wait(
        "node back: everything converges",
        Duration::from_secs(120),
        Some(&run),
        || {
            let m = metrics(&c);
            serving(&c, &f, "s5", 18305)
                && serving(&c, &f, "s6", 18306)
                && !m
                    .lines()
                    .any(|l| l.starts_with("tenantctl_drift{") && l.ends_with(" 1"))
        },
    );

    // A broken image: Swarm rolls it back, tenantctl reports and holds it.
    let broken = format!("{}-broken:1", f.prefix());
    let mut build = std::process::Command::new("docker")
        .args(["build", "-q", "-t", &broken, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    build
        .stdin
        .take()
        .unwrap()
        .write_all(format!("FROM {STANDIN_IMAGE}\nENV STANDIN_FAIL_HEALTH=1\n").as_bytes())
        .unwrap();
    assert!(build.wait().unwrap().success());
    f.track_image(&broken);
    c.load_image(&broken);
    write_file(&f, &c, &nginx, &broken);
    wait(
        "the failed rollout reported",
        Duration::from_secs(120),
        Some(&run),
        || {
            has_series(
                &metrics(&c),
                "tenantctl_drift",
                &[("tenant", "s3"), ("reason", "rolled_back")],
                "1",
            )
        },
    );
    assert!(run
        .logs()
        .contains("rollout failed: Swarm rolled the tenant back"));
    let image = c.manager().docker_ok(&[
        "service",
        "inspect",
        "-f",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        &f.container_name("s3"),
    ]);
    let good = docker_ok(&["image", "inspect", "-f", "{{.Id}}", STANDIN_IMAGE]);
    assert_eq!(image, good, "back on the good image");
    eprintln!(
        "{}",
        c.manager()
            .docker_ok(&["service", "ps", "--no-trunc", &f.container_name("s3")])
    );
    wait(
        "s3 serving its old image",
        Duration::from_secs(90),
        Some(&run),
        || serving(&c, &f, "s3", 18303),
    );
    // Held: no new update of s3 during several resyncs.
    let pushes = |logs: &str| {
        logs.lines()
            .filter(|l| l.contains("updated service") && l.contains("tenant=s3"))
            .count()
    };
    let before = pushes(&run.logs());
    std::thread::sleep(Duration::from_secs(6));
    let logs = run.logs();
    for l in logs
        .lines()
        .filter(|l| l.contains("s3") && !l.contains("DEBUG"))
    {
        eprintln!("{l}");
    }
    assert_eq!(
        before,
        pushes(&logs),
        "a rolled-back update is not pushed again"
    );
    let logs = run.logs();
    assert!(!logs.contains("sk-"), "{logs}");
}
