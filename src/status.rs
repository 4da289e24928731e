//! One row per tenant, as `tenantctl status`, `/api/status` and the status
//! page show it: the desired state, what Docker reports, a probe of the
//! health path from the host, drift, the last backup, the version (image
//! id) and the tenant's part in an unfinished rollout.

use crate::desired::DesiredState;
use crate::observe::ObservedState;
use crate::plan::Step;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub tenant: String,
    pub container: String,
    pub port: u16,
    pub domain: Option<String>,
    /// Docker's count of restarts of this container (by its restart policy).
    pub restart_count: Option<i64>,
    pub paused: bool,
    pub state: String,
    /// Docker's health status of the container.
    pub health: String,
    /// Whether GET <health path> answers 2xx from the host right now.
    pub probe: bool,
    pub in_sync: bool,
    /// When the tenant's TLS certificate expires (its `notAfter`), for a
    /// tenant served over HTTPS whose certificate can be read.
    pub certificate_expiry_unix: Option<i64>,
    /// When the newest backup was taken (`backups list` has them all).
    pub last_backup_unix: Option<i64>,
    /// The image id the container runs (its version).
    pub image_id: Option<String>,
    /// Its part in the fleet's last rollout, when that rollout is not done
    /// (`pending`, `rolled_back`, …), `halted` for the tenant it halted at.
    pub rollout: Option<String>,
    pub drift: Vec<String>,
}

/// The rows of `desired` on the host as `observed` (probing every
/// tenant's health path now, concurrently).
pub async fn rows(desired: &DesiredState, observed: &ObservedState) -> Vec<Row> {
    let plan = crate::plan::plan(desired, observed, false);
    let record = crate::rollout::load(desired).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the rollout record");
        None
    });
    let rollout_part = |tenant: &str| {
        let r = record
            .as_ref()
            .filter(|r| r.phase != crate::rollout::Phase::Done)?;
        if r.halted_at.as_deref() == Some(tenant) {
            return Some("halted".to_string());
        }
        r.tenants.get(tenant).map(|p| p.as_str().to_string())
    };
    let probes: std::collections::BTreeMap<String, bool> =
        futures_util::future::join_all(desired.tenants.values().map(|t| async move {
            let host = crate::probe::probe_host(t);
            let timeout =
                Duration::from_nanos(t.health.timeout_ns.clamp(100_000_000, 5_000_000_000) as u64);
            (
                t.name.clone(),
                crate::probe::probe_http(&host, t.port, &t.health.path, timeout).await,
            )
        }))
        .await
        .into_iter()
        .collect();
    let expiries: std::collections::BTreeMap<String, i64> = crate::acme::manager::expiries(desired)
        .await
        .into_iter()
        .map(|(t, _, at)| (t, crate::certfile::unix_seconds(at)))
        .collect();
    let rows: Vec<Row> = plan
        .tenants
        .iter()
        .map(|t| {
            let c = observed.managed(&desired.tenants[&t.tenant]);
            let mut drift: Vec<String> = t
                .conflicts
                .iter()
                .map(|c| format!("{} conflict", c.resource))
                .collect();
            for step in &t.steps {
                match step {
                    Step::CreateVolume { name, .. } => drift.push(format!("volume {name} missing")),
                    Step::Create => drift.push("container missing".into()),
                    Step::Recreate { changes, .. } | Step::Update { changes } => {
                        drift.extend(changes.iter().map(|c| format!("{} changed", c.field)))
                    }
                    Step::Start { state } => drift.push(format!("container {state}")),
                    Step::Unpause => drift.push("container paused".into()),
                    Step::Recover { .. } => drift.push("container under another name".into()),
                    Step::Adopt { .. } => drift.push("container not managed (adoptable)".into()),
                }
            }
            Row {
                tenant: t.tenant.clone(),
                container: t.container.clone(),
                port: desired.tenants[&t.tenant].port,
                paused: t.paused,
                state: c.map_or_else(|| "missing".into(), |c| c.state.to_string()),
                // Docker keeps the last health result of a stopped
                // container; it says nothing about it now.
                health: c
                    .filter(|c| c.is_running())
                    .and_then(|c| c.health)
                    .map_or_else(|| "-".into(), |h| h.to_string()),
                domain: desired.tenants[&t.tenant].domain.clone(),
                certificate_expiry_unix: expiries.get(&t.tenant).copied(),
                restart_count: c.and_then(|c| c.details.as_ref()).map(|d| d.restart_count),
                probe: probes.get(&t.tenant).copied().unwrap_or(false),
                in_sync: t.in_sync(),
                last_backup_unix: crate::backup::newest(&desired.backup.dir, &t.tenant)
                    .ok()
                    .flatten()
                    .map(|m| m.created_unix),
                image_id: c.map(|c| c.image_id.clone()),
                rollout: rollout_part(&t.tenant),
                drift,
            }
        })
        .collect();
    rows
}
