//! The fleet's shared network: created once, and repaired when Docker let
//! several networks take its name (Docker 20.10 does not refuse duplicate
//! names under concurrent creation; every start then fails with "network
//! is ambiguous" until all but one are gone).

use crate::desired::DesiredState;
use crate::docker::{DockerClient, DockerError};
use crate::labels::TENANT_LABEL;
use crate::observe::{networks_named, ICC_OPTION};
use bollard::models::NetworkCreateRequest;
use std::collections::HashMap;

/// Creates the fleet's network unless a network of that exact name exists;
/// `true` when it created one. Creation is serialized in this process and
/// re-checked under the lock; across processes the host lock serializes
/// `apply` and `run`, and [`dedupe_network`] repairs what slipped through.
pub async fn ensure_network(
    docker: &DockerClient,
    desired: &DesiredState,
    name: &str,
) -> Result<bool, DockerError> {
    static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _serialized = CREATING.lock().await;
    if !networks_named(docker, name).await?.is_empty() {
        return Ok(false);
    }
    let labels = crate::labels::network_labels(&desired.extra_labels, &desired.fleet);
    let options = desired
        .isolate_tenants
        .then(|| HashMap::from([(ICC_OPTION.to_string(), "false".to_string())]));
    let request = NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".into()),
        labels: Some(labels.into_iter().collect()),
        options,
        ..Default::default()
    };
    docker
        .call("create_network", |d| async move {
            d.create_network(request).await
        })
        .await?;
    tracing::info!(network = name, "created network");
    Ok(true)
}

/// Docker cannot change a network's options in place, and recreating it
/// would stop every tenant at once; the operator moves the fleet instead
/// (a new `network` name: one rollout recreate per tenant). Said once per
/// process, not on every pass.
pub fn warn_shared_once(name: &str) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            network = name,
            "network {name} lets tenants reach each other (created before isolate_tenants, or by hand); \
             to isolate them set `network` to a new name: each tenant is recreated onto it once, by a rollout"
        );
    }
}

/// Keeps one network named `name` — the one with the most containers
/// attached, else the oldest — and removes the duplicates that are empty
/// and carry our label. A foreign network is never removed. Returns how
/// many were removed.
pub async fn dedupe_network(docker: &DockerClient, name: &str) -> Result<usize, DockerError> {
    let found = networks_named(docker, name).await?;
    if found.len() < 2 {
        return Ok(0);
    }
    // (attached containers, created, id, ours): the list omits containers.
    let mut candidates = Vec::new();
    for network in found {
        let Some(id) = network.id.clone() else {
            continue;
        };
        let owned = id.clone();
        let inspect = match docker
            .call("inspect_network", |d| async move {
                d.inspect_network(&owned, None).await
            })
            .await
        {
            Ok(i) => i,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        let attached = inspect.containers.map(|c| c.len()).unwrap_or(0);
        let created = inspect.created.map(|c| c.to_string()).unwrap_or_default();
        let ours = inspect.labels.is_some_and(|l| l.contains_key(TENANT_LABEL));
        candidates.push((attached, created, id, ours));
    }
    // Most containers first, then the oldest.
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut removed = 0;
    for (attached, _, id, ours) in candidates.into_iter().skip(1) {
        if attached > 0 || !ours {
            tracing::warn!(network = name, id = %id, "duplicate network left alone (in use or not ours)");
            continue;
        }
        let owned = id.clone();
        match docker
            .call("remove_network", |d| async move {
                d.remove_network(&owned).await
            })
            .await
        {
            Ok(()) => {
                removed += 1;
                tracing::info!(network = name, id = %id, "removed an empty duplicate network");
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}
