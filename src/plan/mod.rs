//! The plan: a pure diff of desired against observed, as data. `apply`
//! executes it; `plan` prints it (`Display`) or serializes it (`--json`).
//! No clock, env or IO here, so the same inputs always give the same plan.

mod diff;
mod display;
mod proxy;

pub use diff::{container_changes, details_matter};
pub use proxy::{plan_proxy, ProxyPlan, ProxyView};

use crate::desired::{DesiredState, DesiredTenant, SHARED_TENANT_LABEL};
use crate::drift::{Drift, Reason, Resource};
use crate::kinds::ContainerState;
use crate::labels::{owner, stamped, Owner};
use crate::observe::{ObservedContainer, ObservedState};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Everything apply would do, tenant by tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Create the shared network first, when it is missing.
    pub create_network: Option<String>,
    /// Several networks carry the fleet's network name: keep one, remove
    /// the empty duplicates that carry our label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair_network: Option<String>,
    /// The fleet's network lets tenants reach each other although the file
    /// asks for isolation: said, not changed (Docker cannot change it in
    /// place; a new `network` name moves the fleet, one recreate each).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_network: Option<String>,
    pub tenants: Vec<TenantPlan>,
    /// Our containers whose tenant left the file.
    pub orphans: Vec<Orphan>,
    /// Whether orphans are removed (`--prune`) or only reported.
    pub prune: bool,
    /// The nginx config wanted, when the file configures a proxy (see
    /// [`plan_host`]; the per-tenant [`plan`] leaves it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyPlan>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantPlan {
    pub tenant: String,
    pub container: String,
    /// Paused tenants are reported, never changed: `steps` are not applied.
    pub paused: bool,
    pub steps: Vec<Step>,
    /// Clashes with objects that are not ours: this tenant cannot converge
    /// until a human resolves them; the others go on.
    pub conflicts: Vec<Conflict>,
    /// The observe found the image on the host: a create need not look
    /// again (a missing one is pulled first).
    #[serde(skip)]
    pub image_present: bool,
}

impl TenantPlan {
    /// Steps apply will actually run (none for a paused tenant).
    pub fn actionable(&self) -> &[Step] {
        if self.paused || !self.conflicts.is_empty() {
            &[]
        } else {
            &self.steps
        }
    }

    /// Steps apply will run, or conflicts to report: apply, a pass and a
    /// reconcile all treat such a tenant as out of sync.
    pub fn has_work(&self) -> bool {
        !self.actionable().is_empty() || !self.conflicts.is_empty()
    }

    pub fn in_sync(&self) -> bool {
        self.steps.is_empty() && self.conflicts.is_empty()
    }

