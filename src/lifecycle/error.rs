//! Why a tenant did not converge: the one error apply, rollouts, backups
//! and restores report for a tenant's container.

use crate::docker::DockerError;

/// Why a tenant did not converge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("{0}")]
    Conflict(String),
    #[error("network {network} is missing and could not be created: {reason}")]
    Network { network: String, reason: String },
    #[error("container {container} is not running after start (exit code {exit_code})")]
    NotRunning { container: String, exit_code: i64 },
    #[error("container {container} is not healthy: {why}")]
    Unhealthy { container: String, why: String },
    /// A replacement failed; the old container was put back and runs.
    /// `ran`: the new version had started (it may have migrated the data).
    #[error("{error}; the old container was put back and runs as before")]
    RolledBack { error: Box<ApplyError>, ran: bool },
    /// Not updated: the rollout it belongs to is halted.
    #[error("{0}")]
    Halted(String),
    /// A `start-first` update could not switch nginx.
    #[error("the proxy could not be switched: {0}")]
    Proxy(String),
    /// The backup taken before an upgrade failed: the tenant was not upgraded.
    #[error("the backup before the upgrade failed, so the tenant was not upgraded: {0}")]
    BackupFirst(String),
    /// A backup or restore of the tenant runs in another process.
    #[error(transparent)]
    Held(#[from] crate::hold::HoldError),
    /// An error whose text held a secret, masked (see `redact`).
    #[error("{message}")]
    Redacted { kind: &'static str, message: String },
}

impl ApplyError {
    /// A fixed string per variant, safe as a metric label value.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ApplyError::Docker(e) => e.metric_label(),
            ApplyError::Conflict(_) => "conflict",
            ApplyError::Network { .. } => "network",
            ApplyError::NotRunning { .. } => "not_running",
            ApplyError::Unhealthy { .. } => "unhealthy",
            ApplyError::RolledBack { .. } => "rolled_back",
            ApplyError::Halted(_) => "halted",
            ApplyError::Proxy(_) => "proxy",
            ApplyError::Held(_) => "held",
            ApplyError::BackupFirst(_) => "backup",
            ApplyError::Redacted { kind, .. } => kind,
        }
    }
}
