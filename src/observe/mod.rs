//! What is on the Docker host, in our own types holding only what the diff
//! needs. `fetch` does the IO; `convert` turns bollard's models into these
//! types and is pure, so it is unit-tested without a daemon.

mod convert;
mod fetch;
mod lean;
mod view;

pub use convert::{
    container_from_summary, details_from_inspect, is_isolated, render_port, render_port_numbers,
    ICC_OPTION,
};
pub use fetch::{
    inspect_image, networks_named, observe, observe_images, observe_keeping, observe_own,
    observe_tenant, Detail, KeepDetails,
};
pub use view::HostView;

use crate::desired::{HealthCheck, Resources};
use std::collections::{BTreeMap, BTreeSet};

/// A snapshot of the host. Built only from complete, successful lists: a
/// failed list is an error, never an empty map.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedState {
    /// Every container on the host by name, ours or not (for clashes).
    pub containers: BTreeMap<String, ObservedContainer>,
    /// Network name → its labels (whose it is: `labels::owner`).
    pub networks: BTreeMap<String, Labels>,
    /// Names that more than one network carries (Docker 20.10 allows it
    /// under concurrent creation; every start then fails as "ambiguous").
    pub duplicate_networks: BTreeSet<String>,
    /// Networks whose containers can reach each other (bridge option
    /// `enable_icc` not `false`): created before `isolate_tenants`.
    pub shared_networks: BTreeSet<String>,
    /// Volume name → the labels that say whose it is (all a plan reads of
    /// a volume; the host has two per tenant).
    pub volumes: BTreeMap<String, crate::labels::OwnerLabels>,
    /// Image reference or id → image id, for each desired image; `None`
    /// when the image is not on this host.
    pub images: BTreeMap<String, Option<ObservedImage>>,
    /// Desired image references Docker could not look up (not a 404), with
    /// its reason: that tenant's error, never the whole fleet's.
    pub image_errors: BTreeMap<String, String>,
}

impl ObservedState {
    /// The tenant's container, if it exists *and* is ours for that tenant
    /// (a foreign container with the same name is not).
    pub fn managed(&self, tenant: &crate::desired::DesiredTenant) -> Option<&ObservedContainer> {
        self.containers
            .get(&tenant.container_name)
            .filter(|c| crate::labels::belongs_to(&c.labels, &tenant.fleet, &tenant.name))
    }

    /// This fleet's containers by tenant, built once per plan so finding a
    /// tenant's strays stays O(log n). A stray is a tenant's container under
    /// another name: a replacement cut short by a crash (`<name>--new`,
    /// `<name>--old`) or a `docker rename`. Only containers stamped with
    /// `fleet` count: a legacy container under another name could be
    /// another fleet's.
    pub fn by_tenant(&self, fleet: &str) -> BTreeMap<&str, Vec<&ObservedContainer>> {
        let mut index: BTreeMap<&str, Vec<&ObservedContainer>> = BTreeMap::new();
        for c in self.containers.values() {
            if crate::labels::stamped(&c.labels, fleet) {
                if let Some(tenant) = c.tenant_label() {
                    index.entry(tenant).or_default().push(c);
                }
            }
        }
        index
    }
}

/// An object's labels, as listed. Ownership is read from them in one place,
/// `labels::owner`, for containers, volumes and networks alike.
pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedImage {
    pub id: String,
    /// The image's own env, to tell it apart from what we set.
    pub env: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: crate::kinds::ContainerState,
    /// Docker's health status when the container has a health check.
    pub health: Option<crate::kinds::Health>,
    pub image_id: String,
    /// Host ports this container publishes right now (running ones only).
    pub published_ports: BTreeSet<u16>,
    /// `volume NAME -> /target` or `bind PATH -> /target`, as listed:
    /// what adoption compares for a container that is not ours yet.
    pub mounts: BTreeSet<String>,
    /// Field-level view from an inspect; `None` when only listed.
    pub details: Option<ContainerDetails>,
}

impl ObservedContainer {
    pub fn tenant_label(&self) -> Option<&str> {
        self.labels
            .get(crate::labels::TENANT_LABEL)
            .map(String::as_str)
    }

    pub fn is_running(&self) -> bool {
        self.state == crate::kinds::ContainerState::Running
    }
}

/// The fields of an inspected container that tenantctl manages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerDetails {
    /// Env the container was given, minus entries identical to the image's.
    pub env: BTreeMap<String, String>,
    /// `127.0.0.1:8001->8080/tcp` style, from HostConfig.PortBindings.
    pub ports: BTreeSet<String>,
    /// `volume NAME -> /target` or `bind PATH -> /target`.
    pub mounts: BTreeSet<String>,
    pub networks: BTreeSet<String>,
    /// `host:IP` lines of `HostConfig.ExtraHosts`.
    pub extra_hosts: BTreeSet<String>,
    pub restart: crate::kinds::RestartPolicy,
    pub resources: Resources,
    /// `None` when the container has no health check of its own.
    pub health: Option<HealthCheck>,
    pub stop_timeout_secs: Option<i64>,
    pub restart_count: i64,
    /// Privileges, pids limit, read-only root and log rotation.
    pub hardening: crate::desired::Hardening,
}
