//! Rollouts: every change that recreates containers goes through one, in
//! `apply` and `run` alike. The tenants to recreate are updated canary
//! groups first, then in batches of `max_unavailable`, each tenant gated
//! on its health (`apply::replace`); the first tenant that fails is put
//! back on its old container (and, when the new version ran and a
//! pre-upgrade backup exists, its data is restored) and the rollout
//! **halts**: tenants not yet updated keep the old version. The halt is
//! kept in a record on disk (`<state_dir>/<fleet>.rollout.json`), so a
//! restarted controller, `status` and `rollout status` see it; a new
//! revision of the file, or a moved image tag, is a new rollout;
//! `rollout resume` retries the halted one.
//!
//! `order` and `record` are pure; `store` reads and writes the record;
//! `run` drives a rollout against Docker.

mod order;
mod record;
mod run;
mod store;

pub use order::{batches, in_place_part, is_member, members};
pub use record::{rollout_id, Phase, RolloutRecord, TenantPhase};
pub use run::{roll_out, RolloutReport};
pub use store::{load, record_path, save, StoreError};

/// Closes the record of a rollout that has nothing left to do (the fleet
/// needs no recreate): one cut short after its last tenant was updated, or
/// a halted one whose tenants were brought in line another way. Call only
/// where the whole fleet was planned and no rollout runs.
pub fn settle(desired: &crate::desired::DesiredState) {
    if let Ok(Some(record)) = load(desired) {
        close(desired, record);
    }
}

/// [`settle`] for a record already read; returns it as it now stands.
pub fn close(desired: &crate::desired::DesiredState, mut record: RolloutRecord) -> RolloutRecord {
    if record.phase == Phase::Done {
        return record;
    }
    for phase in record.tenants.values_mut() {
        if *phase == TenantPhase::Pending {
            *phase = TenantPhase::Updated;
        }
    }
    record.phase = Phase::Done;
    record.resume = false;
    record.finished = Some(crate::clock::unix_secs());
    tracing::info!(rollout = %record.summary(), "nothing left to roll out; the rollout is done");
    if let Err(e) = save(desired, &record) {
        tracing::warn!(error = %e, "cannot close the rollout record");
    }
    record
}

/// Whether a rollout of `members` with identity `id` may run now: not
/// when the record holds that same rollout halted (and not resumed).
pub fn is_due(record: Option<&RolloutRecord>, id: &str) -> bool {
    !record.is_some_and(|r| r.id == id && r.phase == Phase::Halted && !r.resume)
}
