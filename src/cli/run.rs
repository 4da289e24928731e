//! `tenantctl run -f FILE [--listen ADDR] [--resync 30s]`: the controller.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tenantctl::controller::{Controller, Readiness, Settings};

pub struct RunArgs {
    pub webhook_secret: Option<Vec<u8>>,
    /// Where the desired state comes from (a file, or git).
    pub origin: tenantctl::sources::Origin,
    /// Subscribe to Docker events (hints); the resync works without them.
    pub events: bool,
    pub settings: Settings,
    pub listen: SocketAddr,
    pub lock_file: Option<PathBuf>,
    pub docker_timeout: Duration,
}

pub async fn run(args: RunArgs) -> ExitCode {
    let lock_path = args
        .lock_file
        .clone()
        .unwrap_or_else(tenantctl::lock::default_lock_path);
    let _lock = match tenantctl::lock::acquire(&lock_path) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let docker = match super::connect(args.docker_timeout).await {
        Ok(d) => d,
        Err(code) => return code,
    };
    let readiness = Arc::new(Readiness::default());
    let metrics = Arc::new(tenantctl::metrics::Metrics::for_node(
        super::server_scope().node(),
    ));
    docker.requests().attach(metrics.docker_requests.clone());
    let reopen_events = Arc::new(tokio::sync::Notify::new());
    let controller = Controller::new(
        args.settings.clone(),
        docker.clone(),
        Arc::clone(&readiness),
        Arc::clone(&metrics),
    );
    let controller = if args.events {
        controller.with_event_reopen(Arc::clone(&reopen_events))
    } else {
        controller
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (hook_tx, hook_rx) = tokio::sync::mpsc::channel::<()>(1);
    let server = {
        let mut rx = stop_rx.clone();
        let mut router = tenantctl::server::router(Arc::clone(&readiness), Arc::clone(&metrics))
            .merge(tenantctl::server::status_router(
                tenantctl::server::StatusSource {
                    docker: docker.clone(),
                    desired: controller.desired_watch(),
                    metrics: Arc::clone(&metrics),
                    one_look: Default::default(),
                },
            ));
        if let Some(secret) = args.webhook_secret.clone() {
            router = router.merge(tenantctl::server::webhook_router(secret, hook_tx.clone()));
        }
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.wait_for(|stop| *stop).await;
            };
            tenantctl::server::serve_on(listener, router, shutdown).await
        })
    };
    tracing::info!(source = ?args.origin, listen = %args.listen, lock = %lock_path.display(), "controller starting");
    // Every trigger source sends into one channel; the controller reads it.
    let events = args.events.then(|| (docker.clone(), reopen_events));
    let (_sources, triggers) =
        tenantctl::sources::start(args.origin, events, hook_rx, Arc::clone(&metrics));
    controller.run(triggers, shutdown_signal()).await;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    tracing::info!("controller stopped");
    ExitCode::SUCCESS
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the controller");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}
