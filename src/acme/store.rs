//! The ACME state directory: the account key, each domain's certificate
//! chain and key, the HTTP-01 webroot and the saved schedule. Every file
//! is written atomically (`atomic_file`); keys with mode 0600.

use super::schedule::Schedule;
use crate::desired::AcmeSpec;

pub use crate::atomic_file::write_atomic;
pub use crate::certified::{acme_domains, read_cert};

fn schedule_file(spec: &AcmeSpec) -> std::path::PathBuf {
    spec.state_dir.join("schedule.json")
}

/// The saved schedule (an unreadable one starts afresh, with a warning).
pub fn load_schedule(spec: &AcmeSpec) -> Schedule {
    match std::fs::read(schedule_file(spec)) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the ACME schedule; starting afresh");
            Schedule::default()
        }),
        Err(_) => Schedule::default(),
    }
}

pub fn save_schedule(spec: &AcmeSpec, schedule: &Schedule) {
    let bytes = serde_json::to_vec_pretty(schedule).unwrap_or_default();
    if let Err(e) = write_atomic(&schedule_file(spec), &bytes, 0o600) {
        tracing::warn!(error = %e, "cannot save the ACME schedule");
    }
}

/// Saves a new certificate: the key first, then the chain (so a chain on
/// disk always has its key beside it).
pub fn save_cert(
    spec: &AcmeSpec,
    domain: &str,
    chain_pem: &str,
    key_pem: &str,
) -> std::io::Result<()> {
    let files = spec.files_for(domain);
    write_atomic(&files.key, key_pem.as_bytes(), 0o600)?;
    write_atomic(&files.certificate, chain_pem.as_bytes(), 0o644)
}
