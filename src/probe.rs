//! Health probes from the host: `GET 127.0.0.1:<port><health path>` on the
//! chart's interval, timeout and retries. A tenant is up after one passing
//! probe and down after `retries` failures in a row. Probes run in their
//! own task with bounded concurrency, so they never delay a reconcile.

use crate::desired::{DesiredState, DesiredTenant};
use crate::metrics::Metrics;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

const MAX_PARALLEL: usize = 8;
const TICK: Duration = Duration::from_millis(250);

/// One HTTP/1.0 GET; `true` on a 2xx answer within `timeout`.
pub async fn probe_http(host: &str, port: u16, path: &str, timeout: Duration) -> bool {
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    matches!(http_status(&addr, host, path, timeout).await, Ok(200..=299))
}

/// `GET path` to `addr` with `Host: host_header`; the status code of the
/// answer, within `timeout` in all (connect, send, status and headers,
/// however many pieces the server writes them in). The one HTTP probe of
/// tenantctl — tenant health from the host, and nginx after a reload —
/// built on hyper's HTTP/1 client rather than a hand-written parser.
pub async fn http_status(
    addr: &str,
    host_header: &str,
    path: &str,
    timeout: Duration,
) -> Result<u16, String> {
    let attempt = async {
        // The response is dropped (the connection closed) unread.
        let (response, _driver) = send(addr, "GET", host_header, path, None).await?;
        Ok(response.status().as_u16())
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

/// Connects to `addr` and sends one HTTP/1 request (a JSON body, if any):
/// the response with its body unread, and the connection's driver.
async fn send(
    addr: &str,
    method: &str,
    host_header: &str,
    path: &str,
    json: Option<String>,
) -> Result<(hyper::Response<hyper::body::Incoming>, crate::http1::Driver), String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    crate::http1::send_on(stream, method, host_header, path, json).await
}

/// `GET path` to `addr` with `Host: host_header`: the status and the
/// first `limit` bytes of the body, within `timeout` in all.
pub async fn http_get(
    addr: &str,
    host_header: &str,
    path: &str,
    limit: usize,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), String> {
    http_call(addr, "GET", host_header, path, None, limit, timeout).await
}

/// One HTTP/1 request to `addr` (a JSON body, if any): the status and
/// the first `limit` bytes of the body, within `timeout` in all. Used for
/// the ACME pre-flight and Caddy's admin API.
pub async fn http_call(
    addr: &str,
    method: &str,
    host_header: &str,
    path: &str,
    json: Option<String>,
    limit: usize,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), String> {
    use http_body_util::BodyExt;
    let attempt = async {
        let (response, _driver) = send(addr, method, host_header, path, json).await?;
        let status = response.status().as_u16();
        let body = http_body_util::Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .map_err(|e| format!("body: {e}"));
        Ok((status, body?))
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
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
                // A slot is free: start the next due probe now, not at
                // the next tick.
            }
            changed = desired.changed() => if changed.is_err() { return },
        }
        let Some(current) = desired.borrow().clone() else {
            continue;
        };
        if states.len() > current.tenants.len() {
            states.retain(|name, _| current.tenants.contains_key(name));
        }
        let now = Instant::now();
        for t in current.tenants.values() {
            if !states.contains_key(&t.name) {
                // New tenant: down until its first probe passes.
                metrics.tenant_up.with_label_values(&[&t.name]).set(0);
                states.insert(t.name.clone(), ProbeState::default());
            }
            let Some(state) = states.get_mut(&t.name) else {
                continue;
            };
            if state.running || state.next_at.is_some_and(|at| at > now) {
                continue;
            }
            // A task only for a probe that can run now: with a thousand
            // tenants due at once, a task each waiting for a slot held
            // every probe's future (and its connection's) in memory at
            // once. The others stay due and start as slots free up.
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                break;
            };
            state.running = true;
            state.next_at =
                Some(now + Duration::from_nanos(t.health.interval_ns.max(1_000_000_000) as u64));
            let (host, port, path) = (probe_host(t), t.port, t.health.path.clone());
            let timeout = Duration::from_nanos(t.health.timeout_ns.max(100_000_000) as u64);
            let (tx, name) = (done_tx.clone(), t.name.clone());
            tokio::spawn(async move {
                let ok = probe_http(&host, port, &path, timeout).await;
                // Free before telling: the loop starts the next probe on
                // this message.
                drop(slot);
                let _ = tx.send((name, ok));
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers `reply` in pieces to one request.
    async fn serve_once(reply: &'static [&'static str]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            for piece in reply {
                let _ = s.write_all(piece.as_bytes()).await;
                let _ = s.flush().await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn only_a_complete_http_answer_counts() {
        let t = Duration::from_secs(5);
        let addr = serve_once(&["HTTP/1.0 503 x\r\nRetry-After: 1\r\n\r\n"]).await;
        assert_eq!(http_status(&addr, "x", "/", t).await, Ok(503));
        let addr = serve_once(&["HTTP/1.1 2"]).await;
        assert!(http_status(&addr, "x", "/", t).await.is_err());
        let addr = serve_once(&["garbage\r\n\r\n"]).await;
        assert!(http_status(&addr, "x", "/", t).await.is_err());
        let addr = serve_once(&[]).await;
        assert_eq!(
            http_status(&addr, "x", "/", t).await,
            Err("no HTTP answer".to_string())
        );
    }

    #[tokio::test]
    async fn a_status_line_written_in_pieces_reads_as_one() {
        let addr = serve_once(&["HT", "TP/1.1 2", "00 OK\r\n", "\r\nok"]).await;
        let status = http_status(&addr, "x", "/health", Duration::from_secs(5)).await;
        assert_eq!(status, Ok(200));
    }
}
