//! One tenant's reconcile, kube-style: it is not told why it runs, so it
//! observes that tenant afresh, plans, and applies whatever differs. Costs
//! a handful of Docker calls whatever the size of the fleet.

use crate::apply::{apply_tenant, ensure_network, ApplyError};
use crate::desired::DesiredState;
use crate::docker::DockerClient;
use crate::observe::{observe, Detail};
use crate::plan::{plan, TenantPlan};

/// What one reconcile saw and did.
#[derive(Debug)]
pub struct Reconciled {
    pub plan: TenantPlan,
    /// Step names applied (empty when the tenant was in sync or paused).
    pub done: Vec<&'static str>,
    /// The container is restarting over and over; reported, not fought.
    pub crash_looping: bool,
}

impl Reconciled {
    /// The record of an orphan container removed by `--prune`.
    pub fn pruned() -> Self {
        Reconciled {
            plan: TenantPlan {
                tenant: String::new(),
                container: String::new(),
                paused: false,
                steps: vec![],
                conflicts: vec![],
            },
            done: vec!["remove"],
            crash_looping: false,
        }
    }
}

/// Reconciles `tenant` of `desired` (which must contain it).
pub async fn reconcile_tenant(
    docker: &DockerClient,
    desired: &DesiredState,
    tenant: &str,
) -> Result<Reconciled, ApplyError> {
    let subset = desired.only(tenant);
    let observed = observe(docker, &subset, Detail::Full).await?;
    let mut plan = plan(&subset, &observed, false);
    if let Some(network) = &plan.create_network {
        ensure_network(docker, &subset, network).await?;
    }
    let tenant_plan = plan.tenants.remove(0);
    let crash_looping = observed
        .containers
        .get(&tenant_plan.container)
        .is_some_and(|c| c.state == "restarting");
    let desired_tenant = &subset.tenants[tenant];
    let outcome = apply_tenant(docker, desired_tenant, &tenant_plan).await;
    match outcome.error {
        Some(e) => Err(e),
        None => Ok(Reconciled {
            plan: tenant_plan,
            done: outcome.done,
            crash_looping,
        }),
    }
}
