//! Docker's words for a container's state, health and restart policy, as
//! types. Parsed once at the edges (the spec loader, the observe), so the
//! plan, the proxy and `status` compare variants, never strings.

use serde::Serialize;
use std::fmt;

/// A container's state as Docker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    /// A word this version of tenantctl does not know (or none).
    Unknown,
}

impl ContainerState {
    pub fn parse(word: &str) -> Self {
        match word {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            _ => Self::Unknown,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Unknown => "unknown",
        }
    }
}

/// Docker's health status of a container that has a health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    /// `None` for no health check ("none", "" or a word not known).
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "starting" => Some(Self::Starting),
            "healthy" => Some(Self::Healthy),
            "unhealthy" => Some(Self::Unhealthy),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// A container's restart policy (Docker's names; `unless-stopped` is the
/// default of every tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    No,
    Always,
    #[default]
    UnlessStopped,
    OnFailure,
}

impl RestartPolicy {
    pub const ALL: [RestartPolicy; 4] =
        [Self::No, Self::Always, Self::UnlessStopped, Self::OnFailure];

    /// `None` for a word that is not a restart policy.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == word)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::No => "no",
            Self::Always => "always",
            Self::UnlessStopped => "unless-stopped",
            Self::OnFailure => "on-failure",
        }
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(ContainerState, Health, RestartPolicy);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for p in RestartPolicy::ALL {
            assert_eq!(RestartPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(RestartPolicy::parse("sometimes"), None);
        for w in [
            "created",
            "running",
            "paused",
            "restarting",
            "removing",
            "exited",
            "dead",
        ] {
            assert_eq!(ContainerState::parse(w).as_str(), w);
        }
        assert_eq!(ContainerState::parse(""), ContainerState::Unknown);
        assert_eq!(Health::parse("none"), None);
        assert_eq!(Health::parse("unhealthy"), Some(Health::Unhealthy));
        assert_eq!(
            serde_json::to_string(&RestartPolicy::UnlessStopped).unwrap(),
            "\"unless-stopped\""
        );
    }
}

/// How a backup reads a tenant's data while the tenant runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// Read while it runs (the app must cope with a torn copy).
    None,
    /// `docker pause` while the archive is read: writes wait, nothing
    /// restarts; SQLite sees a copy as of one instant.
    #[default]
    Pause,
    /// Stop the container while the archive is read, start it after.
    Stop,
}

impl Consistency {
    pub const ALL: [Consistency; 3] = [Self::None, Self::Pause, Self::Stop];

    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == word)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Pause => "pause",
            Self::Stop => "stop",
        }
    }
}

/// How a recreate swaps a tenant's container (chart `strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Stop the old container, then start the new one: never two
    /// instances on one SQLite volume (the mAI default).
    #[default]
    StopFirst,
    /// Start the new one on a spare host port, switch the proxy to it,
    /// then stop the old one: no failed request, for apps that tolerate
    /// two instances at once.
    StartFirst,
}

impl Strategy {
    pub const ALL: [Strategy; 2] = [Self::StopFirst, Self::StartFirst];

    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == word)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StopFirst => "stop-first",
            Self::StartFirst => "start-first",
        }
    }
}

/// What runs a fleet's tenants (file-level `backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// One container per tenant on this Docker host (one agent per host
    /// with `--node`).
    #[default]
    Docker,
    /// One single-replica service per tenant on a Docker Swarm cluster,
    /// driven from a manager.
    Swarm,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Self::Docker, Self::Swarm];

    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == word)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Swarm => "swarm",
        }
    }
}

/// How a Swarm service publishes its port (file-level `publish_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PublishMode {
    /// On the node that runs the task only: the port answers where the
    /// tenant is, as on one server (the default).
    #[default]
    Host,
    /// Swarm's routing mesh: every node answers and forwards.
    Ingress,
}

impl PublishMode {
    pub const ALL: [PublishMode; 2] = [Self::Host, Self::Ingress];

    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == word)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Ingress => "ingress",
        }
    }
}
