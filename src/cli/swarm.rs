//! `plan`, `apply` and `status` for a fleet with `backend = "swarm"`,
//! run against a manager (DOCKER_HOST).

use std::process::ExitCode;
use std::time::Duration;
use tenantctl::desired::DesiredState;
use tenantctl::docker::DockerClient;
use tenantctl::swarm::{Action, SwarmPlan, SwarmView};

/// `--prune` and `--adopt` are about one host's containers: a Swarm
/// fleet's services are never removed by tenantctl, and it has no
/// containers of another tool to take over. Refused, not ignored.
pub fn refuse_host_flags(prune: bool, adopt: bool) -> Result<(), ExitCode> {
    if prune {
        eprintln!("error: --prune: tenantctl never removes a Swarm service; those of tenants that left the file are listed by `plan`: remove them by hand (`docker service rm`; their volumes stay on their node)");
        return Err(ExitCode::FAILURE);
    }
    if adopt {
        eprintln!("error: --adopt takes over one host's containers; a Swarm fleet is created as services (remove the old containers, or run the docker backend for the take-over first)");
        return Err(ExitCode::FAILURE);
    }
    Ok(())
}

async fn look(
    desired: &DesiredState,
    timeout: Duration,
) -> Result<(DockerClient, SwarmView, SwarmPlan), ExitCode> {
    let docker = super::connect(timeout).await?;
    let view = tenantctl::swarm::observe_swarm(&docker, desired)
        .await
        .map_err(|e| {
            eprintln!("error: cannot read the swarm, nothing was changed: {e}");
            eprintln!("hint: backend = \"swarm\" runs against a manager node (DOCKER_HOST)");
            ExitCode::FAILURE
        })?;
    let plan = tenantctl::swarm::plan_swarm(desired, &view, &Default::default());
    Ok((docker, view, plan))
}

fn show(plan: &SwarmPlan) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if plan.create_network {
        let _ = writeln!(out, "+ network (overlay, attachable)");
    }
    let mut counts = (0, 0, 0);
    for t in &plan.tenants {
        let node = t.node.as_deref().unwrap_or("?");
        let placed = if t.placed_by_us {
            " (placed by tenantctl)"
        } else {
            ""
        };
        match &t.action {
            Action::Create(_) => {
                counts.0 += 1;
                let _ = writeln!(out, "+ service {} on {node}{placed}: create", t.service);
            }
            Action::Update { .. } => {
                counts.1 += 1;
                let _ = writeln!(out, "~ service {} on {node}: update", t.service);
                for c in &t.changes {
                    let _ = writeln!(out, "    {c}");
                }
            }
            Action::Blocked(why) => {
                counts.2 += 1;
                let _ = writeln!(out, "! service {} on {node}: {why}", t.service);
            }
            Action::None => {}
        }
        if t.node_down {
            let _ = writeln!(
                out,
                "? service {}: node {node} is down; reported, not moved (its data is on that node)",
                t.service
            );
        }
        if let Some(r) = &t.rolled_back {
            let _ = writeln!(
                out,
                "? service {}: Swarm rolled its last update back ({r})",
                t.service
            );
        }
    }
    for o in &plan.orphans {
        let _ = writeln!(out, "? service of tenant {o} (left the file): kept; remove it by hand (its volumes stay on its node)");
    }
    let _ = write!(
        out,
        "Plan: {} to create, {} to update, {} blocked.",
        counts.0, counts.1, counts.2
    );
    out
}

