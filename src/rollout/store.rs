//! The rollout record on disk: `<state_dir>/<fleet>.rollout.json`,
//! written whole or not at all, so `status`, `rollout status` and a
//! restarted controller all read the last state.

use super::RolloutRecord;
use crate::desired::DesiredState;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read or write the rollout record {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the rollout record {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

pub fn record_path(desired: &DesiredState) -> PathBuf {
    desired
        .rollout
        .state_dir
        .join(format!("{}.rollout.json", desired.fleet))
}

/// The fleet's last rollout, if any was recorded.
pub fn load(desired: &DesiredState) -> Result<Option<RolloutRecord>, StoreError> {
    let path = record_path(desired);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| StoreError::Parse { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Io { path, source }),
    }
}

pub fn save(desired: &DesiredState, record: &RolloutRecord) -> Result<(), StoreError> {
    let path = record_path(desired);
    let io = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&desired.rollout.state_dir).map_err(io)?;
    let text = serde_json::to_vec_pretty(record).expect("plain data always serializes");
    crate::backup::write_atomic(&path, &text).map_err(io)
}