    /// `(resource, reason)` per drifted object, for `tenantctl_drift`.
    pub fn drift(&self) -> BTreeSet<Drift> {
        let mut drift = BTreeSet::new();
        for c in &self.conflicts {
            let resource = if c.resource == ConflictKind::Volume {
                Resource::Volume
            } else {
                Resource::Container
            };
            drift.insert(Drift::new(resource, Reason::Conflict));
        }
        for step in &self.steps {
            drift.insert(match step {
                Step::CreateVolume { .. } => Drift::new(Resource::Volume, Reason::Missing),
                Step::Create => Drift::new(Resource::Container, Reason::Missing),
                Step::Recreate { .. }
                | Step::Update { .. }
                | Step::Recover { .. }
                | Step::Adopt { .. } => Drift::new(Resource::Container, Reason::Changed),
                Step::Start { .. } | Step::Unpause => {
                    Drift::new(Resource::Container, Reason::Stopped)
                }
            });
        }
        drift
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    CreateVolume {
        name: String,
        /// A volume of this name exists without any label: one whose
        /// creation a daemon crash cut short (Docker had made its folder,
        /// not yet recorded its labels). The executor removes and makes it
        /// again only if it is empty, unused, local and without options;
        /// otherwise it is the conflict it looks like.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        reclaim: bool,
    },
    Create,
    /// Fields that Docker cannot change on a live container differ.
    Recreate {
        changes: Vec<FieldChange>,
        /// Those of `changes` Docker can apply in place (`docker update`):
        /// a rollout makes them at once instead of at the tenant's turn.
        #[serde(skip)]
        in_place: Vec<FieldChange>,
    },
    /// Only limits or restart policy differ: `docker update`, same container.
    Update {
        changes: Vec<FieldChange>,
    },
    Start {
        state: crate::kinds::ContainerState,
    },
    /// `docker pause`d by hand: start cannot undo that, unpause does.
    Unpause,
    /// The tenant's container exists under another name: a replacement
    /// cut short by a crash, or a `docker rename`. `rename` gets the
    /// tenant's name back; `remove` are leftovers (volumes are kept).
    Recover {
        rename: Option<String>,
        remove: Vec<String>,
    },
    /// Take over a container tenantctl did not create (`--adopt`): same
    /// name, same data mounts. It is replaced by one of ours on the same
    /// mounts, gated on health; a failed replacement puts it back.
    Adopt {
        /// The container's id, so the review shows what is taken over.
        id: String,
        /// The mounts both share (the data that stays where it is).
        mounts: Vec<String>,
        #[serde(flatten)]
        adoption: Adoption,
    },
}

/// How `--adopt` takes a container over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Adoption {
    /// Keep the old container, stopped, as `<name>-pre-adopt`.
    pub keep_old: bool,
    /// How long the new container has to pass its health check.
    pub deadline_secs: u64,
}

impl Default for Adoption {
    fn default() -> Self {
        Adoption {
            keep_old: false,
            deadline_secs: 120,
        }
    }
}

impl Step {
    /// A fixed name per step kind, for logs and metric labels.
    pub fn action(&self) -> &'static str {
        match self {
            Step::CreateVolume { .. } => "create_volume",
            Step::Create => "create",
            Step::Recreate { .. } => "recreate",
            Step::Update { .. } => "update",
            Step::Start { .. } => "start",
            Step::Unpause => "unpause",
            Step::Recover { .. } => "recover",
            Step::Adopt { .. } => "adopt",
        }
    }
}

/// One field's change; values are already safe to print (secrets masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub from: String,
    pub to: String,
}

/// What a tenant clashes with: the reason it is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// Its container name is held by a container that is not its own.
    Container,
    /// A volume name is held by another tenant, fleet or nobody of ours.
    Volume,
    /// Its host port is published by another container.
    Port,
    /// Docker refuses its image reference.
    Image,
}

impl ConflictKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ConflictKind::Container => "container",
            ConflictKind::Volume => "volume",
            ConflictKind::Port => "port",
            ConflictKind::Image => "image",
        }
    }
}

impl std::fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub resource: ConflictKind,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Orphan {
    pub tenant: String,
    pub container: String,
    /// The tenant is still in the file, placed on another server: its
    /// container and data here are what moving it must carry over, so
    /// it is reported and never pruned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<crate::desired::NodeName>,
}

impl Orphan {
    /// Whether `--prune` may remove it (a moved tenant's is never).
    pub fn prunable(&self) -> bool {
        self.moved_to.is_none()
    }
}

impl Plan {
    /// True when apply would change nothing (paused tenants' drift and
    /// unpruned orphans are reported but are not pending changes).
    pub fn is_empty(&self) -> bool {
        self.create_network.is_none()
            && self.repair_network.is_none()
            && self.tenants.iter().all(|t| !t.has_work())
            && (!self.prune || !self.orphans.iter().any(Orphan::prunable))
            && self.proxy.as_ref().is_none_or(ProxyPlan::is_empty)
    }

