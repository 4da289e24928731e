//! One pipeline: `tenantctl apply` and the controller plan with the same
//! code and execute through the same executor, so on the same host state
//! they take the same actions — the ones `tenantctl plan` announced.

mod common;

use common::{docker_ok, free_port, metric, time_until, Fleet};
use std::collections::BTreeMap;
use std::time::Duration;

/// Action name → how many times.
type Actions = BTreeMap<String, usize>;

struct Host {
    fleet: Fleet,
    ports: Vec<u16>,
}

const ALL: [&str; 4] = ["alpha", "beta", "gamma", "omega"];

impl Host {
    fn new() -> Self {
        Self {
            fleet: Fleet::new(),
            ports: (0..4).map(|_| free_port()).collect(),
        }
    }

    fn write(&self, tenants: &[&str]) {
        let rows: Vec<(&str, u16, &str)> = ALL
            .iter()
            .zip(&self.ports)
            .filter(|(t, _)| tenants.contains(t))
            .map(|(t, p)| (*t, *p, ""))
            .collect();
        self.fleet.write(&rows);
    }

    /// The same drift each time: alpha stopped, beta's memory changed by
    /// hand, gamma removed, omega left the file (an orphan, pruned).
    fn drift(&self) {
        self.write(&ALL);
        self.fleet.apply();
        self.write(&ALL[..3]);
        let name = |t: &str| self.fleet.container_name(t);
        docker_ok(&["stop", "-t", "1", &name("alpha")]);
        docker_ok(&["update", "--memory", "48m", &name("beta")]);
        docker_ok(&["rm", "-f", &name("gamma")]);
    }

    fn planned(&self) -> Actions {
        let out = self.fleet.tenantctl(&["plan", "--json", "--prune"]);
        let plan: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("plan --json is JSON");
        let mut actions = Actions::new();
        for t in plan["tenants"].as_array().unwrap() {
            for step in t["steps"].as_array().unwrap() {
                *actions
                    .entry(step["action"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
        let orphans = plan["orphans"].as_array().unwrap().len();
        if orphans > 0 {
            actions.insert("remove".into(), orphans);
        }
        actions
    }

    fn converged(&self) -> bool {
        ALL[..3].iter().all(|t| {
            self.fleet
                .inspect(t, "{{.State.Running}} {{.HostConfig.Memory}}")
                == format!("true {}", 64 << 20)
        }) && self.fleet.container_id("omega").is_none()
    }
}

#[test]
fn apply_and_the_controller_take_the_same_actions_on_the_same_host_state() {
    let host = Host::new();

    host.drift();
    let planned = host.planned();
    assert_eq!(
        planned,
        Actions::from([
            ("create".into(), 1),
            ("remove".into(), 1),
            ("start".into(), 1),
            ("update".into(), 1),
        ]),
        "the drift is what the test means it to be"
    );
    let text = host.fleet.tenantctl_expect(&["apply", "--prune"], 0);
    let mut by_apply = Actions::new();
    for line in text.lines() {
        if line.starts_with("ok   pruned ") {
            *by_apply.entry("remove".into()).or_default() += 1;
        } else if let Some((_, done)) = line.strip_prefix("ok   ").and_then(|l| l.split_once(": "))
        {
            for action in done.split(", ").filter(|a| *a != "create_volume") {
                *by_apply.entry(action.to_string()).or_default() += 1;
            }
        }
    }
    assert!(host.converged(), "apply converged the host:\n{text}");

    host.drift();
    assert_eq!(host.planned(), planned, "the same host state again");
    let ctl = host.fleet.start_controller(&["--prune"]);
    time_until(
        "the controller converged the host",
        Duration::from_secs(30),
        || host.converged(),
    );
    // Let a last pass finish, so nothing is still in flight.
    std::thread::sleep(Duration::from_secs(2));
    let mut by_controller = Actions::new();
    for action in [
        "create", "recreate", "update", "start", "unpause", "recover", "remove",
    ] {
        let line = metric(
            ctl.listen,
            &format!("tenantctl_actions_total{{action=\"{action}\",result=\"success\"}}"),
        );
        if let Some(n) = line.and_then(|l| l.rsplit(' ').next()?.parse::<usize>().ok()) {
            if n > 0 {
                by_controller.insert(action.to_string(), n);
            }
        }
    }
    assert_eq!(by_apply, planned, "apply did what plan announced:\n{text}");
    assert_eq!(
        by_controller,
        by_apply,
        "the controller did what apply did:\n{}",
        ctl.logs()
    );
}
