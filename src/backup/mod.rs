//! Backups and restores of tenants' data (`tenantctl backup`, `backups
//! list|verify`, `restore`). Archives come from and go back through what
//! tenantctl already has: the Docker Engine's archive API to read a
//! volume from the tenant's own container (no helper image), and, for a
//! restore, the volume's directory on this host (see `restore.rs` for why).
//!
//! `manifest` and `retention` are pure; `store` is the folder layout;
//! `take`, `restore` and `verify` do the IO.

mod manifest;
pub mod progress;
mod purge;
mod restore;
mod retention;
mod schedule;
mod store;
mod take;
mod verify;

pub use manifest::{id_at, shown_time, Manifest, Verification, VolumeArchive};
pub use purge::{purge_tenant, Purged};
pub use restore::{recover_tenant, restore_tenant, RestoreOptions, Restored};
pub use retention::keep;
pub use schedule::{after_command, run_scheduler};
pub use store::{list, newest, tenants, write_atomic};
pub use take::{backup_held, backup_tenant, Reason};
pub use verify::verify_backup;

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
    #[error(transparent)]
    Held(#[from] crate::hold::HoldError),
    #[error(
        "tenant `{0}` has no container: there is nothing to read its data from (apply it first)"
    )]
    NoContainer(String),
    #[error(
        "container `{0}` is not this tenant's (no matching tenantctl labels); it is left alone"
    )]
    NotOurs(String),
    #[error("tenant `{0}` has no volume to back up (the chart's backup_volumes is empty)")]
    Nothing(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(String),
    /// An archive that does not match its manifest or does not read back.
    #[error("the archive is damaged, nothing was changed: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Refused(String),
    /// The restored tenant failed; its previous data was put back.
    #[error("{0}; its previous data was put back and it runs as before")]
    RolledBack(Box<BackupError>),
    #[error(transparent)]
    Apply(#[from] crate::lifecycle::ApplyError),
}

impl BackupError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        BackupError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Applies the fleet's retention to a tenant's backups; the ids removed.
/// The newest backup is always kept, whatever the rule says.
pub fn prune(
    dir: &Path,
    tenant: &str,
    rule: &crate::desired::Retention,
) -> Result<Vec<String>, BackupError> {
    let all = store::list(dir, tenant).map_err(BackupError::Store)?;
    let times: Vec<(String, i64)> = all.iter().map(|m| (m.id.clone(), m.created_unix)).collect();
    let mut kept = keep(&times, rule);
    if let Some(newest) = all.last() {
        kept.insert(newest.id.clone());
    }
    let mut removed = Vec::new();
    for m in all.iter().filter(|m| !kept.contains(&m.id)) {
        store::remove(dir, m).map_err(|e| BackupError::io(dir, e))?;
        removed.push(m.id.clone());
    }
    Ok(removed)
}
