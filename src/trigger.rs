//! The inputs every trigger source (the file, git, Docker events) sends the
//! controller. Its own module so that no source imports the controller
//! that imports it.

use crate::desired::DesiredState;

/// What Docker said happened to a container (the events tenantctl asks
/// for; see `sources::events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    Die,
    Stop,
    Destroy,
    Update,
    Rename,
    Pause,
    Unpause,
    Oom,
    Other,
}

impl EventAction {
    pub fn parse(action: &str) -> Self {
        match action {
            "die" => Self::Die,
            "stop" => Self::Stop,
            "destroy" => Self::Destroy,
            "update" => Self::Update,
            "rename" => Self::Rename,
            "pause" => Self::Pause,
            "unpause" => Self::Unpause,
            "oom" => Self::Oom,
            _ => Self::Other,
        }
    }
}

/// A Docker event about one of our tenants' containers: a hint that the
/// tenant may have drifted, and an update of the cached host view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub tenant: String,
    pub container: String,
    pub action: EventAction,
}

/// Inputs to the loop besides timers.
#[derive(Debug)]
pub enum Trigger {
    /// A Docker event about a tenant's container.
    Event(ContainerEvent),
    /// The event stream (re)connected: list everything again.
    Relist,
    /// A new desired state was loaded (or refused): from the file, or a
    /// git revision.
    Loaded {
        revision: String,
        /// Shared: the file source keeps what it sent last to compare the
        /// next read with, and a second copy of 1,000 resolved tenants is
        /// megabytes.
        result: Box<Result<std::sync::Arc<DesiredState>, crate::diagnostic::Diagnostics>>,
    },
}
