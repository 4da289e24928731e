//! `tenantctl purge`: the one command that deletes a tenant's volumes
//! (apply, run and prune never do), for a tenant that has left the file,
//! and only after a final backup of them succeeded and read back.
//!
//! Its container is gone by then (pruned), and Docker's archive API reads
//! from a container: a temporary one is created — never started — that
//! mounts the volumes, from an image already on the host (the one the
//! tenant's newest backup ran, else one the file uses).

use super::manifest::Manifest;
use super::take::{discard, download_all, finish, new_id, Reason};
use super::{store, BackupError};
use crate::desired::DesiredState;
use crate::docker::DockerClient;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, ListVolumesOptions,
};
use std::collections::HashMap;
use std::time::Instant;

#[derive(Debug)]
pub struct Purged {
    pub backup: Manifest,
    pub volumes: Vec<String>,
}

pub async fn purge_tenant(
    docker: &DockerClient,
    desired: &DesiredState,
    tenant: &str,
    now_unix: i64,
) -> Result<Purged, BackupError> {
    if desired.tenants.contains_key(tenant) {
        return Err(BackupError::Refused(format!(
            "tenant `{tenant}` is in the file: purge only deletes the data of a tenant that has left it"
        )));
    }
    let label = format!("{}={tenant}", crate::labels::TENANT_LABEL);
    let filters = HashMap::from([("label".to_string(), vec![label.clone()])]);
    let containers = docker
        .call("list_containers", |d| async move {
            d.list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
        })
        .await?;
    let fleet = &desired.fleet;
    let ours = |labels: &HashMap<String, String>| {
        let labels: std::collections::BTreeMap<String, String> =
            labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        crate::labels::stamped(&labels, fleet)
    };
    if containers
        .iter()
        .any(|c| c.labels.as_ref().is_some_and(ours))
    {
        return Err(BackupError::Refused(format!(
            "tenant `{tenant}` still has a container; `tenantctl apply --prune` removes it first"
        )));
    }
    let filters = HashMap::from([("label".to_string(), vec![label])]);
    let listed = docker
        .call("list_volumes", |d| async move {
            d.list_volumes(Some(ListVolumesOptions {
                filters: Some(filters),
            }))
            .await
        })
        .await?;
    let mut volumes: Vec<String> = listed
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter(|v| ours(&v.labels))
        .map(|v| v.name)
        .collect();
    volumes.sort();
    if volumes.is_empty() {
        return Err(BackupError::Refused(format!(
            "tenant `{tenant}` has no volumes of fleet `{fleet}`: nothing to purge"
        )));
    }
    let _hold = crate::hold::hold(fleet, tenant)?;
    let image = image_to_read_with(docker, desired, tenant).await?;
    let prefix = format!("{}-{tenant}-", desired.name_prefix);
    // Each volume at /purge/<key>: the archive's entries are named after it.
    let sources: Vec<(String, String)> = volumes
        .iter()
        .map(|v| {
            let key = v.strip_prefix(&prefix).unwrap_or(v).to_string();
            (key.clone(), format!("/purge/{key}"))
        })
        .collect();
    let helper = format!("{}-{tenant}--purge", desired.name_prefix);
    let body = ContainerCreateBody {
        image: Some(image.clone()),
        // The operator's labels and our fleet, but no tenant label: it is
        // nobody's tenant container (never planned, pruned or adopted).
        labels: Some(
            desired
                .extra_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain([(crate::labels::FLEET_LABEL.to_string(), fleet.clone())])
                .collect(),
        ),
        host_config: Some(HostConfig {
            mounts: Some(
                volumes
                    .iter()
                    .zip(&sources)
                    .map(|(v, (_, target))| Mount {
                        typ: Some(MountType::VOLUME),
                        source: Some(v.clone()),
                        target: Some(target.clone()),
                        read_only: Some(true),
                        ..Default::default()
                    })
                    .collect(),
            ),
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    remove(docker, &helper).await?;
    let options = CreateContainerOptions {
        name: Some(helper.clone()),
        ..Default::default()
    };
    docker
        .call("create_container", |d| async move {
            d.create_container(Some(options), body).await
        })
        .await?;
    let folder = store::tenant_dir(&desired.backup.dir, tenant);
    std::fs::create_dir_all(&folder).map_err(|e| BackupError::io(&folder, e))?;
    let id = new_id(&folder, now_unix);
    let started = Instant::now();
    let (written, result) = download_all(docker, &helper, &folder, &id, &sources).await;
    remove(docker, &helper).await?;
    if let Err(e) = result {
        discard(&written);
        return Err(e);
    }
    let archives = finish(&folder, &written)?;
    let manifest = Manifest {
        id,
        tenant: tenant.to_string(),
        fleet: fleet.clone(),
        created_unix: now_unix,
        image,
        image_id: String::new(),
        spec_hash: String::new(),
        tenantctl_version: env!("CARGO_PKG_VERSION").to_string(),
        consistency: crate::kinds::Consistency::None,
        pause_seconds: 0.0,
        duration_seconds: started.elapsed().as_secs_f64(),
        volumes: archives,
        verified: None,
        reason: Reason::Final,
    };
    store::save(&desired.backup.dir, &manifest).map_err(|e| BackupError::io(&folder, e))?;
    for v in &volumes {
        let owned = v.clone();
        docker
            .call("remove_volume", |d| async move {
                d.remove_volume(
                    &owned,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await
            })
            .await?;
        tracing::info!(volume = %v, backup = %manifest.id, "purged after its final backup");
    }
    Ok(Purged {
        backup: manifest,
        volumes,
    })
}

/// An image on this host to create the reading container from.
async fn image_to_read_with(
    docker: &DockerClient,
    desired: &DesiredState,
    tenant: &str,
) -> Result<String, BackupError> {
    let mut candidates: Vec<String> = super::store::list(&desired.backup.dir, tenant)
        .unwrap_or_default()
        .iter()
        .rev()
        .flat_map(|m| [m.image_id.clone(), m.image.clone()])
        .collect();
    candidates.extend(desired.tenants.values().map(|t| t.image.clone()));
    for image in candidates.into_iter().filter(|i| !i.is_empty()) {
        if crate::observe::inspect_image(docker, &image)
            .await?
            .is_some()
        {
            return Ok(image);
        }
    }
    Err(BackupError::Refused(
        "no image on this host to read the volumes with (the tenant's last image is gone and the file names none that is here)".into(),
    ))
}

async fn remove(docker: &DockerClient, name: &str) -> Result<(), BackupError> {
    Ok(crate::lifecycle::force_remove(docker, name).await?)
}
