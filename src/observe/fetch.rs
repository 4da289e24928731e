//! Reading the host. A fleet pass: three list calls, one image inspect per
//! distinct desired image, and (at full detail) one inspect per container
//! we manage. One tenant's reconcile ([`observe_tenant`]): label-, name-
//! and port-filtered lists and inspects of that tenant's objects only, so
//! its cost does not grow with the fleet.

use super::convert::{container_from_summary, details_from_inspect, labels_of};
use super::{HostView, ObservedImage, ObservedState};
use crate::desired::{DesiredState, DesiredTenant};
use crate::docker::{DockerClient, DockerError};
use crate::labels::TENANT_LABEL;
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use std::collections::{BTreeSet, HashMap};
use std::iter::empty;

/// How much to read: lists only (cheap, for frequent resyncs) or a full
/// inspect of every managed container (plan, apply, verify passes).
/// Ordered: a request for more detail wins over one for less.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Detail {
    /// The controller's cached host view, kept by Docker events and by
    /// each reconcile's fresh look: no list at all (only the images are
    /// inspected). For the passes that follow the controller's own
    /// changes; such a pass never prunes. `observe` treats it as
    /// `ListOnly` (it has no view).
    Cached,
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
    observe_keeping(docker, desired, detail, &keep_all).await
}

/// Whether an inspected container's details are worth keeping: given its
/// tenant, the container (details filled) and what was observed so far.
pub type KeepDetails<'a> =
    &'a (dyn Fn(&DesiredTenant, &super::ObservedContainer, &ObservedState) -> bool + Sync);

/// Keeps every container's details (all but the controller's verify pass).
fn keep_all(_: &DesiredTenant, _: &super::ObservedContainer, _: &ObservedState) -> bool {
    true
}

/// [`observe`], keeping a tenant's inspect details only where `keep` says
/// so. The controller's verify pass keeps those that differ from the file
/// (what its plan reports): at 1,000 tenants every container's details at
/// once were its largest allocation (~2.5 MB), and a container whose
/// details show no change plans the same without them.
pub async fn observe_keeping(
    docker: &DockerClient,
    desired: &DesiredState,
    detail: Detail,
    keep: KeepDetails<'_>,
) -> Result<ObservedState, DockerError> {
    // One list at a time, each read lean (`lean`: only the fields we keep)
    // and turned into our types before the next: Docker's lists are the
    // largest allocation of a pass, and three at once, each in bollard's
    // full model, were the controller's peak memory at a thousand
    // tenants. A listing pass runs at start, every resync and after a
    // reconnect, and the container list dominates it either way (at 1,000
    // containers the pass took 1.41× Docker's container list alone, 1.45×
    // with the three lists at once: BENCHMARKS.md, runs B and C).
    let mut state = ObservedState::default();
    let listed: super::lean::ListedContainers = docker
        .get_json("list_containers", super::lean::CONTAINERS)
        .await?;
    for c in listed.0 {
        state.containers.insert(c.name.clone(), c);
    }
    let volumes: super::lean::LeanVolumes = docker
        .get_json("list_volumes", super::lean::VOLUMES)
        .await?;
    state.volumes = volumes.into_volumes().collect();
    let networks = docker
        .call("list_networks", |d| async move {
            d.list_networks(None::<ListNetworksOptions>).await
        })
        .await?;
    fill(&mut state, empty(), networks, empty());
    observe_images(docker, desired, &mut state).await?;
    if detail == Detail::Full {
        inspect_managed(docker, desired, &mut state, HashMap::new(), keep).await?;
    }
    Ok(state)
}

