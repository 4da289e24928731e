//! The controller's HTTP listener: `/healthz` (the process is alive),
//! `/readyz` (a valid config is loaded and Docker answers) and, from the
//! metrics module, `/metrics`. Loopback by default: it is for Prometheus
//! and the host's own checks, not the internet.

use crate::controller::Readiness;
use crate::metrics::Metrics;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::sync::Arc;

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

/// Serves on an already bound listener until `shutdown` resolves (bind
/// first, so a taken port is an error at startup, not in a log line).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "serving /healthz /readyz /metrics");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// `POST /hooks/git`, present only when a webhook secret is configured.
pub fn webhook_router(secret: Vec<u8>, pull: tokio::sync::mpsc::Sender<()>) -> Router {
    let state = Arc::new((secret, pull));
    Router::new().route(
        "/hooks/git",
        axum::routing::post(
            |State(state): State<Arc<(Vec<u8>, tokio::sync::mpsc::Sender<()>)>>,
             headers: axum::http::HeaderMap,
             body: axum::body::Bytes| async move {
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
