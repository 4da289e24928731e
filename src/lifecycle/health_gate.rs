//! The gate a new container must pass before the one it replaces is
//! removed: running, not reported unhealthy by Docker, and answering its
//! health path over HTTP from the host. The HTTP probe decides rather
//! than Docker's first health result, which comes only after a whole
//! `interval` (30 s for the mAI chart): waiting for it would turn seconds
//! of downtime into half a minute per client.

use super::ApplyError;
use crate::desired::DesiredTenant;
use crate::docker::DockerClient;
use crate::kinds::Health;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(250);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Waits until the container `name` (running the tenant's spec) is
/// healthy, or fails: it stopped, Docker reports it unhealthy, or
/// `deadline` passed without a 2xx from its health path.
pub async fn wait_healthy(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    name: &str,
    deadline: Duration,
) -> Result<(), ApplyError> {
    let until = Instant::now() + deadline;
    let host = crate::probe::probe_host(tenant);
    loop {
        if running(docker, name).await? == Some(Health::Unhealthy) {
            return Err(ApplyError::Unhealthy {
                container: name.to_string(),
                why: "Docker reports its health check failing".into(),
            });
        }
        if crate::probe::probe_http(&host, tenant.port, &tenant.health.path, PROBE_TIMEOUT).await {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(ApplyError::Unhealthy {
                container: name.to_string(),
                why: format!(
                    "http://{host}:{}{} gave no 2xx answer within {}s",
                    tenant.port,
                    tenant.health.path,
                    deadline.as_secs()
                ),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// After [`wait_healthy`]: the container must keep running, not be
/// reported unhealthy and keep answering its health path for `min_ready`
/// (checked every second) — a container that passes once and then
/// crashes or fails is caught before the old one is removed.
pub async fn stay_healthy(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    name: &str,
    min_ready: Duration,
) -> Result<(), ApplyError> {
    let until = Instant::now() + min_ready;
    let host = crate::probe::probe_host(tenant);
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_secs(1))).await;
        if running(docker, name).await? == Some(Health::Unhealthy)
            || !crate::probe::probe_http(&host, tenant.port, &tenant.health.path, PROBE_TIMEOUT)
                .await
        {
            return Err(ApplyError::Unhealthy {
                container: name.to_string(),
                why: format!(
                    "it passed its health check, then failed within min_ready ({}s)",
                    min_ready.as_secs()
                ),
            });
        }
    }
    Ok(())
}

/// Fails unless the container runs (and is not restarting); its Docker
/// health status, when it has a health check.
pub async fn running(docker: &DockerClient, name: &str) -> Result<Option<Health>, ApplyError> {
    let owned = name.to_string();
    let inspect = docker
        .call("inspect_container", |d| async move {
            d.inspect_container(&owned, None).await
        })
        .await?;
    let state = inspect.state.unwrap_or_default();
    if state.running != Some(true) || state.restarting == Some(true) {
        return Err(ApplyError::NotRunning {
            container: name.to_string(),
            exit_code: state.exit_code.unwrap_or_default(),
        });
    }
    Ok(state
        .health
        .and_then(|h| h.status)
        .and_then(|s| Health::parse(s.as_ref())))
}