/// Observes what one tenant's reconcile needs to see, whatever the size of
/// the fleet: its own containers (by label, so strays and another fleet's
/// namesake too), its volumes by name and its image, each freshly, and
/// the details of its own containers. What holds its name or publishes its
/// port, and the fleet's network, come from `view` when there is one (see
/// `HostView` for why that is safe), else from filtered lists too.
/// With a view: an inspect per own container (its name always), one per
/// volume and the image's; six lists without one.
pub async fn observe_tenant(
    docker: &DockerClient,
    desired: &DesiredState,
    tenant: &DesiredTenant,
    view: Option<&HostView>,
) -> Result<ObservedState, DockerError> {
    let list = |filters: HashMap<String, Vec<String>>| {
        docker.call("list_containers", move |d| async move {
            d.list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
        })
    };
    let filter = |key: &str, value: String| HashMap::from([(key.to_string(), vec![value])]);
    let Some(view) = view else {
        let volume_names: Vec<String> = tenant.volume_names().map(str::to_string).collect();
        let (by_label, by_name, by_port, networks, volumes) = tokio::try_join!(
            list(filter("label", format!("{TENANT_LABEL}={}", tenant.name))),
            list(filter("name", format!("^/{}$", tenant.container_name))),
            list(filter("publish", tenant.port.to_string())),
            networks_named(docker, &desired.network),
            volumes_named(docker, &volume_names),
        )?;
        let containers: Vec<_> = by_label.into_iter().chain(by_name).chain(by_port).collect();
        let mut state = ObservedState::default();
        fill(&mut state, containers, networks, volumes);
        inspect_images(docker, BTreeSet::from([tenant.image.as_str()]), &mut state).await?;
        inspect_managed(docker, desired, &mut state, HashMap::new(), &keep_all).await?;
        return Ok(state);
    };
    let (mut state, prefetched) = observe_own(docker, tenant, view, None).await?;
    for c in view.holding(&tenant.container_name, tenant.port) {
        // Its own containers were just inspected: the fresh look wins.
        if c.tenant_label() != Some(tenant.name.as_str()) {
            state
                .containers
                .entry(c.name.clone())
                .or_insert_with(|| c.clone());
        }
    }
    if let Some(labels) = view.networks.get(&desired.network) {
        state
            .networks
            .insert(desired.network.clone(), labels.clone());
    }
    if view.duplicate_networks.contains(&desired.network) {
        state.duplicate_networks.insert(desired.network.clone());
    }
    if view.shared_networks.contains(&desired.network) {
        state.shared_networks.insert(desired.network.clone());
    }
    inspect_images(docker, BTreeSet::from([tenant.image.as_str()]), &mut state).await?;
    inspect_managed(docker, desired, &mut state, prefetched, &keep_all).await?;
    Ok(state)
}

/// A tenant's own containers (inspected by name) and volumes (inspected
/// too), nothing else: what a reconcile looks at first, and again after it
/// acted, so the host view holds what it made. Returns the inspects too.
/// `known_volumes`: the tenant's volumes when the caller knows them
/// (after a reconcile that succeeded: what it saw plus what it created),
/// so they are not inspected again.
pub async fn observe_own(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    view: &HostView,
    known_volumes: Option<std::collections::BTreeMap<String, crate::labels::OwnerLabels>>,
) -> Result<
    (
        ObservedState,
        HashMap<String, bollard::models::ContainerInspectResponse>,
    ),
    DockerError,
> {
    let volume_names: Vec<String> = match &known_volumes {
        Some(_) => Vec::new(),
        None => tenant.volume_names().map(str::to_string).collect(),
    };
    // With a view: its own containers are its name, and what the view
    // knows under its label or under the names a replacement uses (the
    // view has what the last pass listed, plus what reconciles made
    // since); each is inspected by name (see `container_from_inspect` for
    // why not listed). One the view does not know yet (made by hand since
    // the last pass, under another name) is found by the next pass.
    let temporary = tenant.temporary_names();
    let mut own: BTreeSet<String> = view
        .containers
        .values()
        .filter(|c| c.tenant_label() == Some(tenant.name.as_str()) || temporary.contains(&c.name))
        .map(|c| c.name.clone())
        .collect();
    own.insert(tenant.container_name.clone());
    let inspects = futures_util::future::try_join_all(own.iter().map(|name| {
        let name = name.clone();
        async move {
            absent_as_none(
                docker
                    .call("inspect_container", |d| async move {
                        d.inspect_container(&name, None).await
                    })
                    .await,
            )
        }
    }));
    let (inspects, volumes) =
        tokio::try_join!(inspects, volumes_by_inspect(docker, &volume_names))?;
    let mut state = ObservedState::default();
    fill(&mut state, empty(), empty(), volumes);
    if let Some(known) = known_volumes {
        state.volumes = known;
    }
    let mut prefetched = HashMap::new();
    for inspect in inspects.into_iter().flatten() {
        if let Some(c) = super::convert::container_from_inspect(&inspect) {
            prefetched.insert(c.name.clone(), inspect);
            state.containers.insert(c.name.clone(), c);
        }
    }
    Ok((state, prefetched))
}

/// Volumes by exact name, in one name-filtered list (Docker's name filter
/// matches parts of names).
async fn volumes_named(
    docker: &DockerClient,
    names: &[String],
) -> Result<Vec<bollard::models::Volume>, DockerError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let filters = HashMap::from([("name".to_string(), names.to_vec())]);
    let listed = docker
        .call("list_volumes", |d| async move {
            d.list_volumes(Some(ListVolumesOptions {
                filters: Some(filters),
            }))
            .await
        })
        .await?;
    Ok(listed
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter(|v| names.contains(&v.name))
        .collect())
}

/// Volumes by exact name, one inspect each: answered from the daemon's
/// index, where a list walks every volume on the host.
async fn volumes_by_inspect(
    docker: &DockerClient,
    names: &[String],
) -> Result<Vec<bollard::models::Volume>, DockerError> {
    let found = futures_util::future::try_join_all(names.iter().map(|name| {
        let name = name.clone();
        async move {
            absent_as_none(
                docker
                    .call("inspect_volume", |d| async move {
                        d.inspect_volume(&name).await
                    })
                    .await,
            )
        }
    }))
    .await?;
    Ok(found.into_iter().flatten().collect())
}

