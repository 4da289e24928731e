//! The async work behind the state machine's commands, both through the
//! one plan and executor `tenantctl apply` uses:
//! - one tenant's reconcile, kube-style: it is not told why it runs, so it
//!   observes that tenant afresh (a handful of calls whatever the size of
//!   the fleet: `observe_tenant`), plans and executes whatever differs;
//! - a pass: observes the fleet, plans the host (proxy included) and
//!   executes the fleet-level part of it (prune, proxy). Its tenants are
//!   not converged here but queued, each for a reconcile on a fresh look.

use crate::apply::ApplyError;
use crate::desired::DesiredState;
use crate::docker::{DockerClient, DockerError};
use crate::execute::{execute, ApplyReport};
use crate::observe::{observe_keeping, observe_tenant, Detail, HostView};
use crate::plan::{plan_adopting, plan_host, Adoption, Options, Plan, ProxyView, TenantPlan};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How the controller converges: what `run`'s flags say.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mode {
    /// Remove our containers whose tenant left the file.
    pub prune: bool,
    /// Take over containers tenantctl did not create (`--adopt`).
    pub adopt: Option<Adoption>,
    /// Plan and report, change nothing (`--observe-only`).
    pub observe_only: bool,
}

/// What one reconcile saw and did.
#[derive(Debug)]
pub struct Reconciled {
    pub tenant: String,
    /// The plan it acted on; `None` when the host could not be read.
    pub plan: Option<TenantPlan>,
    /// Step names applied (empty when the tenant was in sync or paused).
    pub done: Vec<&'static str>,
    /// The step that failed, if any.
    pub failed: Option<&'static str>,
    pub error: Option<ApplyError>,
    /// An adoption's downtime (old stopped → new healthy).
    pub downtime: Option<Duration>,
    /// Planned only (`--observe-only`): its drift stands.
    pub observe_only: bool,
    /// Its plan recreates the container: left to the fleet's rollout.
    pub deferred: bool,
    /// The container is restarting over and over; reported, not fought.
    pub crash_looping: bool,
    /// Its fresh look at its own objects (for the cached host view).
    pub observed: Option<crate::observe::ObservedState>,
    pub duration: Duration,
}

/// Reconciles `tenant` of `desired` (which must contain it). With a host
/// `view`, what is not the tenant's own is read from it (see `HostView`).
pub async fn reconcile_tenant(
    docker: &DockerClient,
    desired: &DesiredState,
    tenant: &str,
    view: Option<&HostView>,
    mode: Mode,
) -> Reconciled {
    let started = Instant::now();
    let mut result = Reconciled {
        tenant: tenant.to_string(),
        plan: None,
        done: vec![],
        failed: None,
        error: None,
        downtime: None,
        observe_only: false,
        deferred: false,
        crash_looping: false,
        observed: None,
        duration: Duration::ZERO,
    };
    let subset = desired.only(tenant);
    if let Some(wanted) = subset.tenants.get(tenant) {
        match observe_tenant(docker, &subset, wanted, view).await {
            Err(e) => result.error = Some(e.into()),
            Ok(observed) => {
                let plan = plan_adopting(&subset, &observed, false, mode.adopt);
                // A recreate is the rollout's to make (in order, gated,
                // halted on failure); a pass starts it.
                result.deferred = !mode.observe_only
                    && plan.tenants.first().is_some_and(crate::rollout::is_member);
                let in_place = result
                    .deferred
                    .then(|| plan.tenants.first().and_then(crate::rollout::in_place_part))
                    .flatten();
                let report = match (mode.observe_only, result.deferred, in_place) {
                    (true, _, _) | (false, true, None) => ApplyReport::default(),
                    // Limits and restart policy need not wait for the rollout.
                    (false, true, Some(now)) => {
                        let part = Plan {
                            tenants: vec![now],
                            ..plan.clone()
                        };
                        execute(docker, &subset, &part, 1).await
                    }
                    (false, false, _) => execute(docker, &subset, &plan, 1).await,
                };
                result.observe_only = mode.observe_only;
                if report.network_repaired {
                    result.done.push("repair_network");
                }
                if report.network_created.is_some() {
                    result.done.push("create_network");
                }
                if let Some(outcome) = report.tenants.into_iter().next() {
                    result.done.extend(outcome.done);
                    result.failed = outcome.failed;
                    result.error = outcome.error;
                    result.downtime = outcome.downtime;
                }
                let tenant_plan = plan.tenants.into_iter().next();
                result.crash_looping = tenant_plan.as_ref().is_some_and(|p| {
                    observed.containers.get(&p.container).is_some_and(|c| {
                        c.state == crate::kinds::ContainerState::Restarting
                            && c.tenant_label() == Some(tenant)
                    })
                });
                result.plan = tenant_plan;
                result.observed = Some(observed);
                if !result.done.is_empty() {
                    let succeeded = result.failed.is_none() && result.error.is_none();
                    result.observed =
                        after_acting(docker, &subset, wanted, view, result.observed, succeeded)
                            .await;
                }
            }
        }
    }
    result.duration = started.elapsed();
    result
}

