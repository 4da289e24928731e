//! The reverse proxy side: render nginx config for the fleet (pure), and
//! apply it transactionally (`nginx`): write, `nginx -t`, reload, probe —
//! restoring the last good files on any failure, and setting aside just
//! the tenant whose block breaks the candidate.

mod nginx;
mod render;

pub use nginx::{read_current, sync, unified_diff, ProxyError, ProxyOutcome};
pub use render::{render, render_common, render_tenant, tenant_file, tenant_of_file, COMMON_FILE};

use crate::desired::DesiredState;
use crate::observe::ObservedState;
use std::collections::BTreeSet;

/// Tenants that must get the 503 page instead of a proxy: paused ones,
/// containers that are not running, and containers Docker reports
/// unhealthy (a starting container is given the benefit of the doubt).
pub fn unavailable(desired: &DesiredState, observed: &ObservedState) -> BTreeSet<String> {
    desired
        .tenants
        .values()
        .filter(|t| {
            let c = observed.managed(t);
            t.paused
                || c.is_none_or(|c| !c.is_running() || c.health.as_deref() == Some("unhealthy"))
        })
        .map(|t| t.name.clone())
        .collect()
}

/// What `plan` expects after apply: apply starts stopped containers, so
/// only paused tenants that are not running and containers Docker reports
/// unhealthy get the 503 page.
pub fn expected_unavailable(desired: &DesiredState, observed: &ObservedState) -> BTreeSet<String> {
    desired
        .tenants
        .values()
        .filter(|t| {
            let c = observed.managed(t);
            (t.paused && c.is_none_or(|c| !c.is_running()))
                || c.is_some_and(|c| c.health.as_deref() == Some("unhealthy"))
        })
        .map(|t| t.name.clone())
        .collect()
}
