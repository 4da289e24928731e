//! The only code that changes the Docker host. It executes a plan tenant by
//! tenant with bounded concurrency; one tenant's failure never stops the
//! others. Every step is idempotent, and a crash between any two steps is
//! healed by the next plan (which is recomputed from what exists).

mod adopt;
pub mod container_spec;
mod leftovers;
mod network;
mod redact;
mod replace;
mod start_first;

pub(crate) use crate::lifecycle::{force_remove, stop};
pub use crate::lifecycle::{wait_healthy, ApplyError};
pub use adopt::pre_adopt_name;
pub use container_spec::{create_body, update_body};
pub use network::{dedupe_network, ensure_network, warn_shared_once};
pub use redact::redact;

use crate::desired::DesiredTenant;
use crate::docker::{DockerClient, DockerError};
use crate::plan::{Step, TenantPlan};
use bollard::models::{NetworkConnectRequest, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, RenameContainerOptions,
};
use futures_util::TryStreamExt;
use std::collections::BTreeMap;
use std::time::Duration;

/// What happened to one tenant.
#[derive(Debug)]
pub struct TenantOutcome {
    pub tenant: String,
    /// Step names done, in order (`create_volume`, `recreate`, …).
    pub done: Vec<&'static str>,
    /// The step that failed, if one did (a conflict fails before any step).
    pub failed: Option<&'static str>,
    pub error: Option<ApplyError>,
    /// An adoption's downtime: the old container stopped → ours healthy.
    pub downtime: Option<Duration>,
    /// The backup taken before its upgrade (a rollback restores it).
    pub pre_upgrade_backup: Option<String>,
    /// How long a recreate's gate took (start → passed or failed).
    pub gate: Option<Duration>,
}

impl TenantOutcome {
    /// Nothing done yet.
    pub fn new(tenant: &str) -> Self {
        TenantOutcome {
            tenant: tenant.to_string(),
            done: vec![],
            failed: None,
            error: None,
            downtime: None,
            pre_upgrade_backup: None,
            gate: None,
        }
    }

    /// Not started, for `why`.
    pub fn failed(tenant: &str, step: &'static str, why: ApplyError) -> Self {
        TenantOutcome {
            failed: Some(step),
            error: Some(why),
            ..TenantOutcome::new(tenant)
        }
    }
}

/// Called with each tenant's outcome as it finishes (a progress display).
pub type OnDone<'a> = &'a (dyn Fn(&TenantOutcome) + Send + Sync);

