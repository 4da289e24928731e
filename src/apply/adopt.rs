//! Taking over a container tenantctl did not create (`--adopt`), on the
//! same data mounts, without copying or moving data:
//!
//! 1. create ours as `<name>--new` (the old one still serves);
//! 2. stop the old one and rename it `<name>-pre-adopt` — downtime starts;
//! 3. start ours and wait until it is healthy ([`wait_healthy`]) — it ends;
//! 4. remove the old one (or keep it stopped with `keep_old`), and give
//!    ours the name.
//!
//! If ours does not start or is not healthy by the deadline, it is removed
//! and the old one gets its name back and is started: the client runs as
//! before. A crash in between leaves ours as `--new` (found by its labels
//! and recovered by the next plan) and the old one stopped as
//! `-pre-adopt`, which nothing deletes: it is never ours.

use super::health_gate::wait_healthy;
use super::{create_named, force_remove, rename, start, ApplyError};
use crate::desired::DesiredTenant;
use crate::docker::DockerClient;
use crate::plan::Adoption;
use std::time::{Duration, Instant};

/// The name the old container is kept under.
pub fn pre_adopt_name(tenant: &DesiredTenant) -> String {
    format!("{}-pre-adopt", tenant.container_name)
}

/// Adopts the tenant's container; `Ok` holds the downtime (old stopped →
/// new healthy).
pub async fn adopt(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    adoption: Adoption,
) -> Result<Duration, ApplyError> {
    let (name, new, old) = (
        tenant.container_name.as_str(),
        tenant.replacement_name(),
        pre_adopt_name(tenant),
    );
    force_remove(docker, &new).await?;
    create_named(docker, tenant, &new).await?;
    let down = Instant::now();
    if let Err(e) = super::stop(docker, name, tenant.stop_timeout_secs).await {
        force_remove(docker, &new).await?;
        return Err(e.into());
    }
    if let Err(e) = rename(docker, name, &old).await {
        force_remove(docker, &new).await?;
        let _ = start(docker, name).await;
        return Err(ApplyError::RolledBack(Box::new(e.into())));
    }
    let deadline = Duration::from_secs(adoption.deadline_secs);
    let healthy = match start(docker, &new).await {
        Ok(()) => wait_healthy(docker, tenant, &new, deadline).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = healthy {
        tracing::warn!(container = name, error = %e, "the adopted container's replacement is not healthy; putting the old one back");
        force_remove(docker, &new).await?;
        rename(docker, &old, name).await?;
        start(docker, name).await?;
        return Err(ApplyError::RolledBack(Box::new(e)));
    }
    let downtime = down.elapsed();
    if adoption.keep_old {
        tracing::info!(container = %old, "the old container is kept, stopped; remove it when you no longer need it");
    } else {
        force_remove(docker, &old).await?;
    }
    rename(docker, &new, name).await?;
    Ok(downtime)
}