/// Networks whose name is exactly `name`: Docker's name filter matches
/// parts of names, and several networks may carry one name.
pub async fn networks_named(
    docker: &DockerClient,
    name: &str,
) -> Result<Vec<bollard::models::Network>, DockerError> {
    let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
    let all = docker
        .call("list_networks", |d| async move {
            d.list_networks(Some(ListNetworksOptions {
                filters: Some(filters),
            }))
            .await
        })
        .await?;
    Ok(all
        .into_iter()
        .filter(|n| n.name.as_deref() == Some(name))
        .collect())
}

/// Turns listed objects into the observed state (pure). Consumes them,
/// moving their strings: each listed object is freed as it is converted.
fn fill(
    state: &mut ObservedState,
    containers: impl IntoIterator<Item = bollard::models::ContainerSummary>,
    networks: impl IntoIterator<Item = bollard::models::Network>,
    volumes: impl IntoIterator<Item = bollard::models::Volume>,
) {
    for summary in containers {
        if let Some(c) = container_from_summary(summary) {
            state.containers.insert(c.name.clone(), c);
        }
    }
    for network in networks {
        let isolated = super::convert::is_isolated(&network);
        if let Some(name) = network.name {
            let previous = state
                .networks
                .insert(name.clone(), labels_of(network.labels));
            if previous.is_some() {
                state.duplicate_networks.insert(name.clone());
            }
            if !isolated {
                state.shared_networks.insert(name);
            }
        }
    }
    for volume in volumes {
        let marks = crate::labels::OwnerLabels::of(&volume.labels);
        state.volumes.insert(volume.name, marks);
    }
}

/// Inspects every desired image reference into `state`.
pub async fn observe_images(
    docker: &DockerClient,
    desired: &DesiredState,
    state: &mut ObservedState,
) -> Result<(), DockerError> {
    let refs: BTreeSet<&str> = desired.tenants.values().map(|t| t.image.as_str()).collect();
    inspect_images(docker, refs, state).await
}

/// Inspects each desired image reference; a reference the daemon refuses
/// is recorded against it, not failed.
async fn inspect_images(
    docker: &DockerClient,
    refs: BTreeSet<&str>,
    state: &mut ObservedState,
) -> Result<(), DockerError> {
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
    Ok(())
}

/// A lookup by name: "no such object" is an answer (`None`), not an error.
fn absent_as_none<T>(found: Result<T, DockerError>) -> Result<Option<T>, DockerError> {
    match found {
        Ok(object) => Ok(Some(object)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
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
/// is simply dropped: the next pass sees it gone. `prefetched`: inspects
/// just made, used instead of asking again.
async fn inspect_managed(
    docker: &DockerClient,
    desired: &DesiredState,
    state: &mut ObservedState,
    mut prefetched: HashMap<String, bollard::models::ContainerInspectResponse>,
    keep: KeepDetails<'_>,
) -> Result<(), DockerError> {
    let prefix = format!("{}-", desired.name_prefix);
    let wanted: HashMap<&str, &DesiredTenant> = desired
        .tenants
        .values()
        .map(|t| (t.container_name.as_str(), &**t))
        .collect();
    let names: Vec<String> = state
        .containers
        .values()
        .filter(|c| {
            wanted.contains_key(c.name.as_str())
                || (c.tenant_label().is_some() && c.name.starts_with(&prefix))
        })
        .map(|c| c.name.clone())
        .collect();
    for name in names {
        let id = state.containers[&name].id.clone();
        let inspected = match prefetched.remove(&name) {
            Some(inspect) => Ok(inspect),
            None => {
                docker
                    .call("inspect_container", |d| async move {
                        d.inspect_container(&id, None).await
                    })
                    .await
            }
        };
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
            // Usually the desired reference, inspected already: same id.
            let known = state
                .images
                .values()
                .flatten()
                .find(|i| i.id == image_id)
                .cloned();
            let found = match known {
                Some(image) => Some(image),
                None => inspect_image(docker, &image_id).await?,
            };
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
                c.health = crate::kinds::Health::parse(status.as_ref());
            }
            c.details = Some(details);
        }
        // Only the tenant's own container is planned against its details;
        // strays and leftovers keep theirs.
        let unneeded = wanted
            .get(name.as_str())
            .zip(state.containers.get(&name))
            .is_some_and(|(tenant, c)| !keep(tenant, c, state));
        if let Some(c) = state.containers.get_mut(&name).filter(|_| unneeded) {
            c.details = None;
        }
    }
    Ok(())
}
