//! Driving a rollout against Docker: resolve the images once, skip a
//! rollout that is halted, update batch after batch (each tenant observed
//! afresh, planned and applied through the one executor's
//! `apply_tenant`, its recreate gated on health), restore a rolled-back
//! tenant's data, and halt at the first tenant that fails its gate.

use super::record::{rollout_id, Phase, RolloutRecord, TenantPhase};
use super::{batches, is_due, store};
use crate::apply::{apply_tenant, ApplyError, TenantOutcome};
use crate::desired::{DesiredState, DesiredTenant};
use crate::docker::DockerClient;
use crate::observe::{inspect_image, observe_tenant};
use crate::plan::plan_adopting;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
pub struct RolloutReport {
    /// One per member tenant, in update order.
    pub outcomes: Vec<TenantOutcome>,
    /// The record as this run left it (`None`: nothing to roll out).
    pub record: Option<RolloutRecord>,
}

impl RolloutReport {
    pub fn halted(&self) -> bool {
        self.record
            .as_ref()
            .is_some_and(|r| r.phase == Phase::Halted)
    }
}

/// Rolls `members` (tenants whose plan recreates their container) out.
pub async fn roll_out(
    docker: &DockerClient,
    desired: &DesiredState,
    members: &[String],
    on_done: crate::apply::OnDone<'_>,
) -> RolloutReport {
    let mut report = RolloutReport::default();
    if members.is_empty() {
        return report;
    }
    // Each image reference resolved once: a tag moved during the rollout
    // does not split the fleet between two builds.
    let references: BTreeSet<&str> = members
        .iter()
        .filter_map(|m| desired.tenants.get(m))
        .map(|t| t.image.as_str())
        .collect();
    let mut images = BTreeMap::new();
    for reference in references {
        match inspect_image(docker, reference).await {
            Ok(Some(image)) => {
                images.insert(reference.to_string(), image.id);
            }
            // Not on this host: the recreate pulls it (or fails before
            // anything is stopped).
            Ok(None) => {}
            Err(e) => {
                let why = e.to_string();
                report.outcomes = members
                    .iter()
                    .map(|m| {
                        let error = ApplyError::Halted(format!(
                            "not updated: cannot read image `{reference}`: {why}"
                        ));
                        TenantOutcome::failed(m, "recreate", error)
                    })
                    .collect();
                report.outcomes.iter().for_each(on_done);
                return report;
            }
        }
    }
    let id = rollout_id(desired, &images);
    let existing = store::load(desired).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "starting a new rollout record");
        None
    });
    if !is_due(existing.as_ref(), &id) {
        let record = existing.expect("only a recorded rollout is not due");
        let why = held_message(&record);
        report.outcomes = members
            .iter()
            .map(|m| TenantOutcome::failed(m, "recreate", ApplyError::Halted(why.clone())))
            .collect();
        report.outcomes.iter().for_each(on_done);
        report.record = Some(record);
        return report;
    }
    let order = batches(desired, members);
    let mut record = match existing {
        // The same rollout, cut short (a crash, a transient error) or
        // resumed: it goes on where it stopped.
        Some(mut r) if r.id == id => {
            r.phase = Phase::Running;
            r.resume = false;
            r.halted_at = None;
            r.reason = None;
            r.finished = None;
            for name in order.iter().flatten() {
                if !r.order.contains(name) {
                    r.order.push(name.clone());
                }
                r.tenants.insert(name.clone(), TenantPhase::Pending);
            }
            r
        }
        _ => RolloutRecord::new(
            id,
            desired,
            images.clone(),
            order.iter().flatten().cloned().collect(),
            crate::clock::unix_secs(),
        ),
    };
    save(desired, &record);
    tracing::info!(rollout = %&record.id[..12], tenants = members.len(), batches = order.len(), "rollout started");
    let mut stopped: Option<String> = None;
    for batch in &order {
        if let Some(why) = &stopped {
            for name in batch {
                let error = ApplyError::Halted(why.clone());
                let outcome = TenantOutcome::failed(name, "recreate", error);
                on_done(&outcome);
                report.outcomes.push(outcome);
            }
            continue;
        }
        let updates = batch
            .iter()
            .map(|name| update_one(docker, desired, name, &images));
        for outcome in futures_util::future::join_all(updates).await {
            let phase = match &outcome.error {
                None => TenantPhase::Updated,
                Some(ApplyError::RolledBack { .. }) => TenantPhase::RolledBack,
                Some(e) if halts(e) => TenantPhase::Failed,
                Some(_) => TenantPhase::Pending,
            };
            record.tenants.insert(outcome.tenant.clone(), phase);
            if let Some(gate) = outcome.gate {
                record
                    .gate_seconds
                    .insert(outcome.tenant.clone(), gate.as_secs_f64());
            }
            if let (Some(e), None) = (&outcome.error, &stopped) {
                if halts(e) {
                    record.phase = Phase::Halted;
                    record.halted_at = Some(outcome.tenant.clone());
                    record.reason = Some(e.to_string());
                    stopped = Some(held_message(&record));
                    tracing::error!(tenant = %outcome.tenant, error = %e, "rollout halted: tenants not yet updated keep the old version");
                } else {
                    // A Docker hiccup or a backup under way: not the new
                    // version's fault. The next apply or pass goes on.
                    stopped = Some(format!(
                        "not updated yet: the rollout stopped at {} ({e}); the next apply or pass goes on",
                        outcome.tenant
                    ));
                }
            }
            on_done(&outcome);
            report.outcomes.push(outcome);
        }
        save(desired, &record);
    }
    if stopped.is_none() {
        record.phase = Phase::Done;
        record.finished = Some(crate::clock::unix_secs());
        save(desired, &record);
        tracing::info!(rollout = %&record.id[..12], "rollout done");
    }
    report.record = Some(record);
    report
}

