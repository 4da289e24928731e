//! Recreating a container by replacement, so that a failed recreate never
//! leaves a tenant down: the new container is made under a temporary name
//! and must be running before the old one (kept aside, stopped) goes.
//!
//! 1. create `<name>--new` (the old container still serves);
//! 2. stop the old one and rename it `<name>--old`;
//! 3. start the new one and pass [`ready`] — if either fails, remove the
//!    new one, rename the old one back and start it;
//! 4. remove the old one, rename the new one `<name>`.
//!
//! A crash between any two steps leaves containers that carry the
//! tenant's labels under the names above; the next plan finds them
//! (`ObservedState::by_tenant`) and finishes or undoes the step
//! (`Step::Recover`).

use super::{create_named, force_remove, rename, start, ApplyError};
use crate::desired::DesiredTenant;
use crate::docker::DockerClient;
use std::time::Duration;

/// Replaces the tenant's container (see the module docs).
pub async fn replace(docker: &DockerClient, tenant: &DesiredTenant) -> Result<(), ApplyError> {
    let (name, new, old) = (
        tenant.container_name.as_str(),
        tenant.replacement_name(),
        tenant.aside_name(),
    );
    // A replacement left over from an earlier failed try is never started.
    force_remove(docker, &new).await?;
    create_named(docker, tenant, &new).await?;
    if let Err(e) = super::stop(docker, name, tenant.stop_timeout_secs).await {
        force_remove(docker, &new).await?;
        return Err(e.into());
    }
    if let Err(e) = rename(docker, name, &old).await {
        force_remove(docker, &new).await?;
        let _ = start(docker, name).await;
        return Err(e.into());
    }
    let started = match start(docker, &new).await {
        Ok(()) => ready(docker, &new).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = started {
        tracing::warn!(container = name, error = %e, "the new container did not start; putting the old one back");
        force_remove(docker, &new).await?;
        rename(docker, &old, name).await?;
        start(docker, name).await?;
        return Err(ApplyError::RolledBack(Box::new(e)));
    }
    force_remove(docker, &old).await?;
    rename(docker, &new, name).await?;
    Ok(())
}

/// The gate a replacement must pass before the old container is removed:
/// today, still running a moment after start (a port taken or a binary
/// that exits at once fails here). The rollouts work adds the health
/// check and `min_ready` to this one function.
async fn ready(docker: &DockerClient, name: &str) -> Result<(), ApplyError> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let owned = name.to_string();
    let inspect = docker
        .call("inspect_container", |d| async move {
            d.inspect_container(&owned, None).await
        })
        .await?;
    let state = inspect.state.unwrap_or_default();
    if state.running == Some(true) && state.restarting != Some(true) {
        Ok(())
    } else {
        Err(ApplyError::NotRunning {
            container: name.to_string(),
            exit_code: state.exit_code.unwrap_or_default(),
        })
    }
}
