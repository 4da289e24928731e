//! `tenantctl status -f FILE [--json]`: one row per tenant.

use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tenantctl::observe::{observe, Detail};
use tenantctl::plan::Step;

#[derive(Serialize)]
struct Row {
    tenant: String,
    container: String,
    port: u16,
    paused: bool,
    state: String,
    health: String,
    in_sync: bool,
    drift: Vec<String>,
}

pub async fn run(file: &Path, json: bool, timeout: Duration) -> ExitCode {
    let desired = match super::load(file) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let docker = match super::connect(timeout).await {
        Ok(d) => d,
        Err(code) => return code,
    };
    let observed = match observe(&docker, &desired, Detail::Full).await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: cannot read the Docker host: {e}");
            return ExitCode::FAILURE;
        }
    };
    let plan = tenantctl::plan::plan(&desired, &observed, false);
    let rows: Vec<Row> = plan
        .tenants
        .iter()
        .map(|t| {
            let c = observed
                .containers
                .get(&t.container)
                .filter(|c| c.tenant_label() == Some(t.tenant.as_str()));
            let mut drift: Vec<String> = t
                .conflicts
                .iter()
                .map(|c| format!("{} conflict", c.resource))
                .collect();
            for step in &t.steps {
                match step {
                    Step::CreateVolume { name } => drift.push(format!("volume {name} missing")),
                    Step::Create => drift.push("container missing".into()),
                    Step::Recreate { changes } | Step::Update { changes } => {
                        drift.extend(changes.iter().map(|c| format!("{} changed", c.field)))
                    }
                    Step::Start { state } => drift.push(format!("container {state}")),
                }
            }
            Row {
                tenant: t.tenant.clone(),
                container: t.container.clone(),
                port: desired.tenants[&t.tenant].port,
                paused: t.paused,
                state: c
                    .map(|c| c.state.clone())
                    .unwrap_or_else(|| "missing".into()),
                health: c
                    .and_then(|c| c.health.clone())
                    .unwrap_or_else(|| "-".into()),
                in_sync: t.in_sync(),
                drift,
            }
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<16} {:<6} {:<8} {:<10} {:<10} {:<8} DRIFT",
        "TENANT", "PORT", "DESIRED", "STATE", "HEALTH", "IN SYNC"
    );
    for r in &rows {
        println!(
            "{:<16} {:<6} {:<8} {:<10} {:<10} {:<8} {}",
            r.tenant,
            r.port,
            if r.paused { "paused" } else { "running" },
            r.state,
            r.health,
            if r.in_sync { "yes" } else { "no" },
            if r.drift.is_empty() {
                "-".to_string()
            } else {
                r.drift.join("; ")
            }
        );
    }
    ExitCode::SUCCESS
}
