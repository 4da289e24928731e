//! The ACME state directory: the account key, each domain's certificate
//! chain and key, the HTTP-01 webroot and the saved schedule. Every file
//! is written atomically (`atomic_file`); keys with mode 0600.

use super::certfile::{cert_info, CertInfo};
use super::schedule::Schedule;
use crate::desired::{AcmeSpec, DesiredState, TlsSource};
use std::collections::BTreeMap;

pub use crate::atomic_file::write_atomic;

/// The ACME tenants with a domain whose certificates tenantctl obtains:
/// tenant → domain. (Caddy obtains its own: none.)
pub fn acme_domains(desired: &DesiredState) -> BTreeMap<String, String> {
    if !desired
        .proxy
        .as_ref()
        .is_some_and(|p| p.kind == crate::desired::ProxyKind::Nginx)
    {
        return BTreeMap::new();
    }
    desired
        .tenants
        .values()
        .filter(|t| t.tls == Some(TlsSource::Acme))
        .filter_map(|t| Some((t.name.clone(), t.domain.clone()?)))
        .collect()
}

/// The certificate on disk for `domain`, if it and its key are readable.
pub fn read_cert(spec: &AcmeSpec, domain: &str) -> Option<CertInfo> {
    let files = spec.files_for(domain);
    let pem = std::fs::read(&files.certificate).ok()?;
    std::fs::metadata(&files.key).ok()?;
    cert_info(&pem).ok()
}

/// ACME tenants whose certificate is on disk, for this domain and not
/// expired, with its serial: their HTTPS block can be rendered. (IO: the
/// proxy planner's input, as the current nginx files are.)
pub fn ready(desired: &DesiredState) -> crate::proxy::Certified {
    let Some(proxy) = &desired.proxy else {
        return Default::default();
    };
    let now = std::time::SystemTime::now();
    acme_domains(desired)
        .into_iter()
        .filter_map(|(tenant, domain)| {
            let c = read_cert(&proxy.acme, &domain)?;
            let usable =
                c.not_after > now && c.names.iter().any(|n| n.eq_ignore_ascii_case(&domain));
            usable.then_some((tenant, c.serial))
        })
        .collect()
}

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
