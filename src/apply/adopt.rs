//! Taking over a container tenantctl did not create (`--adopt`), on the
//! same data mounts, without copying or moving data: the replacement swap
//! of `replace.rs`, with the old container set aside as
//! `<name>-pre-adopt` and a health gate:
//!
//! 1. create ours as `<name>--new` (the old one still serves);
//! 2. stop the old one and rename it `<name>-pre-adopt` — downtime starts;
//! 3. start ours and wait until it is healthy (`health_gate`) — it ends;
//! 4. give ours the name, and remove the old one (or keep it stopped
//!    with `keep_old`).
//!
//! If ours does not start or is not healthy by the deadline, it is removed
//! and the old one gets its name back and is started: the client runs as
//! before. A crash in between leaves ours as `--new` (found by its labels
//! and recovered by the next plan) and the old one stopped as
//! `-pre-adopt`, which nothing deletes: it is never ours.

use super::replace::{swap, Gate};
use super::ApplyError;
use crate::desired::DesiredTenant;
use crate::docker::DockerClient;
use crate::plan::Adoption;
use std::time::Duration;

/// The name the old container is kept under.
pub fn pre_adopt_name(tenant: &DesiredTenant) -> String {
    format!("{}-pre-adopt", tenant.container_name)
}

/// Adopts the tenant's container; `Ok` holds the downtime (old stopped →
/// new healthy).
pub async fn adopt(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    adoption: Adoption,
) -> Result<Duration, ApplyError> {
    let deadline = Duration::from_secs(adoption.deadline_secs);
    swap(
        docker,
        tenant,
        &pre_adopt_name(tenant),
        // Adoption is gated on the first healthy answer: the old container
        // was not ours, and `--keep-old` keeps it for a change of mind.
        Gate {
            deadline,
            min_ready: Duration::ZERO,
        },
        adoption.keep_old,
    )
    .await
}
