//! Reading the host: three list calls, one image inspect per distinct
//! desired image, and (at full detail) one inspect per container we manage.

use super::convert::{container_from_summary, details_from_inspect, labels_of};
use super::{ObservedImage, ObservedState, Ownership};
use crate::desired::DesiredState;
use crate::docker::{DockerClient, DockerError};
use crate::labels::{FLEET_LABEL, TENANT_LABEL};
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use std::collections::BTreeSet;

/// How much to read: lists only (cheap, for frequent resyncs) or a full
/// inspect of every managed container (plan, apply, verify passes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    ListOnly,
    Full,
}

/// Observes everything the desired state could touch. Any failed call
/// fails the whole observation: a partial list must never look like
/// "nothing exists", or apply would recreate (or prune) what is there.
pub async fn observe(
    docker: &DockerClient,
    desired: &DesiredState,
    detail: Detail,
) -> Result<ObservedState, DockerError> {
    let (containers, networks, volumes) = tokio::try_join!(
        docker.call("list_containers", |d| async move {
            d.list_containers(Some(ListContainersOptions {
                all: true,
                ..Default::default()
            }))
            .await
        }),
        docker.call("list_networks", |d| async move {
            d.list_networks(None::<ListNetworksOptions>).await
        }),
        docker.call("list_volumes", |d| async move {
            d.list_volumes(None::<ListVolumesOptions>).await
        }),
    )?;
    let mut state = ObservedState::default();
    for summary in &containers {
        if let Some(c) = container_from_summary(summary) {
            state.containers.insert(c.name.clone(), c);
        }
    }
    for network in &networks {
        if let Some(name) = &network.name {
            let previous = state
                .networks
                .insert(name.clone(), ownership(&labels_of(network.labels.as_ref())));
            if previous.is_some() {
                state.duplicate_networks.insert(name.clone());
            }
        }
    }
    for volume in volumes.volumes.iter().flatten() {
        let labels = labels_of(Some(&volume.labels));
        state
            .volumes
            .insert(volume.name.clone(), ownership(&labels));
    }
    let refs: BTreeSet<&str> = desired.tenants.values().map(|t| t.image.as_str()).collect();
    for image in refs {
        match inspect_image(docker, image).await {
            Ok(found) => {
                state.images.insert(image.to_string(), found);
            }
            // The daemon answered, about this reference only (e.g. 400 for
            // a name it cannot parse): the tenants using it are blocked,
            // the others go on. Not answering at all fails the pass.
            Err(DockerError::Api { source, .. }) if answered(&source) => {
                state
                    .image_errors
                    .insert(image.to_string(), source.to_string());
            }
            Err(e) => return Err(e),
        }
    }
    if detail == Detail::Full {
        inspect_managed(docker, desired, &mut state).await?;
    }
    Ok(state)
}

fn ownership(labels: &std::collections::BTreeMap<String, String>) -> Ownership {
    match labels.get(TENANT_LABEL) {
        Some(tenant) => Ownership::Ours {
            tenant: tenant.clone(),
            fleet: labels.get(FLEET_LABEL).cloned(),
        },
        None => Ownership::Foreign,
    }
}

/// A 4xx from the daemon: it is up and refused this one request.
fn answered(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError { status_code, .. }
            if (400..500).contains(status_code)
    )
}

/// The image's id and env, or `None` when it is not on this host.
pub async fn inspect_image(
    docker: &DockerClient,
    image: &str,
) -> Result<Option<ObservedImage>, DockerError> {
    let name = image.to_string();
    match docker
        .call(
            "inspect_image",
            |d| async move { d.inspect_image(&name).await },
        )
        .await
    {
        Ok(inspect) => Ok(Some(ObservedImage {
            id: inspect.id.unwrap_or_default(),
            env: inspect.config.and_then(|c| c.env).unwrap_or_default(),
        })),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Inspects the containers that bear a desired tenant's name or carry our
/// label under our prefix. A container removed between list and inspect
/// is simply dropped: the next pass sees it gone.
async fn inspect_managed(
    docker: &DockerClient,
    desired: &DesiredState,
    state: &mut ObservedState,
) -> Result<(), DockerError> {
    let prefix = format!("{}-", desired.name_prefix);
    let wanted: BTreeSet<&str> = desired
        .tenants
        .values()
        .map(|t| t.container_name.as_str())
        .collect();
    let names: Vec<String> = state
        .containers
        .values()
        .filter(|c| {
            wanted.contains(c.name.as_str())
                || (c.tenant_label().is_some() && c.name.starts_with(&prefix))
        })
        .map(|c| c.name.clone())
        .collect();
    for name in names {
        let id = state.containers[&name].id.clone();
        let inspected = docker
            .call("inspect_container", |d| async move {
                d.inspect_container(&id, None).await
            })
            .await;
        let inspect = match inspected {
            Ok(i) => i,
            Err(e) if e.is_not_found() => {
                state.containers.remove(&name);
                continue;
            }
            Err(e) => return Err(e),
        };
        let image_id = inspect.image.clone().unwrap_or_default();
        if !state.images.contains_key(&image_id) {
            let found = inspect_image(docker, &image_id).await?;
            state.images.insert(image_id.clone(), found);
        }
        let image_env = state.images[&image_id]
            .as_ref()
            .map(|i| i.env.clone())
            .unwrap_or_default();
        let details = details_from_inspect(&inspect, &image_env);
        if let Some(c) = state.containers.get_mut(&name) {
            if let Some(status) = inspect
                .state
                .as_ref()
                .and_then(|s| s.health.as_ref())
                .and_then(|h| h.status)
            {
                c.health = Some(status.to_string()).filter(|s| !s.is_empty() && s != "none");
            }
            c.details = Some(details);
        }
    }
    Ok(())
}
