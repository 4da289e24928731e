//! Recreating a container by replacement, so that a failed recreate never
//! leaves a tenant down: the new container is made under a temporary name
//! and must pass a [`Gate`] before the old one (kept aside, stopped) goes.
//!
//! 1. create `<name>--new` (the old container still serves);
//! 2. stop the old one and rename it aside (`<name>--old`);
//! 3. start the new one; once it passes its health check it is renamed
//!    `<name>` and must stay healthy for `min_ready` (the [`Gate`]) — if
//!    anything fails, remove the new one, rename the old one back and
//!    start it;
//! 4. remove the old one (unless kept).
//!
//! A crash between any two steps leaves containers that carry the
//! tenant's labels under the names above; the next plan finds them
//! (`ObservedState::by_tenant`) and finishes or undoes the step
//! (`Step::Recover`). Adoption (`adopt.rs`) is the same swap with the old
//! container set aside as `<name>-pre-adopt` and a health gate.

use super::{create_named, force_remove, rename, start, ApplyError};
use crate::desired::DesiredTenant;
use crate::docker::DockerClient;
use crate::lifecycle::health_gate::{stay_healthy, wait_healthy};
use std::time::{Duration, Instant};

/// What a new container must pass before the old one is removed:
/// answering its health path within `deadline` (a port taken or a binary
/// that exits at once fails at once), then staying healthy for
/// `min_ready` (`health_gate`).
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    pub deadline: Duration,
    pub min_ready: Duration,
}

/// Replaces the tenant's container (see the module docs), gated on its
/// health as `[rollout]` says.
pub async fn replace(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    gate: Gate,
) -> Result<(), ApplyError> {
    swap(docker, tenant, &tenant.aside_name(), gate, false)
        .await
        .map(|_| ())
}

/// Swaps the container named for the tenant (ours or not) for a new one
/// of the tenant's spec, the old one set aside as `aside` meanwhile. `Ok`
/// holds the downtime: the old one stopped until the new one passed.
pub async fn swap(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    aside: &str,
    gate: Gate,
    keep_old: bool,
) -> Result<Duration, ApplyError> {
    let (name, new) = (tenant.container_name.as_str(), tenant.replacement_name());
    // A replacement left over from an earlier failed try is never started.
    force_remove(docker, &new).await?;
    create_named(docker, tenant, &new).await?;
    let down = Instant::now();
    if let Err(e) = super::stop(docker, name, tenant.stop_timeout_secs).await {
        force_remove(docker, &new).await?;
        return Err(e.into());
    }
    if let Err(e) = rename(docker, name, aside).await {
        force_remove(docker, &new).await?;
        let _ = start(docker, name).await;
        return Err(e.into());
    }
    // Healthy once: it takes the tenant's name at once (tools that
    // address the container by name see it), then must stay healthy for
    // `min_ready` before the old one goes. Downtime ends at that answer.
    let mut current = new.as_str();
    let started = start(docker, &new).await;
    let ran = started.is_ok();
    let healthy = match started {
        Ok(()) => wait_healthy(docker, tenant, &new, gate.deadline).await,
        Err(e) => Err(e.into()),
    };
    let downtime = down.elapsed();
    let passed = match healthy {
        Ok(()) => match rename(docker, &new, name).await {
            Ok(()) => {
                current = name;
                stay_healthy(docker, tenant, name, gate.min_ready).await
            }
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = passed {
        tracing::warn!(container = name, error = %e, "the new container did not pass; putting the old one back");
        force_remove(docker, current).await?;
        rename(docker, aside, name).await?;
        start(docker, name).await?;
        return Err(ApplyError::RolledBack {
            error: Box::new(e),
            ran,
        });
    }
    if keep_old {
        tracing::info!(container = %aside, "the old container is kept, stopped; remove it when you no longer need it");
    } else {
        force_remove(docker, aside).await?;
    }
    Ok(downtime)
}
