//! The reverse proxy side: render the proxy's config for the fleet (pure),
//! and apply it transactionally — nginx (`nginx`): write, `nginx -t`,
//! reload, probe, restoring the last good files on any failure; Caddy
//! (`caddy`): one atomic load through its admin API, probe. Either way
//! only the tenant whose part breaks the candidate is set aside.

mod caddy;
mod caddy_config;
mod diff;
mod nginx;
mod render;

pub use caddy_config::CADDY_FILE;
pub use diff::unified_diff;
pub use nginx::{listen_addr, read_current, ProxyError, ProxyOutcome};
pub use render::{
    render_common, render_tenant, render_tenant_file, tenant_file, tenant_of_file, tls_files,
    Certified, COMMON_FILE,
};

use crate::desired::{DesiredState, ProxyKind, ProxySpec};
use std::collections::BTreeMap;

/// The proxy's whole config for the fleet, as file name → content (the
/// nginx files, or Caddy's one JSON document).
pub fn render(
    desired: &DesiredState,
    proxy: &ProxySpec,
    unavailable: &BTreeSet<String>,
    certified: &Certified,
) -> BTreeMap<String, String> {
    match proxy.kind {
        ProxyKind::Nginx => render::render(desired, proxy, unavailable, certified),
        ProxyKind::Caddy { .. } => BTreeMap::from([(
            CADDY_FILE.to_string(),
            caddy_config::render(desired, proxy, unavailable, &BTreeSet::new()),
        )]),
    }
}

/// Brings the proxy to `candidate` (see the module docs).
pub async fn sync(
    desired: &DesiredState,
    proxy: &ProxySpec,
    candidate: BTreeMap<String, String>,
    unavailable: &BTreeSet<String>,
) -> ProxyOutcome {
    match proxy.kind {
        ProxyKind::Nginx => nginx::sync(desired, proxy, candidate, unavailable).await,
        ProxyKind::Caddy { .. } => caddy::sync(desired, proxy, candidate, unavailable).await,
    }
}
use crate::kinds::Health;
use crate::observe::ObservedState;
use std::collections::BTreeSet;

/// What the proxy side of the host holds now: the planner's input, read
/// (IO) before the pure plan as the Docker host is.
#[derive(Debug, Clone, Default)]
pub struct ProxyHost {
    /// The `tenantctl-*.conf` files on disk (name → content).
    pub files: std::collections::BTreeMap<String, String>,
    /// `tls = "acme"` tenants whose certificate is on disk, with its
    /// serial number (see [`Certified`]).
    pub certified: Certified,
}

/// The proxy host now (empty without a proxy). With Caddy, its config
/// read through the admin API.
pub async fn current(desired: &DesiredState) -> Result<ProxyHost, String> {
    match &desired.proxy {
        None => Ok(Default::default()),
        Some(spec) => Ok(ProxyHost {
            files: match spec.kind {
                ProxyKind::Nginx => read_current(&spec.config_dir)
                    .map_err(|e| format!("cannot read {}: {e}", spec.config_dir.display()))?,
                ProxyKind::Caddy { .. } => caddy::current_files(spec).await?,
            },
            certified: crate::certified::ready(desired),
        }),
    }
}

/// Tenants that must get the 503 page instead of a proxy: paused ones,
/// containers that are not running, and containers Docker reports
/// unhealthy (a starting container is given the benefit of the doubt).
/// A tenant blocked by a conflict keeps its proxy: whatever holds its name
/// or port (the old compose container, say) may be serving its site, and
/// when nothing answers there nginx's own `error_page` shows the 503 page.
pub fn unavailable(desired: &DesiredState, observed: &ObservedState) -> BTreeSet<String> {
    let published: BTreeSet<u16> = observed
        .containers
        .values()
        .flat_map(|c| c.published_ports.iter().copied())
        .collect();
    desired
        .tenants
        .values()
        .filter(|t| {
            let c = observed.managed(t);
            if c.is_none() && served_by_another(t, observed, &published) {
                return false;
            }
            t.paused || c.is_none_or(|c| !c.is_running() || c.health == Some(Health::Unhealthy))
        })
        .map(|t| t.name.clone())
        .collect()
}

/// Whether a container that is not the tenant's own holds its name or
/// publishes its port: the tenant is blocked, and that container may serve.
fn served_by_another(
    t: &crate::desired::DesiredTenant,
    observed: &ObservedState,
    published: &BTreeSet<u16>,
) -> bool {
    observed.containers.contains_key(&t.container_name) || published.contains(&t.port)
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
                || c.is_some_and(|c| c.health == Some(Health::Unhealthy))
        })
        .map(|t| t.name.clone())
        .collect()
}
