//! One tenant's reconcile, kube-style: it is not told why it runs, so it
//! observes that tenant afresh, plans, and applies whatever differs. Costs
//! a handful of Docker calls whatever the size of the fleet: the observe
//! is filtered to the tenant's own objects (`observe_tenant`).

use crate::apply::{apply_tenant, dedupe_network, ensure_network, ApplyError};
use crate::desired::DesiredState;
use crate::docker::DockerClient;
use crate::observe::observe_tenant;
use crate::plan::{plan, TenantPlan};
use std::time::{Duration, Instant};

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
    /// The container is restarting over and over; reported, not fought.
    pub crash_looping: bool,
    pub duration: Duration,
}

/// Reconciles `tenant` of `desired` (which must contain it).
pub async fn reconcile_tenant(
    docker: &DockerClient,
    desired: &DesiredState,
    tenant: &str,
) -> Reconciled {
    let started = Instant::now();
    let mut result = Reconciled {
        tenant: tenant.to_string(),
        plan: None,
        done: vec![],
        failed: None,
        error: None,
        crash_looping: false,
        duration: Duration::ZERO,
    };
    let subset = desired.only(tenant);
    let Some(wanted) = subset.tenants.get(tenant) else {
        result.duration = started.elapsed();
        return result;
    };
    match observe_tenant(docker, &subset, wanted).await {
        Err(e) => result.error = Some(e.into()),
        Ok(observed) => {
            let mut plan = plan(&subset, &observed, false);
            if let Some(network) = &plan.repair_network {
                match dedupe_network(docker, network).await {
                    Ok(0) => {}
                    Ok(_) => result.done.push("repair_network"),
                    Err(e) => {
                        tracing::warn!(network, error = %e, "cannot remove duplicate networks")
                    }
                }
            }
            let network_ok = match &plan.create_network {
                Some(network) => match ensure_network(docker, &subset, network).await {
                    Ok(created) => {
                        if created {
                            result.done.push("create_network");
                        }
                        true
                    }
                    Err(e) => {
                        result.failed = Some("create_network");
                        result.error = Some(e.into());
                        false
                    }
                },
                None => true,
            };
            let tenant_plan = plan.tenants.remove(0);
            result.crash_looping = observed
                .containers
                .get(&tenant_plan.container)
                .is_some_and(|c| c.state == "restarting" && c.tenant_label() == Some(tenant));
            if network_ok {
                let outcome = apply_tenant(docker, &subset.tenants[tenant], &tenant_plan).await;
                result.done.extend(outcome.done);
                result.failed = outcome.failed;
                result.error = outcome.error;
            }
            result.plan = Some(tenant_plan);
        }
    }
    result.duration = started.elapsed();
    result
}
