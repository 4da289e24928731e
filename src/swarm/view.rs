//! What a Swarm cluster holds that concerns the fleet: services, their
//! tasks, the nodes and the fleet's network, read with a fixed number of
//! list calls however many tenants there are. Plain data.

use bollard::models::ServiceSpec;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct SwarmView {
    /// Every service, by name (another's too: a name taken is a conflict).
    pub services: BTreeMap<String, ObservedService>,
    /// Tasks by service id, newest first.
    pub tasks: BTreeMap<String, Vec<TaskInfo>>,
    pub nodes: Vec<NodeInfo>,
    /// The fleet's networks that exist, name → id.
    pub networks: BTreeMap<String, String>,
    /// Image reference → its id on the manager (`None`: not there).
    pub images: BTreeMap<String, Option<String>>,
}

/// Its `Debug` leaves the spec out (its env holds secrets).
#[derive(Clone)]
pub struct ObservedService {
    pub id: String,
    /// The version an update must name (Swarm's optimistic lock).
    pub version: u64,
    pub spec: ServiceSpec,
    /// `UpdateStatus.State` (`updating`, `rollback_completed`, …).
    pub update_state: Option<String>,
    pub update_message: Option<String>,
}

impl std::fmt::Debug for ObservedService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedService")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("update_state", &self.update_state)
            .finish_non_exhaustive()
    }
}

impl ObservedService {
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.spec
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    /// Swarm undid the last update (its new task failed or was unhealthy).
    pub fn rolled_back(&self) -> bool {
        matches!(
            self.update_state.as_deref(),
            Some("rollback_completed" | "rollback_paused" | "rollback_started")
        )
    }
}

#[derive(Debug, Clone)]
pub struct TaskInfo {
    pub node_id: Option<String>,
    /// What the task is (`running`, `failed`, `pending`, …).
    pub state: String,
    /// What Swarm wants it to be (`running`, `shutdown`).
    pub desired_state: String,
    pub message: String,
    pub updated_at: String,
}

#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub id: String,
    pub hostname: String,
    /// `ready`, `down`, `disconnected`, `unknown`.
    pub state: String,
    /// `active`, `pause`, `drain`.
    pub availability: String,
    /// Its address, where host-mode ports answer.
    pub addr: String,
}

impl NodeInfo {
    pub fn ready(&self) -> bool {
        self.state == "ready"
    }

    /// Ready and taking new tasks.
    pub fn schedulable(&self) -> bool {
        self.ready() && self.availability == "active"
    }
}

impl SwarmView {
    pub fn node_named(&self, hostname: &str) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.hostname == hostname)
    }

    pub fn node_by_id(&self, id: &str) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The task Swarm means to run for a service (desired `running`),
    /// newest first.
    pub fn current_task(&self, service_id: &str) -> Option<&TaskInfo> {
        self.tasks
            .get(service_id)?
            .iter()
            .find(|t| t.desired_state == "running")
    }
}
