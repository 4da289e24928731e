//! What a Swarm fleet needs: per tenant, create its service, update the
//! fields that differ (rescale included), or nothing; what drifted; where
//! it runs and whether that node is up. Pure: the view comes in, the plan
//! goes out, and a conflict or an unknown node blocks only its tenant.

use super::fields::{diff, Change, Fields};
use super::spec::{constrained_node, service_spec};
use super::view::SwarmView;
use crate::desired::{DesiredState, DesiredTenant};
use crate::drift::{Drift, Reason, Resource};
use bollard::models::ServiceSpec;
use std::collections::{BTreeMap, BTreeSet};

/// Its `Debug` leaves the spec out: a spec holds the tenant's secrets
/// (env), and a plan may be printed in a log line or a panic.
#[derive(Clone)]
pub enum Action {
    None,
    Create(Box<ServiceSpec>),
    Update {
        spec: Box<ServiceSpec>,
        version: u64,
        id: String,
    },
    /// Nothing is done for this tenant; the others go on.
    Blocked(String),
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::None => f.write_str("None"),
            Action::Create(_) => f.write_str("Create(..)"),
            Action::Update { version, id, .. } => {
                write!(f, "Update {{ id: {id}, version: {version} }}")
            }
            Action::Blocked(why) => write!(f, "Blocked({why:?})"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServicePlan {
    pub tenant: String,
    pub service: String,
    /// The node it runs on (or will), by hostname.
    pub node: Option<String>,
    /// tenantctl chose the node (the tenant names none): the choice is
    /// kept in the service's placement, so its volumes never move.
    pub placed_by_us: bool,
    pub action: Action,
    pub changes: Vec<Change>,
    pub drift: BTreeSet<Drift>,
    /// The current task's state (`running`, `pending`, …), if any.
    pub task_state: Option<String>,
    pub task_message: String,
    pub node_down: bool,
    /// Swarm rolled the last update back (its `UpdateStatus`).
    pub rolled_back: Option<String>,
}

impl ServicePlan {
    pub fn has_work(&self) -> bool {
        matches!(self.action, Action::Create(_) | Action::Update { .. })
    }

    pub fn running(&self) -> bool {
        self.task_state.as_deref() == Some("running")
    }
}

#[derive(Debug, Clone, Default)]
pub struct SwarmPlan {
    /// The fleet network is missing (created as an attachable overlay).
    pub create_network: bool,
    pub tenants: Vec<ServicePlan>,
    /// Services of this fleet whose tenant left the file: reported, kept.
    pub orphans: Vec<String>,
}

impl SwarmPlan {
    pub fn is_empty(&self) -> bool {
        !self.create_network && !self.tenants.iter().any(ServicePlan::has_work)
    }

    pub fn drift(&self) -> BTreeMap<String, (BTreeSet<Drift>, bool)> {
        let mut out: BTreeMap<String, (BTreeSet<Drift>, bool)> = self
            .tenants
            .iter()
            .map(|t| (t.tenant.clone(), (t.drift.clone(), false)))
            .collect();
        for name in &self.orphans {
            out.entry(name.clone())
                .or_default()
                .0
                .insert(Drift::new(Resource::Service, Reason::Orphan));
        }
        out
    }
}

/// `held`: tenants whose last update Swarm rolled back, with the fields
/// that failed: not pushed again until the file changes them.
pub fn plan_swarm(
    desired: &DesiredState,
    view: &SwarmView,
    held: &BTreeMap<String, Fields>,
) -> SwarmPlan {
    let create_network = !view.networks.contains_key(&desired.network);
    // Tenants per node: those the file places, and those whose service
    // records a node; an unplaced new tenant goes to the least loaded.
    let mut load: BTreeMap<String, usize> =
        view.nodes.iter().map(|n| (n.hostname.clone(), 0)).collect();
    for t in desired.tenants.values() {
        let node = t
            .node
            .as_ref()
            .map(|n| n.to_string())
            .or_else(|| recorded_node(view, &t.container_name));
        if let Some(node) = node {
            *load.entry(node).or_default() += 1;
        }
    }
    let mut tenants = Vec::new();
    for t in desired.tenants.values() {
        tenants.push(plan_tenant(desired, view, held, t, &mut load));
    }
    let orphans = view
        .services
        .values()
        .filter_map(|s| {
            let labels = s.labels();
            let tenant = labels.get(crate::labels::TENANT_LABEL)?;
            (crate::labels::stamped(&labels, &desired.fleet)
                && !desired.tenants.contains_key(tenant))
            .then(|| tenant.clone())
        })
        .collect();
    SwarmPlan {
        create_network,
        tenants,
        orphans,
    }
}

fn plan_tenant(
    desired: &DesiredState,
    view: &SwarmView,
    held: &BTreeMap<String, Fields>,
    t: &DesiredTenant,
    load: &mut BTreeMap<String, usize>,
) -> ServicePlan {
    let observed = view.services.get(&t.container_name);
    let mut plan = ServicePlan {
        tenant: t.name.clone(),
        service: t.container_name.clone(),
        node: None,
        placed_by_us: t.node.is_none(),
        action: Action::None,
        changes: Vec::new(),
        drift: BTreeSet::new(),
        task_state: None,
        task_message: String::new(),
        node_down: false,
        rolled_back: None,
    };
    let blocked = |mut plan: ServicePlan, why: String, drift: Drift| {
        plan.drift.insert(drift);
        plan.action = Action::Blocked(why);
        plan
    };
    if let Some(s) = observed {
        if !crate::labels::belongs_to(&s.labels(), &desired.fleet, &t.name) {
            return blocked(
                plan,
                format!("a service named {} exists that tenantctl did not create for this tenant; rename or remove it", t.container_name),
                Drift::new(Resource::Service, Reason::Conflict),
            );
        }
    }
    // Its node: the file's; else the one recorded in its service; else
    // the schedulable node with the fewest tenants.
    let node = match (&t.node, recorded_node(view, &t.container_name)) {
        (Some(n), _) => n.to_string(),
        (None, Some(n)) => n,
        (None, None) => {
            let Some(n) = view
                .nodes
                .iter()
                .filter(|n| n.schedulable())
                .min_by_key(|n| {
                    (
                        load.get(&n.hostname).copied().unwrap_or(0),
                        n.hostname.clone(),
                    )
                })
            else {
                return blocked(
                    plan,
                    "no node of the swarm is ready to take it".into(),
                    Drift::new(Resource::Service, Reason::Missing),
                );
            };
            *load.entry(n.hostname.clone()).or_default() += 1;
            n.hostname.clone()
        }
    };
    plan.node = Some(node.clone());
    let Some(info) = view.node_named(&node) else {
        let known: Vec<&str> = view.nodes.iter().map(|n| n.hostname.as_str()).collect();
        return blocked(
            plan,
            format!(
                "node `{node}` is not in the swarm (its nodes: {})",
                known.join(", ")
            ),
            Drift::new(Resource::Service, Reason::NodeDown),
        );
    };
    if !info.ready() {
        plan.node_down = true;
        plan.drift
            .insert(Drift::new(Resource::Service, Reason::NodeDown));
    }
    let Some(Some(image)) = view.images.get(&t.image) else {
        return blocked(
            plan,
            format!(
                "image {} is not on the manager; load or pull it there (and on every node)",
                t.image
            ),
            Drift::new(Resource::Service, Reason::Missing),
        );
    };
    let networks: Vec<String> = std::iter::once(&t.network)
        .chain(&t.extra_networks)
        .map(|n| view.networks.get(n).cloned().unwrap_or_else(|| n.clone()))
        .collect();
    let want = service_spec(desired, t, &node, image, &networks);
    let Some(s) = observed else {
        plan.drift
            .insert(Drift::new(Resource::Service, Reason::Missing));
        plan.action = Action::Create(Box::new(want));
        return plan;
    };
    if let Some(task) = view.current_task(&s.id) {
        plan.task_state = Some(task.state.clone());
        plan.task_message = task.message.clone();
    }
    if !plan.running() && !plan.node_down {
        plan.drift
            .insert(Drift::new(Resource::Service, Reason::Stopped));
    }
    let have = Fields::of(&s.spec);
    let want_fields = Fields::of(&want);
    let secret = |k: &str| t.env.get(k).is_some_and(|e| e.sensitive) || !t.env.contains_key(k);
    plan.changes = diff(&have, &want_fields, &secret);
    if have.replicas != 1 {
        plan.drift
            .insert(Drift::new(Resource::Service, Reason::Scaled));
        plan.changes.push(Change {
            field: "replicas".into(),
            have: have.replicas.to_string(),
            want: "1".into(),
        });
    }
    if s.rolled_back() {
        plan.rolled_back = Some(format!(
            "{}{}",
            s.update_state.clone().unwrap_or_default(),
            s.update_message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
    }
    if plan.changes.is_empty() {
        return plan;
    }
    plan.drift
        .insert(Drift::new(Resource::Service, Reason::Changed));
    if held.get(&t.name) == Some(&want_fields) {
        plan.action = Action::Blocked(
            "Swarm rolled this update back (its new task failed); held until the file changes it"
                .into(),
        );
        plan.drift
            .insert(Drift::new(Resource::Service, Reason::RolledBack));
        return plan;
    }
    plan.action = Action::Update {
        spec: Box::new(want),
        version: s.version,
        id: s.id.clone(),
    };
    plan
}

/// The node a service is pinned to (tenantctl's record of its choice).
fn recorded_node(view: &SwarmView, service: &str) -> Option<String> {
    view.services
        .get(service)?
        .spec
        .task_template
        .as_ref()?
        .placement
        .as_ref()?
        .constraints
        .as_ref()?
        .iter()
        .find_map(|c| constrained_node(c).map(str::to_string))
}
