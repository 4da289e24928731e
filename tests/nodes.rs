//! Agents per host (issue 16, item 1): one tenants file places tenants on
//! two servers, each a private Docker daemon in its own network namespace;
//! `run --node a` on one and `run --node b` on the other each change only
//! their own server, read only their own env files, label their metrics
//! with the node, and a tenant moved from `a` to `b` starts on `b` while
//! `a` keeps its old container and data (reported, never pruned).

mod common;
#[path = "common/private_daemon.rs"]
mod private_daemon;

use common::*;
use private_daemon::PrivateDaemon;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tenantctl");
/// The agents' metrics listener, inside each daemon's own namespace.
const LISTEN: u16 = 19477;

/// A `tenantctl run --node` process, killed when dropped (also after a
/// failed assertion).
struct Agent {
    child: Child,
    log: std::path::PathBuf,
}

impl Agent {
    fn start(d: &PrivateDaemon, f: &Fleet, node: &str) -> Agent {
        let log = f.dir.join(format!("agent-{node}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = d
            .command(BIN)
            .args(["run", "--node", node, "-f"])
            .arg(&f.file)
            .args(["--listen", &format!("127.0.0.1:{LISTEN}"), "--resync", "2s"])
            .arg("--lock-file")
            .arg(f.dir.join(format!("agent-{node}.lock")))
            .env("TENANTCTL_LOG", "info")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("start tenantctl run --node");
        Agent { child, log }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Containers of this test's fleet on `d`, by name.
fn containers(d: &PrivateDaemon, f: &Fleet) -> Vec<String> {
    let out = d.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={RUN_LABEL}={}", f.run_id),
        "--format",
        "{{.Names}}",
    ]);
    let mut names: Vec<String> = out.lines().map(str::to_string).collect();
    names.sort();
    names
}

fn wait_serving(d: &PrivateDaemon, port: u16, agent: &Agent, within: Duration) {
    let deadline = Instant::now() + within;
    while !matches!(d.get(port, "/health"), Some((200, _))) {
        assert!(
            Instant::now() < deadline,
            "nothing served on :{port} within {within:?}; agent log:\n{}",
            agent.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn metrics(d: &PrivateDaemon) -> String {
    d.get(LISTEN, "/metrics").map(|r| r.1).unwrap_or_default()
}

fn write_file(f: &Fleet, a2_node: &str) {
    f.write(&[
        ("a1", 18101, "node = \"a\"\nenv_files = [\"a1.env\"]"),
        ("a2", 18102, &format!("node = \"{a2_node}\"")),
        // The same host port as a1: ports are unique per server.
        ("b1", 18101, "node = \"b\"\nenv_files = [\"b1.env\"]"),
    ]);
}

#[test]
fn two_agents_over_one_file_each_change_only_their_own_server() {
    let f = Fleet::new();
    let a = PrivateDaemon::start();
    let b = PrivateDaemon::start();
    std::fs::write(f.dir.join("a1.env"), "A1_SECRET=sk-a1\n").unwrap();
    std::fs::write(f.dir.join("b1.env"), "B1_SECRET=sk-b1\n").unwrap();
    write_file(&f, "a");

    // Without --node a placed file is refused: this server would take every tenant.
    let out = a
        .command(BIN)
        .args(["plan", "-f"])
        .arg(&f.file)
        .output()
        .unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("say which server this is with `--node NAME`"),
        "{text}"
    );

    let agent_a = Agent::start(&a, &f, "a");
    let agent_b = Agent::start(&b, &f, "b");
    let started = Instant::now();
    wait_serving(&a, 18101, &agent_a, Duration::from_secs(90));
    wait_serving(&a, 18102, &agent_a, Duration::from_secs(90));
    wait_serving(&b, 18101, &agent_b, Duration::from_secs(90));
    eprintln!("both servers serving after {:?}", started.elapsed());
    let name = |t: &str| f.container_name(t);
    assert_eq!(containers(&a, &f), [name("a1"), name("a2")]);
    assert_eq!(containers(&b, &f), [name("b1")]);
    let env_b1 = b.docker_ok(&["inspect", "-f", "{{json .Config.Env}}", &name("b1")]);
    assert!(env_b1.contains("B1_SECRET=sk-b1"), "{env_b1}");

    // Every series carries the agent's node.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (ma, mb) = (metrics(&a), metrics(&b));
        if has_series(&ma, "tenantctl_tenants_desired", &[("node", "a")], "2")
            && has_series(&mb, "tenantctl_tenants_desired", &[("node", "b")], "1")
            && has_series(
                &ma,
                "tenantctl_tenant_up",
                &[("node", "a"), ("tenant", "a2")],
                "1",
            )
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "metrics of a:\n{ma}\nmetrics of b:\n{mb}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // a2 moves to b: b starts it; a keeps its container (and data) and
    // reports it, even though a's agent would prune a tenant that left.
    write_file(&f, "b");
    wait_serving(&b, 18102, &agent_b, Duration::from_secs(60));
    assert_eq!(containers(&b, &f), [name("a2"), name("b1")]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ma = metrics(&a);
        let reported = has_series(
            &ma,
            "tenantctl_drift",
            &[("node", "a"), ("reason", "orphan"), ("tenant", "a2")],
            "1",
        );
        if reported && has_series(&ma, "tenantctl_tenants_desired", &[("node", "a")], "1") {
            break;
        }
        assert!(Instant::now() < deadline, "a's metrics:\n{ma}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = a
        .command(BIN)
        .args(["apply", "--prune", "--node", "a", "-f"])
        .arg(&f.file)
        .arg("--lock-file")
        .arg(f.dir.join("apply-a.lock"))
        .output()
        .unwrap();
    // The agent holds a's host lock only through its own lock file here;
    // apply takes another, so it runs and must prune nothing.
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("pruned"), "{text}");
    let plan = a
        .command(BIN)
        .args(["plan", "--prune", "--node", "a", "-f"])
        .arg(&f.file)
        .output()
        .unwrap();
    let text = output_text(&plan);
    assert!(
        text.contains("(tenant a2 is placed on node `b` now): kept, with its data on this server"),
        "{text}"
    );
    assert_eq!(containers(&a, &f), [name("a1"), name("a2")]);
    assert!(matches!(a.get(18102, "/health"), Some((200, _))));
    let log_a = agent_a.logs();
    assert!(
        !log_a.contains("sk-a1") && !log_a.contains("sk-b1"),
        "{log_a}"
    );
}
