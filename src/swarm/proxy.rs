//! The proxy in front of a Swarm fleet: the same nginx or Caddy config as
//! on one server, each upstream at `<address of the node that runs the
//! tenant>:<port>` (its host-mode port answers there). A tenant whose
//! task is not running gets the 503 page. The proxy runs where
//! `tenantctl` runs (a manager), and reaches the nodes over their
//! addresses.

use super::plan::SwarmPlan;
use super::view::SwarmView;
use crate::desired::DesiredState;
use std::collections::BTreeSet;

/// `desired` with each tenant's upstream host set to its node's address
/// (pure). A tenant without a known node keeps its own `host_ip`.
pub fn with_node_addresses(
    desired: &DesiredState,
    plan: &SwarmPlan,
    view: &SwarmView,
) -> DesiredState {
    let mut out = desired.clone();
    for p in &plan.tenants {
        let addr = p
            .node
            .as_deref()
            .and_then(|n| view.node_named(n))
            .map(|n| n.addr.clone())
            .filter(|a| !a.is_empty());
        if let (Some(addr), Some(t)) = (addr, out.tenants.get_mut(&p.tenant)) {
            std::sync::Arc::make_mut(t).host_ip = addr;
        }
    }
    out
}

/// Renders and syncs the proxy when the file has one; `None` without.
pub async fn sync_proxy(
    desired: &DesiredState,
    plan: &SwarmPlan,
    view: &SwarmView,
) -> Option<crate::proxy::ProxyOutcome> {
    let spec = desired.proxy.as_ref()?;
    let routed = with_node_addresses(desired, plan, view);
    // A tenant whose task is not running (yet) gets the 503 page; the
    // next pass routes it once it runs (the reload probe tries a tenant
    // that serves).
    let unavailable: BTreeSet<String> = plan
        .tenants
        .iter()
        .filter(|t| !t.running())
        .map(|t| t.tenant.clone())
        .collect();
    let certified = crate::certified::ready(desired);
    let candidate = crate::proxy::render(&routed, spec, &unavailable, &certified);
    let outcome = crate::proxy::sync(&routed, spec, candidate, &unavailable).await;
    if let Some(e) = &outcome.error {
        tracing::error!(error = %e, "proxy sync failed; it keeps serving its last good config");
    } else if outcome.reloaded {
        tracing::info!(files = outcome.changed_files.len(), "proxy reloaded");
    }
    Some(outcome)
}