/// A failure that the new version caused: it halts the rollout.
fn halts(e: &ApplyError) -> bool {
    matches!(
        e,
        ApplyError::RolledBack { .. }
            | ApplyError::Unhealthy { .. }
            | ApplyError::NotRunning { .. }
            | ApplyError::BackupFirst(_)
    )
}

fn held_message(record: &RolloutRecord) -> String {
    format!(
        "not updated: the {}; push a fixed revision (or image), or run `tenantctl rollout resume` to retry it",
        record.summary()
    )
}

fn save(desired: &DesiredState, record: &RolloutRecord) {
    if let Err(e) = store::save(desired, record) {
        tracing::error!(error = %e, "the rollout record could not be saved; a halt may not survive a restart");
    }
}

/// One tenant of a rollout: observed afresh (another pass or process may
/// have changed it), planned, applied with its image pinned; its data
/// restored when it was rolled back after the new version ran.
async fn update_one(
    docker: &DockerClient,
    desired: &DesiredState,
    name: &str,
    images: &BTreeMap<String, String>,
) -> TenantOutcome {
    let mut subset = desired.only(name);
    let Some(tenant) = subset.tenants.get_mut(name) else {
        return TenantOutcome::new(name);
    };
    let pin = images.get(&tenant.image).cloned();
    std::sync::Arc::make_mut(tenant).image_pin = pin;
    let tenant = DesiredTenant::clone(tenant);
    let mut observed = match observe_tenant(docker, &subset, &tenant, None).await {
        Ok(o) => o,
        Err(e) => return TenantOutcome::failed(name, "observe", e.into()),
    };
    // Planned against the image the rollout resolved, not the tag as it
    // is now: a tag moved (even back) meanwhile does not split it.
    if let Some(pin) = &tenant.image_pin {
        match inspect_image(docker, pin).await {
            Ok(Some(image)) => {
                observed.images.insert(tenant.image.clone(), Some(image));
            }
            Ok(None) => {
                let error = ApplyError::Halted(format!(
                    "not updated: image {pin}, resolved at the rollout's start, is gone from this host"
                ));
                return TenantOutcome::failed(name, "recreate", error);
            }
            Err(e) => return TenantOutcome::failed(name, "observe", e.into()),
        }
    }
    let plan = plan_adopting(&subset, &observed, false, None);
    let Some(tenant_plan) = plan.tenants.first() else {
        return TenantOutcome::new(name);
    };
    let mut outcome = apply_tenant(docker, &tenant, tenant_plan, &subset).await;
    if let Some(ApplyError::RolledBack { ran: true, .. }) = &outcome.error {
        if let (true, Some(id)) = (tenant.rollback_data, outcome.pre_upgrade_backup.clone()) {
            match restore_data(docker, desired, &tenant, &id).await {
                Ok(()) => {
                    tracing::warn!(backup = %id, "the new version had run: its data was restored from the backup taken before the upgrade");
                    outcome.done.push("restore_data");
                }
                Err(e) => {
                    tracing::error!(backup = %id, error = %e, "the data of the rolled-back tenant could not be restored; restore it by hand with `tenantctl restore`");
                }
            }
        }
    }
    outcome
}

async fn restore_data(
    docker: &DockerClient,
    desired: &DesiredState,
    tenant: &crate::desired::DesiredTenant,
    id: &str,
) -> Result<(), String> {
    let dir = &desired.backup.dir;
    let manifest = crate::backup::list(dir, &tenant.name)?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(|| format!("backup {id} is gone"))?;
    let opts = crate::backup::RestoreOptions {
        dir: dir.clone(),
        deadline: desired.rollout.progress_deadline,
    };
    crate::backup::restore_tenant(docker, tenant, &manifest, &opts)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
