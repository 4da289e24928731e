//! What apply, backups and restores do to one container besides creating
//! it: stop it within its grace period, remove it, wait for it to be
//! healthy, and the error they report. Below both `apply` and `backup`
//! (which call each other's level: an upgrade takes a backup first, a
//! restore stops and restarts the tenant), so neither imports the other.

mod error;
pub mod health_gate;

pub use error::ApplyError;
pub use health_gate::wait_healthy;

use crate::docker::{DockerClient, DockerError};
use bollard::query_parameters::{RemoveContainerOptions, StopContainerOptions};
use std::time::Duration;

/// Stops a container within its grace period; stopped or gone is done.
pub async fn stop(
    docker: &DockerClient,
    name: &str,
    stop_timeout_secs: i64,
) -> Result<(), DockerError> {
    let grace = Duration::from_secs(stop_timeout_secs.max(0) as u64);
    let owned = name.to_string();
    let options = StopContainerOptions {
        t: Some(stop_timeout_secs as i32),
        ..Default::default()
    };
    match docker
        .call_with_timeout("stop_container", grace + docker.timeout(), |d| async move {
            d.stop_container(&owned, Some(options)).await
        })
        .await
    {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

/// Removes a container that serves nobody (a failed replacement, the old
/// container already stopped, a leftover): no grace period. Gone is done.
pub async fn force_remove(docker: &DockerClient, name: &str) -> Result<(), DockerError> {
    let owned = name.to_string();
    let options = RemoveContainerOptions {
        v: false,
        force: true,
        ..Default::default()
    };
    match docker
        .call("remove_container", |d| async move {
            d.remove_container(&owned, Some(options)).await
        })
        .await
    {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}