/// Converges one tenant; stops at its first failed step.
#[tracing::instrument(name = "apply", skip_all, fields(tenant = %tenant.name))]
pub async fn apply_tenant(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    plan: &TenantPlan,
    fleet: &crate::desired::DesiredState,
) -> TenantOutcome {
    let backups = &fleet.backup;
    let mut outcome = TenantOutcome::new(&tenant.name);
    if !plan.conflicts.is_empty() {
        let msg = plan
            .conflicts
            .iter()
            .map(|c| c.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        tracing::warn!(conflict = %msg, "tenant blocked by an object tenantctl does not own");
        outcome.error = Some(ApplyError::Conflict(msg));
        return outcome;
    }
    // A backup or restore of this tenant (another process) must not be
    // undone under it; the work waits for the next try (see `hold`).
    let _hold = match plan.actionable().is_empty() {
        true => None,
        false => match crate::hold::hold(&tenant.fleet, &tenant.name) {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::info!(error = %e, "not converging the tenant now");
                outcome.failed = plan.actionable().first().map(Step::action);
                outcome.error = Some(e.into());
                return outcome;
            }
        },
    };
    if _hold.is_some() && needs_whole_data(plan) {
        // A restore killed half-way left the data mixed: whole again
        // (old or restored) before the tenant is started.
        if let Err(e) = crate::backup::recover_tenant(docker, tenant).await {
            tracing::warn!(error = %e, "cannot finish a restore that was cut short");
        }
    }
    for step in plan.actionable() {
        if is_upgrade(step) && !tenant.backup_volumes.is_empty() {
            // The data as the old version left it, before the new one may
            // migrate it: no backup, no upgrade.
            let now = crate::clock::unix_secs();
            let reason = crate::backup::Reason::PreUpgrade;
            match crate::backup::backup_held(docker, backups, tenant, now, reason).await {
                Ok(m) => {
                    tracing::info!(backup = %m.id, image = %m.image, "backed up before the upgrade");
                    let _ = crate::backup::prune(&backups.dir, &tenant.name, &backups.keep);
                    outcome.pre_upgrade_backup = Some(m.id.clone());
                    outcome.done.push("backup");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the backup before the upgrade failed; not upgrading");
                    outcome.failed = Some("backup");
                    outcome.error = Some(ApplyError::BackupFirst(e.to_string()));
                    break;
                }
            }
        }
        let gate_started = std::time::Instant::now();
        let result = run_step(docker, tenant, step, plan.image_present, fleet)
            .await
            .map_err(|e| redact(tenant, leftovers::explain(e)));
        if matches!(step, Step::Recreate { .. }) {
            outcome.gate = Some(gate_started.elapsed());
        }
        match result {
            Ok(StepDone::AsWanted) => {
                // A stale look (a lying or lagging list) asked for a create
                // of a container that runs as wanted: no change was made.
                tracing::info!(action = step.action(), container = %tenant.container_name, "already as wanted; nothing done");
            }
            Ok(StepDone::Changed(downtime)) => {
                if let Some(d) = downtime {
                    tracing::info!(container = %tenant.container_name, downtime_seconds = d.as_secs_f64(), "adopted");
                    outcome.downtime = Some(d);
                }
                tracing::info!(action = step.action(), container = %tenant.container_name, "done");
                outcome.done.push(step.action());
            }
            Err(e) => {
                tracing::warn!(action = step.action(), error = %e, "failed");
                outcome.failed = Some(step.action());
                outcome.error = Some(e);
                break;
            }
        }
    }
    outcome
}

/// Steps that start an existing container of the tenant (a killed
/// restore leaves it stopped): its data must not be half restored. A
/// create is left out: no restore ran on a container that is not there,
/// and a cold start of a big fleet should not pay a volume inspect each.
fn needs_whole_data(plan: &TenantPlan) -> bool {
    plan.actionable().iter().any(|s| {
        matches!(
            s,
            Step::Start { .. } | Step::Recreate { .. } | Step::Recover { .. } | Step::Unpause
        )
    })
}

/// A recreate onto another image: the app's version changes.
fn is_upgrade(step: &Step) -> bool {
    matches!(step, Step::Recreate { changes, .. } if changes.iter().any(|c| c.field == "image"))
}

async fn run_step(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    step: &Step,
    image_present: bool,
    fleet: &crate::desired::DesiredState,
) -> Result<StepDone, ApplyError> {
    match step {
        Step::CreateVolume { name, reclaim } => {
            if *reclaim {
                leftovers::reclaim_volume(docker, name).await?;
            }
            create_volume(docker, tenant, name).await?
        }
        Step::Create => {
            if !image_present {
                ensure_image(docker, &tenant.image).await?;
            }
            let reused = create_named(docker, tenant, &tenant.container_name).await?;
            if reused
                && crate::lifecycle::health_gate::running(docker, &tenant.container_name)
                    .await
                    .is_ok()
            {
                return Ok(StepDone::AsWanted);
            }
            start(docker, &tenant.container_name).await?;
        }
        Step::Recreate { .. } => {
            // Make sure the new image is here before the old container goes.
            if !image_present && tenant.image_pin.is_none() {
                ensure_image(docker, &tenant.image).await?;
            }
            let gate = replace::Gate {
                deadline: fleet.rollout.progress_deadline,
                min_ready: fleet.rollout.min_ready,
            };
            match tenant.strategy {
                crate::kinds::Strategy::StopFirst => replace::replace(docker, tenant, gate).await?,
                crate::kinds::Strategy::StartFirst => {
                    start_first::replace(docker, tenant, fleet, gate).await?
                }
            }
        }
        Step::Unpause => {
            let name = tenant.container_name.clone();
            docker
                .call("unpause_container", |d| async move {
                    d.unpause_container(&name).await
                })
                .await?;
        }
        Step::Recover {
            rename: from,
            remove,
        } => {
            for name in remove {
                force_remove(docker, name).await?;
                tracing::info!(container = %name, "removed a leftover container of the tenant; volumes kept");
            }
            if let Some(from) = from {
                rename(docker, from, &tenant.container_name).await?;
                tracing::info!(from = %from, to = %tenant.container_name, "gave the tenant's container its name back");
                // An old container set aside by a replacement that was cut
                // short is stopped: it served until then, so it serves
                // again now — one recovery, not a change to count (see
                // the controller's crash-loop breaker).
                if crate::lifecycle::health_gate::running(docker, &tenant.container_name)
                    .await
                    .is_err()
                {
                    start(docker, &tenant.container_name).await?;
                }
            }
        }
        Step::Update { .. } => {
            let name = tenant.container_name.clone();
            let body = update_body(tenant);
            docker
                .call("update_container", |d| async move {
                    d.update_container(&name, body).await
                })
                .await?;
        }
        Step::Start { .. } => {
            // The plan saw it stopped before the hold was taken; whoever
            // held the tenant then (`tenantctl restart`) may have started
            // it since: a container running now needs nothing (CI saw the
            // controller "start" one a restart had just brought back).
            if crate::lifecycle::health_gate::running(docker, &tenant.container_name)
                .await
                .is_ok()
            {
                return Ok(StepDone::AsWanted);
            }
            if let Err(e) = start(docker, &tenant.container_name).await {
                leftovers::remake_half_started(docker, tenant, e).await?;
            }
        }
        Step::Adopt { adoption, .. } => {
            if !image_present {
                ensure_image(docker, &tenant.image).await?;
            }
            return adopt::adopt(docker, tenant, *adoption)
                .await
                .map(|d| StepDone::Changed(Some(d)));
        }
    }
    Ok(StepDone::Changed(None))
}