pub async fn plan(
    desired: DesiredState,
    json: bool,
    exit_code: bool,
    timeout: Duration,
) -> ExitCode {
    let (_, _, plan) = match look(&desired, timeout).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    if json {
        let tenants: Vec<serde_json::Value> = plan
            .tenants
            .iter()
            .map(|t| {
                let action = match &t.action {
                    Action::None => serde_json::json!("none"),
                    Action::Create(_) => serde_json::json!("create"),
                    Action::Update { .. } => serde_json::json!("update"),
                    Action::Blocked(why) => serde_json::json!({ "blocked": why }),
                };
                serde_json::json!({
                    "tenant": t.tenant,
                    "service": t.service,
                    "node": t.node,
                    "placed_by_tenantctl": t.placed_by_us,
                    "action": action,
                    "changes": t.changes,
                    "drift": t.drift.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                    "node_down": t.node_down,
                    "rolled_back": t.rolled_back,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "backend": "swarm",
            "create_network": plan.create_network,
            "tenants": tenants,
            "orphans": plan.orphans,
        });
        say!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        say!("{}", show(&plan));
    }
    if exit_code && !plan.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// `wait`: then wait until every changed tenant's task runs (exit 1 if
/// one does not within it).
pub async fn apply(desired: DesiredState, wait: Option<Duration>, timeout: Duration) -> ExitCode {
    let (docker, view, plan) = match look(&desired, timeout).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    say!("{}", show(&plan));
    let report = if plan.is_empty() {
        None
    } else {
        Some(tenantctl::swarm::apply_swarm(&docker, &desired, &plan).await)
    };
    // With a proxy, wait (bounded) for the changed tenants' tasks to run,
    // so their sites are routed rather than given the 503 page.
    let changed: Vec<String> = plan
        .tenants
        .iter()
        .filter(|t| t.has_work())
        .map(|t| t.tenant.clone())
        .collect();
    let (view, plan) = match (&report, &desired.proxy, wait) {
        (Some(_), _, Some(within)) => settle(&docker, &desired, &plan, view, within).await,
        (Some(_), Some(_), None) => {
            settle(&docker, &desired, &plan, view, Duration::from_secs(60)).await
        }
        _ => (view, plan),
    };
    let mut not_running = 0;
    if let Some(within) = wait {
        for t in plan.tenants.iter().filter(|t| changed.contains(&t.tenant)) {
            if !t.running() {
                not_running += 1;
                say!(
                    "FAIL {}: its task is not running after {}s ({}: {})",
                    t.tenant,
                    within.as_secs(),
                    t.task_state.as_deref().unwrap_or("no task"),
                    t.task_message
                );
            }
        }
    }
    let proxy_failed = match tenantctl::swarm::proxy::sync_proxy(&desired, &plan, &view).await {
        Some(outcome) if outcome.error.is_some() => {
            say!(
                "FAIL proxy: {}",
                outcome
                    .error
                    .as_ref()
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            );
            true
        }
        Some(outcome) if outcome.reloaded => {
            say!("ok   proxy reloaded");
            false
        }
        _ => false,
    };
    let Some(report) = report else {
        say!("Nothing to do.");
        return if proxy_failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    };
    if let Some(Err(e)) = &report.network {
        say!("FAIL network {}: {e}", desired.network);
    }
    for (tenant, result) in &report.tenants {
        match result {
            Ok(what) => say!("ok   {tenant}: {what}"),
            Err(e) => say!("FAIL {tenant}: {e}"),
        }
    }
    let blocked = plan
        .tenants
        .iter()
        .filter(|t| matches!(t.action, Action::Blocked(_)))
        .count();
    if report.failures() + blocked + not_running > 0 || proxy_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Looks again until every tenant that had work runs, for at most
/// `within`; the last look.
async fn settle(
    docker: &DockerClient,
    desired: &DesiredState,
    before: &SwarmPlan,
    view: SwarmView,
    within: Duration,
) -> (SwarmView, SwarmPlan) {
    let changed: Vec<&str> = before
        .tenants
        .iter()
        .filter(|t| t.has_work())
        .map(|t| t.tenant.as_str())
        .collect();
    let deadline = std::time::Instant::now() + within;
    let mut last = (view, before.clone());
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(view) = tenantctl::swarm::observe_swarm(docker, desired).await else {
            return last;
        };
        let plan = tenantctl::swarm::plan_swarm(desired, &view, &Default::default());
        let running = changed.iter().all(|name| {
            plan.tenants
                .iter()
                .any(|t| t.tenant == *name && t.running())
        });
        last = (view, plan);
        if running || std::time::Instant::now() > deadline {
            return last;
        }
    }
}

pub async fn status(desired: DesiredState, json: bool, timeout: Duration) -> ExitCode {
    let (_, view, plan) = match look(&desired, timeout).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let rows: Vec<serde_json::Value> = plan
        .tenants
        .iter()
        .map(|t| {
            let addr = t
                .node
                .as_deref()
                .and_then(|n| view.node_named(n))
                .map(|n| n.addr.clone())
                .unwrap_or_default();
            serde_json::json!({
                "tenant": t.tenant,
                "service": t.service,
                "node": t.node,
                "address": addr,
                "task": t.task_state,
                "running": t.running(),
                "node_down": t.node_down,
                "in_sync": t.drift.is_empty(),
                "drift": t.drift.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                "message": t.task_message,
            })
        })
        .collect();
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        say!(
            "{:<20} {:<16} {:<16} {:<10} {:<8} DRIFT",
            "TENANT",
            "NODE",
            "ADDRESS",
            "TASK",
            "IN SYNC"
        );
        for t in &plan.tenants {
            let addr = t
                .node
                .as_deref()
                .and_then(|n| view.node_named(n))
                .map(|n| n.addr.as_str())
                .unwrap_or("-");
            let drift: Vec<String> = t.drift.iter().map(|d| d.to_string()).collect();
            say!(
                "{:<20} {:<16} {:<16} {:<10} {:<8} {}",
                t.tenant,
                t.node.as_deref().unwrap_or("-"),
                addr,
                t.task_state.as_deref().unwrap_or("-"),
                if t.drift.is_empty() { "yes" } else { "no" },
                if drift.is_empty() {
                    "-".to_string()
                } else {
                    drift.join(", ")
                }
            );
        }
    }
    ExitCode::SUCCESS
}
