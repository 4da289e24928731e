//! The one executor: `tenantctl apply` and every controller reconcile and
//! pass run their plan through [`execute`], in a fixed order — the shared
//! network, then the tenants (bounded concurrency; one tenant's failure
//! never stops the others), then prune, then the proxy. What a plan holds
//! decides what runs: a controller pass hands it a plan without tenant
//! steps (its tenants go through the work queue), a reconcile a plan of one
//! tenant without proxy or prune.

use crate::apply::{
    apply_tenant, dedupe_network, ensure_network, remove_orphan, ApplyError, OnDone, TenantOutcome,
};
use crate::desired::{DesiredState, DesiredTenant};
use crate::docker::DockerClient;
use crate::observe::{observe, Detail};
use crate::plan::{Plan, ProxyPlan, ProxyView, TenantPlan};
use crate::proxy::{ProxyError, ProxyOutcome};
use futures_util::StreamExt;

#[derive(Debug, Default)]
pub struct ApplyReport {
    pub network_created: Option<String>,
    /// Empty duplicates of the fleet's network were removed.
    pub network_repaired: bool,
    pub tenants: Vec<TenantOutcome>,
    /// Orphan containers removed by `--prune` (or why not).
    pub pruned: Vec<(crate::plan::Orphan, Result<(), ApplyError>)>,
    /// The proxy sync, when the plan has a proxy part.
    pub proxy: Option<ProxyOutcome>,
    /// The rollout record, when the plan recreated containers.
    pub rollout: Option<crate::rollout::RolloutRecord>,
}

impl ApplyReport {
    /// Failed tenants and prunes, tenants whose nginx block was set
    /// aside, and a failed proxy sync.
    pub fn failed(&self) -> usize {
        self.tenants.iter().filter(|t| t.error.is_some()).count()
            + self.pruned.iter().filter(|(_, r)| r.is_err()).count()
            + self
                .proxy
                .as_ref()
                .map_or(0, |p| p.set_aside.len() + usize::from(p.error.is_some()))
    }

    /// Changes made to the Docker host.
    pub fn changes(&self) -> usize {
        self.network_created.iter().count()
            + self.tenants.iter().map(|t| t.done.len()).sum::<usize>()
            + self.pruned.iter().filter(|(_, r)| r.is_ok()).count()
    }
}

/// Executes `plan`. `concurrency` bounds how many tenants change at once.
pub async fn execute(
    docker: &DockerClient,
    desired: &DesiredState,
    plan: &Plan,
    concurrency: usize,
) -> ApplyReport {
    execute_reporting(docker, desired, plan, concurrency, &|_| {}).await
}