    /// Drift of every tenant (and of the shared network, as tenant
    /// `_shared`; orphans under their old tenant name), with `paused`.
    pub fn drift_by_tenant(&self) -> BTreeMap<String, (BTreeSet<Drift>, bool)> {
        let mut all: BTreeMap<String, (BTreeSet<Drift>, bool)> = self
            .tenants
            .iter()
            .map(|t| (t.tenant.clone(), (t.drift(), t.paused)))
            .collect();
        if self.create_network.is_some() {
            all.entry(SHARED_TENANT_LABEL.to_string())
                .or_default()
                .0
                .insert(Drift::new(Resource::Network, Reason::Missing));
        }
        if self.repair_network.is_some() {
            all.entry(SHARED_TENANT_LABEL.to_string())
                .or_default()
                .0
                .insert(Drift::new(Resource::Network, Reason::Conflict));
        }
        for o in &self.orphans {
            all.entry(o.tenant.clone())
                .or_default()
                .0
                .insert(Drift::new(Resource::Container, Reason::Orphan));
        }
        all
    }
}

/// Computes the plan. `observed` must come from complete lists.
pub fn plan(desired: &DesiredState, observed: &ObservedState, prune: bool) -> Plan {
    plan_adopting(desired, observed, prune, None)
}

/// [`plan`], taking over containers tenantctl did not create when
/// `adopt` is given (see [`Step::Adopt`]).
pub fn plan_adopting(
    desired: &DesiredState,
    observed: &ObservedState,
    prune: bool,
    adopt: Option<Adoption>,
) -> Plan {
    let create_network = match observed.networks.get(&desired.network) {
        None => Some(desired.network.clone()),
        Some(_) => None,
    };
    let repair_network = observed
        .duplicate_networks
        .contains(&desired.network)
        .then(|| desired.network.clone());
    // (host port, container publishing it), sorted once: checking every
    // tenant against every container would make plan() quadratic.
    let mut publishers: Vec<(u16, &str)> = observed
        .containers
        .values()
        .flat_map(|c| c.published_ports.iter().map(|p| (*p, c.name.as_str())))
        .collect();
    publishers.sort_unstable();
    let fleet = observed.by_tenant(&desired.fleet);
    let tenants = desired
        .tenants
        .values()
        .map(|t| {
            let strays: Vec<&ObservedContainer> = fleet
                .get(t.name.as_str())
                .into_iter()
                .flatten()
                .filter(|c| c.name != t.container_name)
                .copied()
                .collect();
            plan_tenant(t, observed, &publishers, &strays, adopt)
        })
        .collect();
    let shared_network = (desired.isolate_tenants
        && observed.shared_networks.contains(&desired.network))
    .then(|| desired.network.clone());
    Plan {
        create_network,
        repair_network,
        shared_network,
        tenants,
        orphans: orphans(desired, observed),
        prune,
        proxy: None,
    }
}

/// What a plan covers beyond the tenants' own containers and volumes.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Remove our containers whose tenant left the file.
    pub prune: bool,
    /// Take over containers tenantctl did not create (`--adopt`).
    pub adopt: Option<Adoption>,
    pub proxy: ProxyView,
}

/// The whole host's plan, proxy included: what `plan` prints, `apply`
/// executes and a controller pass acts on. `current_proxy` holds the
/// `tenantctl-*.conf` files on disk (read by the caller).
pub fn plan_host(
    desired: &DesiredState,
    observed: &ObservedState,
    current_proxy: &crate::proxy::ProxyHost,
    options: Options,
) -> Plan {
    let mut plan = plan_adopting(desired, observed, options.prune, options.adopt);
    plan.proxy = plan_proxy(desired, observed, current_proxy, options.proxy);
    plan
}

