//! The controller's HTTP listener: `/healthz` (the process is alive),
//! `/readyz` (a valid config is loaded and Docker answers) and, from the
//! metrics module, `/metrics`. Loopback by default: it is for Prometheus
//! and the host's own checks, not the internet.

use crate::controller::Readiness;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::sync::Arc;

pub fn router(readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

async fn readyz(State(r): State<Arc<Readiness>>) -> (StatusCode, String) {
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