/// [`execute`], telling `on_done` about each tenant as it finishes.
pub async fn execute_reporting(
    docker: &DockerClient,
    desired: &DesiredState,
    plan: &Plan,
    concurrency: usize,
    on_done: OnDone<'_>,
) -> ApplyReport {
    let mut report = ApplyReport::default();
    if let Some(network) = &plan.repair_network {
        match dedupe_network(docker, network).await {
            Ok(removed) => report.network_repaired = removed > 0,
            Err(e) => tracing::warn!(network, error = %e, "cannot remove duplicate networks"),
        }
    }
    if let Some(network) = &plan.shared_network {
        crate::apply::warn_shared_once(network);
    }
    let work = with_work(desired, plan);
    if let Some(network) = &plan.create_network {
        match ensure_network(docker, desired, network).await {
            Ok(created) => report.network_created = created.then(|| network.clone()),
            Err(e) => {
                // Nothing can be attached: every tenant with work fails.
                let reason = e.to_string();
                report.tenants = work
                    .into_iter()
                    .map(|(t, _)| {
                        let why = ApplyError::Network {
                            network: network.clone(),
                            reason: reason.clone(),
                        };
                        TenantOutcome::failed(&t.name, "create_network", why)
                    })
                    .collect();
                return report;
            }
        }
    }
    // Futures built before the stream: a stream of closures over borrowed
    // plans is not `Send` enough for a spawned controller task.
    // Adoptions go one at a time, after the rest: each takes a client
    // down for seconds, and never two at once.
    let (adopting, rest): (Vec<_>, Vec<_>) = work.into_iter().partition(|(_, p)| {
        p.actionable()
            .iter()
            .any(|s| matches!(s, crate::plan::Step::Adopt { .. }))
    });
    // Recreates are a rollout: gated, in order, halted at the first
    // tenant that fails (see `crate::rollout`); the rest do not wait.
    let (rolling, rest): (Vec<_>, Vec<_>) = rest
        .into_iter()
        .partition(|(_, p)| crate::rollout::is_member(p));
    // A member's limits and restart policy change now, in place.
    let in_place: Vec<(&DesiredTenant, TenantPlan)> = rolling
        .iter()
        .filter_map(|(t, p)| Some((*t, crate::rollout::in_place_part(p)?)))
        .collect();
    let futures: Vec<_> = rest
        .into_iter()
        .chain(in_place.iter().map(|(t, p)| (*t, p)))
        .map(|(tenant, tenant_plan)| apply_tenant(docker, tenant, tenant_plan, desired))
        .collect();
    let mut finished = futures_util::stream::iter(futures).buffer_unordered(concurrency.max(1));
    while let Some(outcome) = finished.next().await {
        on_done(&outcome);
        report.tenants.push(outcome);
    }
    for (tenant, tenant_plan) in adopting {
        let outcome = apply_tenant(docker, tenant, tenant_plan, desired).await;
        on_done(&outcome);
        report.tenants.push(outcome);
    }
    let members: Vec<String> = rolling.iter().map(|(t, _)| t.name.clone()).collect();
    let rollout = crate::rollout::roll_out(docker, desired, &members, on_done).await;
    report.tenants.extend(rollout.outcomes);
    report.rollout = rollout.record;
    report.tenants.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    if plan.prune {
        for orphan in plan.orphans.iter().filter(|o| o.prunable()) {
            let result = remove_orphan(docker, &orphan.container)
                .await
                .map_err(ApplyError::from);
            match &result {
                Ok(()) => {
                    tracing::info!(tenant = %orphan.tenant, container = %orphan.container, "pruned container; volumes kept")
                }
                Err(e) => tracing::warn!(tenant = %orphan.tenant, error = %e, "prune failed"),
            }
            report.pruned.push((orphan.clone(), result));
        }
    }
    if let Some(proxy) = &plan.proxy {
        report.proxy = Some(sync_proxy(docker, desired, proxy).await);
    }
    report
}

/// The tenants with steps to run or conflicts to report, with their spec.
fn with_work<'a>(
    desired: &'a DesiredState,
    plan: &'a Plan,
) -> Vec<(&'a DesiredTenant, &'a TenantPlan)> {
    let mut work = Vec::new();
    for t in &plan.tenants {
        if !t.has_work() {
            continue;
        }
        if let Some(d) = desired.tenants.get(&t.tenant) {
            work.push((&**d, t));
        }
    }
    work
}

/// Brings nginx to the plan's files. A plan made before its tenant steps
/// ran (`ProxyView::AfterApply`) is rendered again from the host as those
/// steps left it: a tenant that failed to start gets the 503 page.
async fn sync_proxy(
    docker: &DockerClient,
    desired: &DesiredState,
    proxy: &ProxyPlan,
) -> ProxyOutcome {
    let Some(spec) = &desired.proxy else {
        return ProxyOutcome::default();
    };
    let (files, unavailable) = match proxy.view {
        ProxyView::AsObserved => (proxy.files.clone(), proxy.unavailable.clone()),
        ProxyView::AfterApply => match observe(docker, desired, Detail::ListOnly).await {
            Ok(now) => {
                let unavailable = crate::proxy::unavailable(desired, &now);
                (
                    crate::proxy::render(
                        desired,
                        spec,
                        &unavailable,
                        &crate::certified::ready(desired),
                    ),
                    unavailable,
                )
            }
            Err(e) => {
                return ProxyOutcome {
                    error: Some(ProxyError::Host(e.to_string())),
                    ..Default::default()
                }
            }
        },
    };
    crate::proxy::sync(desired, spec, files, &unavailable).await
}
