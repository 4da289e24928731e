//! Which `tls = "acme"` tenants have a usable certificate on disk: the
//! proxy planner's input (as the current nginx files are) and the ACME
//! manager's. Its own module so the proxy reads it without importing
//! `acme`, which imports the proxy's listen address parser.

use crate::certfile::{cert_info, CertInfo};
use crate::desired::{AcmeSpec, DesiredState, TlsSource};
use std::collections::BTreeMap;

/// `tls = "acme"` tenants whose certificate is on disk → its serial
/// number. The serial goes into the tenant's file as a comment: a renewed
/// certificate has the same paths, and nginx only loads it on a reload,
/// which a changed file brings through the usual transactional path.
pub type Certified = BTreeMap<String, String>;

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
pub fn ready(desired: &DesiredState) -> Certified {
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
