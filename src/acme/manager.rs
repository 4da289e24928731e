//! Keeping every `tls = "acme"` tenant's certificate: one round looks at
//! each domain's certificate on disk, orders the ones that are missing or
//! inside `renew_before` (as the schedule allows), and saves them. `apply`
//! runs one round; `run` runs one every [`CHECK_EVERY`] and whenever the
//! desired state changes, and asks for a proxy pass when a certificate
//! arrived, so its HTTPS block is rendered and nginx reloaded through the
//! same transactional path as every other change.

use super::schedule::{need, Need};
use super::store;
use crate::desired::{DesiredState, ProxyKind, TlsSource};
use crate::metrics::Metrics;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// How often `run` looks at the certificates (a renewal is due days ahead;
/// a new tenant's first certificate is ordered as soon as it is loaded).
pub const CHECK_EVERY: Duration = Duration::from_secs(60);
/// Bounds one order, whatever the CA does.
const ORDER_TIMEOUT: Duration = Duration::from_secs(120);
/// Bounds reading the certificate Caddy serves for one domain.
const SERVED_TIMEOUT: Duration = Duration::from_secs(5);
/// While a domain waits for its virtual host, `run` looks again this soon
/// (a local request, not an order), for this many rounds.
const WAITING_RETRY: Duration = Duration::from_secs(2);
const WAITING_ROUNDS: u32 = 60;

/// What one round did.
#[derive(Debug, Default)]
pub struct Round {
    /// Tenants that got a new certificate.
    pub issued: Vec<String>,
    /// Tenants whose order failed, with the reason.
    pub failed: BTreeMap<String, String>,
    /// Tenants not ordered yet because nginx does not answer their
    /// challenge path yet (their virtual host is not live), with why.
    pub waiting: BTreeMap<String, String>,
}

/// One round over the ACME tenants of `desired` (see module docs).
pub async fn round(desired: &DesiredState, metrics: Option<&Metrics>) -> Round {
    let mut out = Round::default();
    let Some(proxy) = &desired.proxy else {
        return out;
    };
    let spec = &proxy.acme;
    let domains = store::acme_domains(desired);
    if domains.is_empty() {
        record_expiry(desired, metrics).await;
        return out;
    }
    let mut schedule = store::load_schedule(spec);
    schedule.retain(&domains.values().cloned().collect());
    let mut account = None;
    for (tenant, domain) in &domains {
        let now = SystemTime::now();
        let cert = store::read_cert(spec, domain);
        let needs = need(now, cert.as_ref(), domain, spec.renew_before);
        if needs == Need::Fresh {
            continue;
        }
        if let Err(until) = schedule.may_order(domain, now) {
            let wait = until.duration_since(now).unwrap_or_default();
            tracing::debug!(
                tenant,
                domain,
                wait_secs = wait.as_secs(),
                "certificate order waits (backoff or hourly cap)"
            );
            continue;
        }
        if let Err(why) = super::preflight::preflight(proxy, domain).await {
            tracing::debug!(tenant, domain, reason = %why, "not ordering yet: nginx does not answer the domain's challenge path");
            out.waiting.insert(tenant.clone(), why);
            continue;
        }
        schedule.ordered(now);
        let result = async {
            if account.is_none() {
                account = Some(super::order::account(spec).await?);
            }
            let acct = account.as_ref().expect("set above");
            tokio::time::timeout(ORDER_TIMEOUT, super::order::obtain(acct, spec, domain))
                .await
                .map_err(|_| format!("no certificate within {ORDER_TIMEOUT:?}"))?
        }
        .await
        .and_then(|issued| {
            store::save_cert(spec, domain, &issued.chain_pem, &issued.key_pem).map_err(|e| {
                format!(
                    "cannot save the certificate in {}: {e}",
                    spec.state_dir.display()
                )
            })
        });
        match result {
            Ok(()) => {
                let fresh = store::read_cert(spec, domain);
                let still_due = need(SystemTime::now(), fresh.as_ref(), domain, spec.renew_before)
                    != Need::Fresh;
                if still_due {
                    tracing::warn!(tenant, domain, "the new certificate is already inside renew_before (wider than the CA's certificate lifetime?): not renewed again for a day");
                }
                schedule.succeeded(domain, SystemTime::now(), still_due);
                let expires = fresh
                    .map(|c| crate::certfile::unix_seconds(c.not_after))
                    .unwrap_or(0);
                tracing::info!(
                    tenant,
                    domain,
                    expires,
                    renewal = needs == Need::Renew,
                    "certificate issued"
                );
                if let Some(m) = metrics {
                    m.acme_orders.with_label_values(&["issued"]).inc();
                }
                out.issued.push(tenant.clone());
            }
            Err(why) => {
                let wait = schedule.failed(domain, SystemTime::now(), &why);
                tracing::warn!(tenant, domain, error = %why, retry_in_secs = wait.as_secs(), "certificate order failed; the site keeps what it serves now");
                if let Some(m) = metrics {
                    m.acme_orders.with_label_values(&["failed"]).inc();
                }
                out.failed.insert(tenant.clone(), why);
            }
        }
    }
    store::save_schedule(spec, &schedule);
    record_expiry(desired, metrics).await;
    out
}