/// The tenant's objects once it acted, for the host view: its containers
/// and volumes looked at again (the network too when it made one), so a
/// pass read from the view sees what it made. `None` when that look fails
/// (the view then keeps what it had; the next listing pass corrects it).
async fn after_acting(
    docker: &DockerClient,
    desired: &DesiredState,
    tenant: &crate::desired::DesiredTenant,
    view: Option<&HostView>,
    before: Option<crate::observe::ObservedState>,
    succeeded: bool,
) -> Option<crate::observe::ObservedState> {
    let (view, before) = (view?, before?);
    let mut known = view.clone();
    known.merge(&tenant.name, &before);
    // Every step succeeded: its volumes are what it saw, plus the ones it
    // created, with the labels it created them with (reconcile never
    // removes one). After a failure they are looked at again.
    let known_volumes = succeeded.then(|| {
        tenant
            .volume_names()
            .map(|name| {
                let labels = before.volumes.get(name).cloned().unwrap_or_else(|| {
                    crate::labels::OwnerLabels::of(&crate::labels::volume_labels(
                        &tenant.labels,
                        &tenant.own_labels,
                    ))
                });
                (name.to_string(), labels)
            })
            .collect()
    });
    let (mut after, _) = crate::observe::observe_own(docker, tenant, &known, known_volumes)
        .await
        .ok()?;
    after.networks = match before.networks.contains_key(&desired.network) {
        true => before.networks,
        false => crate::observe::networks_named(docker, &desired.network)
            .await
            .ok()?
            .into_iter()
            .filter_map(|n| Some((n.name?, n.labels.unwrap_or_default().into_iter().collect())))
            .collect(),
    };
    Some(after)
}

/// What a pass saw (the whole host's plan, and the view reconciles read)
/// and did (prune, proxy).
#[derive(Debug)]
pub struct PassDone {
    pub plan: Plan,
    /// What the lists showed (`None` for a pass read from the view).
    pub view: Option<HostView>,
    pub report: ApplyReport,
    /// Tenants a rollout should update now (empty when none is needed,
    /// or the one needed is halted).
    pub rollout_due: Vec<String>,
    /// The fleet's rollout record, for metrics.
    pub rollout: Option<crate::rollout::RolloutRecord>,
    /// Volumes kept from tenants that left the file, by tenant.
    pub leftovers: BTreeMap<String, Vec<String>>,
}

/// One fleet pass. Any failed read fails the pass: a partial list must
/// never look like "nothing exists" (nothing is pruned then). `rolling`:
/// a rollout runs meanwhile (see `Command::Pass`).
pub async fn pass(
    docker: &DockerClient,
    desired: &DesiredState,
    detail: Detail,
    mode: Mode,
    rolling: bool,
) -> Result<PassDone, DockerError> {
    // A verify pass keeps only the details that differ from the file:
    // all of them at once were its largest allocation at 1,000 tenants.
    let observed = observe_keeping(docker, desired, detail, &crate::plan::details_matter).await?;
    finish_pass(docker, desired, observed, mode, rolling, true).await
}

