//! Reads a [`SwarmView`]: services, tasks, nodes, the fleet's networks,
//! and the id of each image the fleet names — five list or inspect calls
//! for any number of tenants (one inspect per distinct image).

use super::view::{NodeInfo, ObservedService, SwarmView, TaskInfo};
use crate::desired::DesiredState;
use crate::docker::{DockerClient, DockerError};
use std::collections::{BTreeMap, BTreeSet, HashMap};

fn word<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

pub async fn observe_swarm(
    docker: &DockerClient,
    desired: &DesiredState,
) -> Result<SwarmView, DockerError> {
    let services = docker
        .call(
            "service_list",
            |d| async move { d.list_services(None).await },
        )
        .await?;
    let tasks = docker
        .call("task_list", |d| async move { d.list_tasks(None).await })
        .await?;
    let nodes = docker
        .call("node_list", |d| async move { d.list_nodes(None).await })
        .await?;
    let wanted: BTreeSet<String> = desired
        .tenants
        .values()
        .flat_map(|t| std::iter::once(t.network.clone()).chain(t.extra_networks.clone()))
        .chain(std::iter::once(desired.network.clone()))
        .collect();
    let filters: HashMap<String, Vec<String>> =
        HashMap::from([("name".to_string(), wanted.iter().cloned().collect())]);
    let networks = docker
        .call("network_list", |d| async move {
            d.list_networks(Some(bollard::query_parameters::ListNetworksOptions {
                filters: Some(filters),
            }))
            .await
        })
        .await?;
    let mut view = SwarmView::default();
    for s in services {
        let (Some(id), Some(spec)) = (s.id, s.spec) else {
            continue;
        };
        let Some(name) = spec.name.clone() else {
            continue;
        };
        let status = s.update_status.unwrap_or_default();
        view.services.insert(
            name,
            ObservedService {
                id,
                version: s.version.and_then(|v| v.index).unwrap_or(0),
                spec,
                update_state: status
                    .state
                    .map(|s| s.to_string())
                    .filter(|s| !s.is_empty()),
                update_message: status.message,
            },
        );
    }
    for t in tasks {
        let Some(service) = t.service_id else {
            continue;
        };
        let status = t.status.unwrap_or_default();
        view.tasks.entry(service).or_default().push(TaskInfo {
            node_id: t.node_id,
            state: word(status.state),
            desired_state: word(t.desired_state),
            message: status.err.or(status.message).unwrap_or_default(),
            updated_at: word(t.updated_at),
        });
    }
    for list in view.tasks.values_mut() {
        list.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
    }
    for n in nodes {
        let spec = n.spec.unwrap_or_default();
        let status = n.status.unwrap_or_default();
        view.nodes.push(NodeInfo {
            id: n.id.unwrap_or_default(),
            hostname: n.description.and_then(|d| d.hostname).unwrap_or_default(),
            state: word(status.state),
            availability: word(spec.availability),
            addr: status.addr.unwrap_or_default(),
        });
    }
    view.nodes.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    for n in networks {
        if let (Some(name), Some(id)) = (n.name, n.id) {
            // The name filter matches substrings: keep exact names only.
            if wanted.contains(&name) {
                view.networks.insert(name, id);
            }
        }
    }
    let images: BTreeSet<String> = desired.tenants.values().map(|t| t.image.clone()).collect();
    let mut ids = BTreeMap::new();
    for image in images {
        let name = image.clone();
        let id = match docker
            .call(
                "image_inspect",
                |d| async move { d.inspect_image(&name).await },
            )
            .await
        {
            Ok(i) => i.id,
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        ids.insert(image, id);
    }
    view.images = ids;
    Ok(view)
}