/// What a step did.
enum StepDone {
    /// Changed the host (an adoption says how long the tenant was down).
    Changed(Option<Duration>),
    /// Found it as wanted already: nothing was changed.
    AsWanted,
}

async fn create_volume(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    name: &str,
) -> Result<(), DockerError> {
    let labels = crate::labels::volume_labels(&tenant.labels, &tenant.own_labels);
    let request = VolumeCreateRequest {
        name: Some(name.to_string()),
        labels: Some(labels.into_iter().collect()),
        ..Default::default()
    };
    docker
        .call("create_volume", |d| async move {
            d.create_volume(request).await
        })
        .await?;
    Ok(())
}

/// Pulls an image that is not on the host. A host without a registry fails
/// here, before anything is stopped.
async fn ensure_image(docker: &DockerClient, image: &str) -> Result<(), DockerError> {
    if crate::observe::inspect_image(docker, image)
        .await?
        .is_some()
    {
        return Ok(());
    }
    tracing::info!(image, "image not on this host; pulling");
    let options = CreateImageOptions {
        from_image: Some(image.to_string()),
        ..Default::default()
    };
    docker
        .call_with_timeout("pull_image", Duration::from_secs(600), |d| async move {
            d.create_image(Some(options), None, None)
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
    Ok(())
}

/// Creates the tenant's container under `name`. A rollout's pinned image
/// is created by its tag while the tag still points at it (so `docker ps`
/// shows `mai-production:latest`, not an id) and by its id otherwise; a
/// tag moved between the look and the create is caught after it.
/// `true` when an existing container of the tenant with this spec was
/// found under `name` and kept (see [`create_exact`]).
async fn create_named(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    name: &str,
) -> Result<bool, DockerError> {
    let Some(pin) = &tenant.image_pin else {
        return create_exact(docker, tenant, name).await;
    };
    let by_tag = DesiredTenant {
        image_pin: None,
        ..tenant.clone()
    };
    let tag_id = crate::observe::inspect_image(docker, &tenant.image).await?;
    if tag_id.is_some_and(|i| &i.id == pin) {
        let reused = create_exact(docker, &by_tag, name).await?;
        let owned = name.to_string();
        let made = docker
            .call("inspect_container", |d| async move {
                d.inspect_container(&owned, None).await
            })
            .await?;
        if made.image.as_ref() == Some(pin) {
            return Ok(reused);
        }
        tracing::info!(image = %tenant.image, "the tag moved during the rollout; creating from the id resolved at its start");
        force_remove(docker, name).await?;
    }
    create_exact(docker, tenant, name).await
}

/// Creates the tenant's container under `name`. A 409 for that name is a
/// container made by an earlier run that crashed before starting it (or a
/// concurrent one): if it is this tenant's, it is the one we wanted.
async fn create_exact(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    name: &str,
) -> Result<bool, DockerError> {
    let options = CreateContainerOptions {
        name: Some(name.to_string()),
        ..Default::default()
    };
    let body = create_body(tenant);
    match docker
        .call("create_container", |d| async move {
            d.create_container(Some(options), body).await
        })
        .await
    {
        Ok(_) => connect_extra_networks(docker, tenant, name, &[])
            .await
            .map(|()| false),
        Err(e) if e.is_conflict() => {
            let owned = name.to_string();
            let existing = docker
                .call("inspect_container", |d| async move {
                    d.inspect_container(&owned, None).await
                })
                .await?;
            let labels: BTreeMap<String, String> = existing
                .config
                .and_then(|c| c.labels)
                .unwrap_or_default()
                .into_iter()
                .collect();
            let same_spec = labels.get(crate::labels::SPEC_HASH_LABEL)
                == tenant.labels.get(crate::labels::SPEC_HASH_LABEL);
            if crate::labels::belongs_to(&labels, &tenant.fleet, &tenant.name) && same_spec {
                tracing::info!(
                    container = name,
                    "the container already exists (an earlier run created it); using it"
                );
                let joined: Vec<String> = existing
                    .network_settings
                    .and_then(|n| n.networks)
                    .map(|n| n.into_keys().collect())
                    .unwrap_or_default();
                connect_extra_networks(docker, tenant, name, &joined)
                    .await
                    .map(|()| true)
            } else {
                Err(e)
            }
        }
        Err(e) => Err(e),
    }
}

/// Joins the networks the tenant names besides the fleet's (Docker's
/// create takes one network; API 1.41 has no way to give it more), before
/// the container starts. `joined` are the ones it is on already.
async fn connect_extra_networks(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    name: &str,
    joined: &[String],
) -> Result<(), DockerError> {
    for network in tenant.extra_networks.iter().filter(|n| !joined.contains(n)) {
        let (network, request) = (
            network.clone(),
            NetworkConnectRequest {
                container: name.to_string(),
                endpoint_config: None,
            },
        );
        docker
            .call("connect_network", |d| async move {
                d.connect_network(&network, request).await
            })
            .await?;
    }
    Ok(())
}

async fn rename(docker: &DockerClient, from: &str, to: &str) -> Result<(), DockerError> {
    let (from, to) = (from.to_string(), to.to_string());
    docker
        .call("rename_container", |d| async move {
            d.rename_container(&from, RenameContainerOptions { name: to })
                .await
        })
        .await
}

/// Starts a container. Right after a daemon restart, Docker's own restart
/// policy races this start and the daemon still holds the old task or port
/// for a moment ("already exists", "already allocated"): a start that fails
/// so is tried again shortly, and a container found running is started.
async fn start(docker: &DockerClient, name: &str) -> Result<(), DockerError> {
    let mut attempt = 0;
    loop {
        let owned = name.to_string();
        let result = docker
            .call("start_container", |d| async move {
                d.start_container(&owned, None).await
            })
            .await;
        let Err(e) = result else {
            return Ok(());
        };
        if e.is_not_found() || attempt == 3 {
            return Err(e);
        }
        let message = e.to_string();
        if !message.contains("already exists") && !message.contains("already allocated") {
            return Err(e);
        }
        attempt += 1;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let owned = name.to_string();
        let running = docker
            .call("inspect_container", |d| async move {
                d.inspect_container(&owned, None).await
            })
            .await
            .ok()
            .and_then(|i| i.state?.running)
            .unwrap_or(false);
        if running {
            tracing::info!(
                container = name,
                "started meanwhile by Docker's restart policy"
            );
            return Ok(());
        }
    }
}

/// Removes a container whose tenant left the file, within the app's grace
/// period; its volumes stay. Already gone counts as done.
pub(crate) async fn remove_orphan(
    docker: &DockerClient,
    container: &str,
) -> Result<(), DockerError> {
    stop(docker, container, 10).await?;
    force_remove(docker, container).await
}
