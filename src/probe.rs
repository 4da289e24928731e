//! Health probes from the host: `GET 127.0.0.1:<port><health path>` on the
//! chart's interval, timeout and retries. A tenant is up after one passing
//! probe and down after `retries` failures in a row. Probes run in their
//! own task with bounded concurrency, so they never delay a reconcile.

use crate::desired::{DesiredState, DesiredTenant};
use crate::metrics::Metrics;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Semaphore};

const MAX_PARALLEL: usize = 8;
const TICK: Duration = Duration::from_millis(250);

/// One HTTP/1.0 GET; `true` on a 2xx answer within `timeout`.
pub async fn probe_http(host: &str, port: u16, path: &str, timeout: Duration) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: tenantctl-probe\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 32];
        let n = stream.read(&mut head).await.ok()?;
        let line = String::from_utf8_lossy(&head[..n]).to_string();
        let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some((200..300).contains(&status))
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Some(true)))
}

/// Where to probe a tenant: its published address, loopback for 0.0.0.0.
pub fn probe_host(t: &DesiredTenant) -> String {
    match t.host_ip.as_str() {
        "0.0.0.0" | "" => "127.0.0.1".into(),
        "::" => "::1".into(),
        ip => ip.into(),
    }
}

#[derive(Default)]
struct ProbeState {
    next_at: Option<Instant>,
    failures: i64,
    running: bool,
}

/// Runs forever, probing the tenants of the latest desired state.
pub async fn run_probes(
    mut desired: watch::Receiver<Option<Arc<DesiredState>>>,
    metrics: Arc<Metrics>,
) {
    let slots = Arc::new(Semaphore::new(MAX_PARALLEL));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(String, bool)>();
    let mut states: BTreeMap<String, ProbeState> = BTreeMap::new();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some((tenant, ok)) = done_rx.recv() => {
                let current = desired.borrow().clone();
                let Some(t) = current.as_ref().and_then(|d| d.tenants.get(&tenant).cloned()) else { continue };
                let state = states.entry(tenant.clone()).or_default();
                state.running = false;
                if ok {
                    state.failures = 0;
                    metrics.tenant_up.with_label_values(&[&tenant]).set(1);
                } else {
                    state.failures += 1;
                    if state.failures >= t.health.retries.max(1) {
                        metrics.tenant_up.with_label_values(&[&tenant]).set(0);
                    }
                }
                continue;
            }
            changed = desired.changed() => if changed.is_err() { return },
        }
        let Some(current) = desired.borrow().clone() else {
            continue;
        };
        states.retain(|name, _| current.tenants.contains_key(name));
        let now = Instant::now();
        for t in current.tenants.values() {
            let state = states.entry(t.name.clone()).or_default();
            if state.running || state.next_at.is_some_and(|at| at > now) {
                continue;
            }
            if state.next_at.is_none() {
                // New tenant: down until its first probe passes.
                metrics.tenant_up.with_label_values(&[&t.name]).set(0);
            }
            state.running = true;
            state.next_at =
                Some(now + Duration::from_nanos(t.health.interval_ns.max(1_000_000_000) as u64));
            let (host, port, path) = (probe_host(t), t.port, t.health.path.clone());
            let timeout = Duration::from_nanos(t.health.timeout_ns.max(100_000_000) as u64);
            let (tx, slots, name) = (done_tx.clone(), Arc::clone(&slots), t.name.clone());
            tokio::spawn(async move {
                let Ok(_slot) = slots.acquire_owned().await else {
                    return;
                };
                let ok = probe_http(&host, port, &path, timeout).await;
                let _ = tx.send((name, ok));
            });
        }
    }
}
