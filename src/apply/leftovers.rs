//! What a Docker daemon killed in the middle of a start leaves behind:
//! state it no longer knows about — a containerd task ("already exists"),
//! a runc id ("already in use"), the port of a stale endpoint ("already
//! allocated") — on which every later start of that container fails. A
//! container that never ran holds nothing (its data is in volumes), so it
//! is made again under a new id (found by the daemon-kill fault tests).
//! A volume whose creation the crash cut short exists without its labels:
//! if it is empty and unused it is made again, with them.

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

/// Removes the unlabeled volume `name` the plan found where the tenant's
/// volume should be (`Step::CreateVolume::reclaim`), only if nothing can
/// be lost: the local driver without options, no label at all, no
/// container using it, and its folder on this host readable and empty.
/// Otherwise (tenantctl not root, say) it is a conflict, as any foreign
/// volume is.
pub(super) async fn reclaim_volume(docker: &DockerClient, name: &str) -> Result<(), ApplyError> {
    let conflict = |why: &str| {
        ApplyError::Conflict(format!(
            "volume `{name}` exists but is not managed by tenantctl (no {} label); it is left alone ({why})",
            crate::labels::TENANT_LABEL
        ))
    };
    let owned = name.to_string();
    let volume = docker
        .call("inspect_volume", |d| async move {
            d.inspect_volume(&owned).await
        })
        .await?;
    if volume.driver != "local" || volume.options.values().any(|v| !v.is_empty()) {
        return Err(conflict("not a plain local volume"));
    }
    if !volume.labels.is_empty() {
        return Err(conflict("it carries labels"));
    }
    let filters = std::collections::HashMap::from([("volume".to_string(), vec![name.to_string()])]);
    let users = docker
        .call("list_containers", |d| async move {
            d.list_containers(Some(bollard::query_parameters::ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
        })
        .await?;
    if !users.is_empty() {
        return Err(conflict("a container uses it"));
    }
    match std::fs::read_dir(&volume.mountpoint).map(|mut d| d.next().is_none()) {
        Ok(true) => {}
        Ok(false) => return Err(conflict("it holds files")),
        Err(e) => {
            return Err(conflict(&format!(
                "its folder {} cannot be read here to see it is empty: {e}",
                volume.mountpoint
            )))
        }
    }
    tracing::warn!(volume = %name, "an empty volume without labels holds the tenant's volume name (a daemon crash cut its creation short): made again with tenantctl's labels");
    let owned = name.to_string();
    docker
        .call("remove_volume", |d| async move {
            d.remove_volume(
                &owned,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await
        })
        .await?;
    Ok(())
}
