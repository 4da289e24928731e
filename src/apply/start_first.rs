//! `strategy = "start-first"`: an update with no failed request through
//! the proxy, for apps that tolerate two instances on one volume.
//!
//! A container's published port cannot change in place, and the tenant's
//! own port is held by the old container until it stops, so the update
//! takes two hops behind nginx:
//! 1. a **bridge** (`<name>--bridge`) of the new spec starts on a spare
//!    host port and must pass its health check; nginx is switched to it
//!    (test, reload, probe) — the old container still serves until then;
//! 2. the tenant's own container is swapped exactly as `stop-first` does
//!    (`replace::swap`, gated) while nginx sends every request to the
//!    bridge; then nginx goes back to the tenant's own port and the bridge
//!    is removed.
//!
//! If the bridge fails its gate nothing else was touched. If the swap
//! fails, the old container is back (as in `stop-first`) and nginx returns
//! to it. Without a proxy (or a domain) there is nothing to switch, and
//! the update is `stop-first`. A crash leaves a bridge the next plan
//! removes (`Step::Recover`; it never gets the tenant's name) and nginx
//! files the next proxy sync renders back to the tenant's port.

use super::replace::{swap, Gate};
use super::{create_named, force_remove, start, ApplyError};
use crate::desired::{DesiredState, DesiredTenant};
use crate::docker::DockerClient;
use crate::lifecycle::health_gate::wait_healthy;
use std::collections::BTreeSet;
use std::time::Duration;

/// How long requests already sent to a container may take to finish after
/// nginx stopped sending new ones there (a reload lets old workers finish).
const DRAIN: Duration = Duration::from_secs(1);

/// One switch of nginx at a time in this process: two tenants of a batch
/// must not each write the files the other just read.
static PROXY_SWITCH: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn replace(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    fleet: &DesiredState,
    gate: Gate,
) -> Result<(), ApplyError> {
    let Some(proxy) = fleet.proxy.as_ref().filter(|_| tenant.domain.is_some()) else {
        tracing::info!("start-first needs the proxy and a domain; updating stop-first");
        return swap(docker, tenant, &tenant.aside_name(), gate, false)
            .await
            .map(|_| ());
    };
    let mut bridge = tenant.clone();
    bridge.container_name = tenant.bridge_name();
    bridge.port = spare_port(&tenant.host_ip)?;
    force_remove(docker, &bridge.container_name).await?;
    create_named(docker, &bridge, &bridge.container_name).await?;
    let started = start(docker, &bridge.container_name).await;
    let ran = started.is_ok();
    let healthy = match started {
        Ok(()) => wait_healthy(docker, &bridge, &bridge.container_name, gate.deadline).await,
        Err(e) => Err(e.into()),
    };
    let switched = match healthy {
        Ok(()) => switch(fleet, proxy, &bridge).await,
        Err(e) => Err(e),
    };
    if let Err(e) = switched {
        force_remove(docker, &bridge.container_name).await?;
        return Err(ApplyError::RolledBack {
            error: Box::new(e),
            ran,
        });
    }
    tracing::info!(
        port = bridge.port,
        "nginx serves the new version from its bridge"
    );
    tokio::time::sleep(DRAIN).await;
    let result = swap(docker, tenant, &tenant.aside_name(), gate, false).await;
    // The tenant's own container runs (new, or old put back): nginx goes
    // back to its port before the bridge goes.
    if let Err(e) = switch(fleet, proxy, tenant).await {
        // nginx still sends the tenant's requests to the bridge: it keeps
        // serving until the next proxy sync, which a plan (removing it as
        // a leftover) comes with.
        tracing::warn!(error = %e, "nginx could not be switched back; the bridge keeps serving for now");
        return Err(e);
    }
    tokio::time::sleep(DRAIN).await;
    force_remove(docker, &bridge.container_name).await?;
    result.map(|_| ())
}

/// Points the tenant's nginx block at `target`'s port, transactionally.
async fn switch(
    fleet: &DesiredState,
    proxy: &crate::desired::ProxySpec,
    target: &DesiredTenant,
) -> Result<(), ApplyError> {
    let _one = PROXY_SWITCH.lock().await;
    let files = match proxy.kind {
        crate::desired::ProxyKind::Nginx => {
            let mut files = crate::proxy::read_current(&proxy.config_dir).map_err(|e| {
                ApplyError::Proxy(format!("cannot read {}: {e}", proxy.config_dir.display()))
            })?;
            files.insert(
                crate::proxy::tenant_file(&target.name),
                crate::proxy::render_tenant_file(
                    target,
                    proxy,
                    true,
                    &crate::certified::ready(fleet),
                ),
            );
            files
        }
        // Caddy takes its whole config at once: the fleet's, with this
        // tenant pointing at `target`.
        crate::desired::ProxyKind::Caddy { .. } => {
            let mut switched = fleet.clone();
            switched
                .tenants
                .insert(target.name.clone(), std::sync::Arc::new(target.clone()));
            crate::proxy::render(&switched, proxy, &BTreeSet::new(), &Default::default())
        }
    };
    let outcome = crate::proxy::sync(fleet, proxy, files, &BTreeSet::new()).await;
    match (outcome.error, outcome.set_aside.get(&target.name)) {
        (Some(e), _) => Err(ApplyError::Proxy(e.to_string())),
        (None, Some(why)) => Err(ApplyError::Proxy(why.clone())),
        (None, None) => Ok(()),
    }
}

/// A free TCP port on `host_ip` (the kernel's pick; released at once, so
/// another process could take it before Docker does: then the bridge does
/// not start, and the update stops before anything was touched).
fn spare_port(host_ip: &str) -> Result<u16, ApplyError> {
    let ip = if host_ip.is_empty() || host_ip == "0.0.0.0" {
        "127.0.0.1"
    } else {
        host_ip
    };
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ApplyError::Proxy(format!("no spare port on {ip} for the bridge: {e}")))
}