/// Sets `tenantctl_certificate_expiry_timestamp_seconds` for every tenant
/// served over HTTPS (ACME or static files).
pub async fn record_expiry(desired: &DesiredState, metrics: Option<&Metrics>) {
    let Some(m) = metrics else { return };
    let values: Vec<(String, String, f64)> = expiries(desired)
        .await
        .into_iter()
        .map(|(t, d, at)| (t, d, crate::certfile::unix_seconds(at) as f64))
        .collect();
    m.certificate_expiry.reset();
    for (tenant, domain, at) in values {
        m.certificate_expiry
            .with_label_values(&[&tenant, &domain])
            .set(at);
    }
}

/// (tenant, domain, expiry) of every readable certificate a tenant's site
/// is served with: files on disk, or for Caddy's own ACME certificates,
/// the one its HTTPS listener presents for the domain.
pub async fn expiries(desired: &DesiredState) -> Vec<(String, String, SystemTime)> {
    let Some(proxy) = &desired.proxy else {
        return Vec::new();
    };
    let caddy_addr = match proxy.kind {
        ProxyKind::Caddy { .. } => Some(crate::proxy::listen_addr(&proxy.tls_listen)),
        ProxyKind::Nginx => None,
    };
    let jobs: Vec<(String, String, TlsSource)> = desired
        .tenants
        .values()
        .filter_map(|t| Some((t.name.clone(), t.domain.clone()?, t.tls.clone()?)))
        .collect();
    // A handshake each for Caddy's: a few at a time, whatever the fleet.
    use futures_util::StreamExt;
    futures_util::stream::iter(jobs)
        .map(|(tenant, domain, tls)| {
            let caddy_addr = caddy_addr.clone();
            let acme = proxy.acme.clone();
            async move {
                let info = match (tls, caddy_addr) {
                    (TlsSource::Acme, Some(addr)) => {
                        super::served::served_cert(&addr, &domain, SERVED_TIMEOUT)
                            .await
                            .ok()
                    }
                    (TlsSource::Acme, None) => store::read_cert(&acme, &domain),
                    (TlsSource::Files(files), _) => std::fs::read(&files.certificate)
                        .ok()
                        .and_then(|pem| crate::certfile::cert_info(&pem).ok()),
                };
                info.map(|i| (tenant, domain, i.not_after))
            }
        })
        .buffer_unordered(8)
        .filter_map(|found| async move { found })
        .collect()
        .await
}

/// `run`'s certificate keeper: a round at every desired state and every
/// [`CHECK_EVERY`]; `issued` is told when a certificate arrived.
pub async fn run(
    mut desired_rx: watch::Receiver<Option<Arc<DesiredState>>>,
    metrics: Arc<Metrics>,
    observe_only: bool,
    issued: tokio::sync::mpsc::UnboundedSender<()>,
) {
    let mut waiting_rounds = 0;
    loop {
        let desired = desired_rx.borrow_and_update().clone();
        let mut next = CHECK_EVERY;
        if let Some(desired) = desired {
            if observe_only {
                record_expiry(&desired, Some(&metrics)).await;
            } else {
                let round = round(&desired, Some(&metrics)).await;
                if !round.issued.is_empty() {
                    let _ = issued.send(());
                }
                // A new tenant's virtual host goes live in the pass after
                // its container: look again soon, for a while.
                if round.waiting.is_empty() {
                    waiting_rounds = 0;
                } else if waiting_rounds < WAITING_ROUNDS {
                    waiting_rounds += 1;
                    next = WAITING_RETRY;
                } else if waiting_rounds == WAITING_ROUNDS {
                    waiting_rounds += 1;
                    for (tenant, why) in &round.waiting {
                        tracing::warn!(tenant, reason = %why, "nginx does not answer the tenant's ACME challenge path: no certificate is ordered until it does");
                    }
                }
            }
        }
        tokio::select! {
            changed = desired_rx.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(next) => {}
        }
    }
}