fn plan_tenant(
    tenant: &DesiredTenant,
    observed: &ObservedState,
    publishers: &[(u16, &str)],
    strays: &[&ObservedContainer],
    adopt: Option<Adoption>,
) -> TenantPlan {
    let mut steps = Vec::new();
    let mut conflicts = Vec::new();
    let current = observed.containers.get(&tenant.container_name);
    // A container of the tenant's name that nobody owns, on exactly the
    // tenant's mounts: what `--adopt` takes over (with it, the volumes it
    // mounts are the tenant's too, labelled or not).
    let adoptable = current
        .filter(|c| owner(&c.labels, &tenant.fleet) == Owner::Foreign && same_mounts(tenant, c));
    let adopting = adopt.is_some() && adoptable.is_some();
    if let Some(why) = observed.image_errors.get(&tenant.image) {
        conflicts.push(Conflict {
            resource: ConflictKind::Image,
            message: format!("image `{}` cannot be used: {why}", tenant.image),
        });
    }
    for mount in &tenant.mounts {
        let Some(volume) = mount.source.volume_name() else {
            continue;
        };
        // A volume the file names may be anyone's that is not another
        // tenant's: compose made the seed's `mai_dev_data` without labels.
        let named = matches!(mount.source, crate::desired::MountSource::Named(_));
        let labels = observed.volumes.get(volume);
        // Not one label at all (compose, and anyone else who labels, would
        // have some) on the name tenantctl generates: see
        // `Step::CreateVolume::reclaim`.
        if labels.is_some_and(|l| l.is_unlabelled()) && !named && !adopting {
            steps.push(Step::CreateVolume {
                name: volume.to_string(),
                reclaim: true,
            });
            continue;
        }
        let message = match labels.map(|l| l.owner(&tenant.fleet)) {
            None => {
                steps.push(Step::CreateVolume {
                    name: volume.to_string(),
                    reclaim: false,
                });
                continue;
            }
            Some(Owner::Fleet { tenant: t }) if t == tenant.name => continue,
            Some(Owner::Foreign) if named || adopting => continue,
            Some(Owner::Fleet { tenant: t }) => {
                format!("volume `{volume}` belongs to tenant `{t}`")
            }
            Some(Owner::OtherFleet { fleet }) => {
                format!("volume `{volume}` belongs to fleet `{fleet}`; it is left alone")
            }
            Some(Owner::Foreign) => format!(
                "volume `{volume}` exists but is not managed by tenantctl (no {} label); it is left alone",
                crate::labels::TENANT_LABEL
            ),
        };
        conflicts.push(Conflict {
            resource: ConflictKind::Volume,
            message,
        });
    }
    let first = publishers.partition_point(|(p, _)| *p < tenant.port);
    let same_port = publishers[first..]
        .iter()
        .take_while(|(p, _)| *p == tenant.port);
    for (_, name) in same_port {
        if *name != tenant.container_name && !strays.iter().any(|c| c.name == *name) {
            conflicts.push(Conflict {
                resource: ConflictKind::Port,
                message: format!(
                    "host port {} is already published by container `{name}`",
                    tenant.port
                ),
            });
        }
    }
    match current.map(|c| (c, owner(&c.labels, &tenant.fleet))) {
        None if !strays.is_empty() => steps.push(recover(tenant, None, strays)),
        None => steps.push(Step::Create),
        Some((c, Owner::Fleet { tenant: t })) if t == tenant.name => {
            if strays.is_empty() {
                steps.extend(existing_container_steps(tenant, c, observed));
            } else {
                steps.push(recover(tenant, Some(c), strays));
            }
        }
        Some((c, Owner::Foreign)) if adopting => steps.push(Step::Adopt {
            id: c.id.chars().take(12).collect(),
            mounts: tenant.mounts.iter().map(|m| m.to_string()).collect(),
            adoption: adopt.unwrap_or_default(),
        }),
        Some((c, other)) => conflicts.push(Conflict {
            resource: ConflictKind::Container,
            message: match other {
                Owner::Foreign if adoptable.is_some() => format!(
                    "container `{}` exists but is not managed by tenantctl (no {} label); it is left alone (it has the tenant's name and data mounts: `--adopt` takes it over)",
                    c.name,
                    crate::labels::TENANT_LABEL
                ),
                Owner::Foreign if adopt.is_some() => format!(
                    "container `{}` exists but is not managed by tenantctl and is not adopted: its mounts ({}) are not the tenant's ({}); it is left alone",
                    c.name,
                    shown_list(c.mounts.iter().cloned()),
                    shown_list(tenant.mounts.iter().map(|m| m.to_string())),
                ),
                Owner::Foreign => format!(
                    "container `{}` exists but is not managed by tenantctl (no {} label); it is left alone",
                    c.name,
                    crate::labels::TENANT_LABEL
                ),
                Owner::OtherFleet { fleet } => format!(
                    "container `{}` belongs to fleet `{fleet}`; it is left alone",
                    c.name
                ),
                Owner::Fleet { tenant: t } => {
                    format!("container `{}` belongs to tenant `{t}`", c.name)
                }
            },
        }),
    }
    TenantPlan {
        tenant: tenant.name.clone(),
        container: tenant.container_name.clone(),
        paused: tenant.paused,
        steps,
        conflicts,
        image_present: observed
            .images
            .get(&tenant.image)
            .is_some_and(Option::is_some),
    }
}