/// A pass read from the controller's host view (`Detail::Cached`): only
/// the images are inspected, so its cost does not grow with the host —
/// at 1,000 containers one list took Docker 0.1-0.5 s, and a cold start
/// asks for a pass every few seconds. It never prunes (a removal is
/// decided on fresh lists only), and its view is not news.
pub async fn pass_cached(
    docker: &DockerClient,
    desired: &DesiredState,
    view: std::sync::Arc<HostView>,
    mode: Mode,
    rolling: bool,
) -> Result<PassDone, DockerError> {
    // The machine hands each pass its own copy: moved out, not copied again.
    let view = std::sync::Arc::try_unwrap(view).unwrap_or_else(|shared| (*shared).clone());
    let mut observed = view.into_observed();
    crate::observe::observe_images(docker, desired, &mut observed).await?;
    let mode = Mode {
        prune: false,
        ..mode
    };
    finish_pass(docker, desired, observed, mode, rolling, false).await
}

/// Plans and runs the fleet-level part of a pass on what it observed.
/// `listed`: observed from Docker's lists (its view replaces the cache).
async fn finish_pass(
    docker: &DockerClient,
    desired: &DesiredState,
    observed: crate::observe::ObservedState,
    mode: Mode,
    rolling: bool,
    listed: bool,
) -> Result<PassDone, DockerError> {
    // Unreadable files count as none: the sync reads again and reports it.
    let current = crate::proxy::current(desired).await.unwrap_or_default();
    let options = Options {
        prune: mode.prune,
        adopt: mode.adopt,
        proxy: ProxyView::AsObserved,
    };
    let plan = plan_host(desired, &observed, &current, options);
    let fleet_level = Plan {
        create_network: None,
        repair_network: None,
        shared_network: None,
        tenants: Vec::new(),
        proxy: plan.proxy.clone().filter(|_| !rolling),
        ..plan.clone()
    };
    let report = if mode.observe_only {
        ApplyReport::default()
    } else {
        execute(docker, desired, &fleet_level, 1).await
    };
    let mut record = crate::rollout::load(desired).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the rollout record");
        None
    });
    let members = crate::rollout::members(&plan);
    // Nothing to recreate, and no replacement cut short waiting to be
    // recovered (after which it may need recreating again): over.
    let recovering = plan.tenants.iter().any(|t| {
        t.actionable()
            .iter()
            .any(|s| matches!(s, crate::plan::Step::Recover { .. }))
    });
    if members.is_empty() && !recovering && !rolling && !mode.observe_only {
        record = record.map(|r| crate::rollout::close(desired, r));
    }
    let rollout_due = if members.is_empty() || mode.observe_only {
        Vec::new()
    } else {
        let images: BTreeMap<String, String> = members
            .iter()
            .filter_map(|m| desired.tenants.get(m))
            .filter_map(|t| {
                let id = observed.images.get(&t.image).cloned().flatten()?.id;
                Some((t.image.clone(), id))
            })
            .collect();
        let id = crate::rollout::rollout_id(desired, &images);
        match crate::rollout::is_due(record.as_ref(), &id) {
            true => members,
            false => Vec::new(),
        }
    };
    let leftovers = crate::capacity::leftover_volumes(desired, &observed);
    let view = listed.then(|| {
        let mut view = HostView::from_pass(observed);
        for (orphan, result) in &report.pruned {
            if result.is_ok() {
                view.containers.remove(&orphan.container);
            }
        }
        view
    });
    Ok(PassDone {
        plan,
        view,
        report,
        rollout_due,
        rollout: record,
        leftovers,
    })
}
