//! Drift as typed data: which kind of object differs from the desired
//! state, and how. The plan produces it, metrics and status show it; the
//! words are the `tenantctl_drift{resource,reason}` label values of the
//! metrics contract, so each variant maps to exactly one fixed string.

use std::fmt;

/// The kind of object that drifted (`resource` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Container,
    Network,
    Volume,
    Proxy,
    /// A Swarm service (backend = "swarm").
    Service,
}

/// How it drifted (`reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    Missing,
    Changed,
    Stopped,
    Orphan,
    Conflict,
    /// The node that runs the tenant (Swarm) is down: reported, its data
    /// is there, it is not moved.
    NodeDown,
    /// Its service was scaled away from one replica by hand.
    Scaled,
    /// Swarm rolled the last update back.
    RolledBack,
}

/// One drifted object of a tenant: at most one series per pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Drift {
    pub resource: Resource,
    pub reason: Reason,
}

impl Drift {
    pub const fn new(resource: Resource, reason: Reason) -> Self {
        Drift { resource, reason }
    }
}

impl Resource {
    pub const fn as_str(self) -> &'static str {
        match self {
            Resource::Container => "container",
            Resource::Network => "network",
            Resource::Volume => "volume",
            Resource::Proxy => "proxy",
            Resource::Service => "service",
        }
    }
}

impl Reason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Changed => "changed",
            Reason::Stopped => "stopped",
            Reason::Orphan => "orphan",
            Reason::Conflict => "conflict",
            Reason::NodeDown => "node_down",
            Reason::Scaled => "scaled",
            Reason::RolledBack => "rolled_back",
        }
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.resource.as_str(), self.reason.as_str())
    }
}