/// Whether a container mounts exactly the tenant's volumes and bind
/// paths at the tenant's targets: adopting it keeps every byte of data
/// where it is, and drops no mount the old container had.
fn same_mounts(tenant: &DesiredTenant, c: &ObservedContainer) -> bool {
    c.mounts.len() == tenant.mounts.len()
        && tenant
            .mounts
            .iter()
            .all(|m| c.mounts.contains(&m.to_string()))
}

fn shown_list(items: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = items.collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

fn existing_container_steps(
    tenant: &DesiredTenant,
    c: &ObservedContainer,
    observed: &ObservedState,
) -> Vec<Step> {
    let (recreate, update) = container_changes(tenant, c, observed);
    if !recreate.is_empty() {
        let mut changes = recreate;
        changes.extend(update.iter().cloned());
        return vec![Step::Recreate {
            changes,
            in_place: update,
        }];
    }
    let mut steps = Vec::new();
    if !update.is_empty() {
        steps.push(Step::Update { changes: update });
    }
    // A restarting container is crash-looping: starting it again is no fix,
    // and it must not be recreated in a tight loop either. It is reported.
    if c.state == ContainerState::Paused {
        steps.push(Step::Unpause);
    } else if !c.is_running() && c.state != ContainerState::Restarting {
        steps.push(Step::Start { state: c.state });
    }
    steps
}

/// What to do with a tenant's strays. With the tenant's own container in
/// place they are leftovers. Without it, one gets the name back: a running
/// one (a replacement that was already serving, or a renamed container),
/// else the old container set aside, else any; the rest are removed. A
/// `start-first` bridge never gets the name: it publishes a spare port.
fn recover(
    tenant: &DesiredTenant,
    current: Option<&ObservedContainer>,
    strays: &[&ObservedContainer],
) -> Step {
    let rename = match current {
        Some(_) => None,
        None => {
            let named: Vec<_> = strays
                .iter()
                .filter(|c| c.name != tenant.bridge_name())
                .collect();
            named
                .iter()
                .find(|c| c.is_running())
                .or_else(|| named.iter().find(|c| c.name == tenant.aside_name()))
                .or(named.first())
                .map(|c| c.name.clone())
        }
    };
    let remove = strays
        .iter()
        .map(|c| c.name.clone())
        .filter(|n| Some(n) != rename.as_ref())
        .collect();
    Step::Recover { rename, remove }
}

/// Containers of this fleet whose tenant left the file. Only containers
/// stamped with our fleet count: one created before fleets existed belongs
/// to whichever file names its tenant, which may be another file on this
/// host, so it is never pruned (remove it by hand).
fn orphans(desired: &DesiredState, observed: &ObservedState) -> Vec<Orphan> {
    observed
        .containers
        .values()
        .filter_map(|c| {
            let tenant = c.tenant_label()?;
            let ours = stamped(&c.labels, &desired.fleet);
            (ours && !desired.tenants.contains_key(tenant)).then(|| Orphan {
                tenant: tenant.to_string(),
                container: c.name.clone(),
                moved_to: desired.elsewhere.get(tenant).cloned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod adopt_tests;
#[cfg(test)]
mod ownership_tests;
#[cfg(test)]
mod tests;
