//! The controller's HTTP listener: `/healthz` (the process is alive),
//! `/readyz` (a valid config is loaded and Docker answers) and, from the
//! metrics module, `/metrics`. Loopback by default: it is for Prometheus
//! and the host's own checks, not the internet.

use crate::metrics::Metrics;
use crate::readiness::Readiness;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
struct AppState {
    readiness: Arc<Readiness>,
    metrics: Arc<Metrics>,
}

pub fn router(readiness: Arc<Readiness>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AppState { readiness, metrics })
}

async fn metrics_text(
    State(s): State<AppState>,
) -> ([(header::HeaderName, &'static str); 1], String) {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, String) {
    let r = &s.readiness;
    let (config, docker) = (r.config_loaded(), r.docker_ok());
    let status = if config && docker {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        format!("config_loaded {config}\ndocker_reachable {docker}\n"),
    )
}

/// What the status page and `/api/status` read: the desired state in
/// force (from the controller) and the host, looked at afresh per request
/// (one look at a time: a page reloading every 10 s costs a list and an
/// inspect per container, like `tenantctl status`).
#[derive(Clone)]
pub struct StatusSource {
    pub docker: crate::docker::DockerClient,
    pub desired: tokio::sync::watch::Receiver<Option<Arc<crate::desired::DesiredState>>>,
    pub metrics: Arc<Metrics>,
    pub one_look: Arc<tokio::sync::Mutex<()>>,
}

/// `GET /` (the status page) and `GET /api/status` (its rows as JSON, the
/// shape of `tenantctl status --json`).
pub fn status_router(source: StatusSource) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/api/status", get(status_json))
        .with_state(source)
}

type Failure = (StatusCode, String);

async fn look(
    s: &StatusSource,
) -> Result<(Arc<crate::desired::DesiredState>, Vec<crate::status::Row>), Failure> {
    let desired = s.desired.borrow().clone().ok_or_else(|| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no valid tenants file is loaded yet\n".to_string(),
        )
    })?;
    let _one = s.one_look.lock().await;
    let observed = crate::observe::observe(&s.docker, &desired, crate::observe::Detail::Full)
        .await
        .map_err(|e| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot read the Docker host: {e}\n"),
            )
        })?;
    let rows = crate::status::rows(&desired, &observed).await;
    Ok((desired, rows))
}

async fn status_json(
    State(s): State<StatusSource>,
) -> Result<([(header::HeaderName, &'static str); 1], String), Failure> {
    let (_, rows) = look(&s).await?;
    let body = serde_json::to_string_pretty(&rows).unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "application/json")], body))
}

async fn status_page(
    State(s): State<StatusSource>,
) -> Result<([(header::HeaderName, &'static str); 1], String), Failure> {
    let (desired, rows) = look(&s).await?;
    let usage = rows
        .iter()
        .map(|r| (r.tenant.clone(), s.metrics.usage_history(&r.tenant)))
        .collect();
    let halted = crate::rollout::load(&desired)
        .ok()
        .flatten()
        .filter(|r| r.phase == crate::rollout::Phase::Halted)
        .map(|r| r.summary());
    let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string();
    let html = crate::page::render(&desired.fleet, &rows, &usage, halted.as_deref(), &now);
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html))
}

/// Connections served at once; more are closed on accept. Bounds the file
/// descriptors the listener can take from the Docker client.
pub const MAX_CONNECTIONS: usize = 256;
/// A client must send its request headers within this time.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A webhook body must arrive within this time.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// No connection lives longer, idle keep-alive included (Prometheus simply
/// reconnects): a client that connects and sends nothing cannot hold a
/// slot for long.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
const MAX_WEBHOOK_BODY: usize = 1 << 20;
/// Request line and headers must fit in this many bytes (hyper's default
/// is ~400 KiB); a larger head is refused with 431.
pub const MAX_HEADER_BYTES: usize = 16 << 10;

/// Serves on an already bound listener until `shutdown` resolves (bind
/// first, so a taken port is an error at startup, not in a log line).
/// Half-sent requests time out and connections are capped: 1,100 sockets
/// sending half a request once took `/metrics` down and starved the
/// Docker client of file descriptors.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "serving / (status page) /api/status /healthz /readyz /metrics");
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, most often: back off a moment.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        connections.spawn(async move {
            let _slot = slot;
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
        });
    }
    // Answers in flight get a moment; the endpoints are all quick.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
    Ok(())
}

/// `POST /hooks/git`, present only when a webhook secret is configured.
pub fn webhook_router(secret: Vec<u8>, pull: tokio::sync::mpsc::Sender<()>) -> Router {
    let state = Arc::new((secret, pull));
    Router::new().route(
        "/hooks/git",
        axum::routing::post(
            |State(state): State<Arc<(Vec<u8>, tokio::sync::mpsc::Sender<()>)>>,
             headers: axum::http::HeaderMap,
             body: axum::body::Body| async move {
                // A declared size over the limit is refused before one
                // byte of the body is read (a 50 MB upload costs nothing).
                let declared = headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                if declared.is_some_and(|n| n > MAX_WEBHOOK_BODY as u64) {
                    return (StatusCode::PAYLOAD_TOO_LARGE, "body too large\n");
                }
                let body = match tokio::time::timeout(
                    BODY_READ_TIMEOUT,
                    axum::body::to_bytes(body, MAX_WEBHOOK_BODY),
                )
                .await
                {
                    Ok(Ok(body)) => body,
                    Ok(Err(_)) => {
                        return (
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "body too large or unreadable\n",
                        )
                    }
                    Err(_) => return (StatusCode::REQUEST_TIMEOUT, "body not sent in time\n"),
                };
                let signature = headers
                    .get(crate::webhook::SIGNATURE_HEADER)
                    .and_then(|v| v.to_str().ok());
                if !crate::webhook::verify(&state.0, &body, signature) {
                    tracing::warn!("webhook with a missing or wrong signature refused");
                    return (StatusCode::UNAUTHORIZED, "invalid signature\n");
                }
                // A pull already pending covers this one too.
                let _ = state.1.try_send(());
                (StatusCode::ACCEPTED, "pull requested\n")
            },
        )
        .with_state(state),
    )
}
