//! What a Docker daemon killed in the middle of a start leaves behind:
//! state it no longer knows about — a containerd task ("already exists"),
//! a runc id ("already in use"), the port of a stale endpoint ("already
//! allocated") — on which every later start of that container fails. A
//! container that never ran holds nothing (its data is in volumes), so it
//! is made again under a new id (found by the daemon-kill fault tests).

use super::{create_named, force_remove, start, ApplyError};
use crate::desired::DesiredTenant;
use crate::docker::{DockerClient, DockerError};

const LEFTOVER_MESSAGES: [&str; 3] = ["already exists", "already in use", "already allocated"];

/// `failed` is the error of starting the tenant's container. Unless it is
/// a crash leftover on a container that never ran, it is returned as is.
pub(super) async fn remake_half_started(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    failed: DockerError,
) -> Result<(), ApplyError> {
    let name = &tenant.container_name;
    let message = failed.to_string();
    let leftover = LEFTOVER_MESSAGES.iter().any(|m| message.contains(m));
    if !leftover || !never_started(docker, name).await {
        return Err(failed.into());
    }
    tracing::warn!(container = %name, error = %message, "container left half-started by a daemon crash: created again; volumes kept");
    force_remove(docker, name).await?;
    // A stale endpoint keeps the old one's port "allocated"; a forced
    // disconnect by name is Docker's way to drop it.
    for network in std::iter::once(&tenant.network).chain(&tenant.extra_networks) {
        let request = bollard::models::NetworkDisconnectRequest {
            container: name.clone(),
            force: Some(true),
        };
        let network = network.clone();
        let _ = docker
            .call("disconnect_network", |d| async move {
                d.disconnect_network(&network, request).await
            })
            .await;
    }
    create_named(docker, tenant, name).await?;
    Ok(start(docker, name).await?)
}

/// A start that failed because Docker still holds the port is not a
/// conflict with anyone (the plan found no container publishing it):
/// Docker 20.10 restores the port mappings of an endpoint a crash cut
/// short, invisibly, until its next clean restart. Said so, as a conflict,
/// so the controller waits for the next event or pass instead of churning.
pub(super) fn explain(e: ApplyError) -> ApplyError {
    match e {
        ApplyError::Docker(d) if d.to_string().contains("port is already allocated") => {
            ApplyError::Conflict(format!(
                "{d}; no container publishes this port: the Docker daemon still holds it for a container its crash cut short (a Docker bug) — a clean restart of the daemon (systemctl restart docker) frees it"
            ))
        }
        other => other,
    }
}

/// Whether the container exists and has never run (`Created`, no start
/// time): removing it loses nothing.
async fn never_started(docker: &DockerClient, name: &str) -> bool {
    let owned = name.to_string();
    let Ok(inspect) = docker
        .call("inspect_container", |d| async move {
            d.inspect_container(&owned, None).await
        })
        .await
    else {
        return false;
    };
    let Some(state) = inspect.state else {
        return false;
    };
    let created = state
        .status
        .is_some_and(|s| s == bollard::models::ContainerStateStatusEnum::CREATED);
    let never = state
        .started_at
        .as_deref()
        .is_none_or(|t| t.starts_with("0001-01-01"));
    created && never
}
