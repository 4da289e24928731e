//! `tenantctl run -f FILE [--listen ADDR] [--resync 30s]`: the controller.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tenantctl::controller::{Controller, Readiness, Settings};
use tenantctl::kinds::Backend;
use tenantctl::trigger::Trigger;
use tokio::sync::mpsc::UnboundedReceiver;

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
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let split = tokio::select! {
        split = by_backend(triggers, &metrics) => Some(split),
        _ = &mut shutdown => None,
    };
    match split {
        None => {}
        Some((Backend::Swarm, triggers)) => {
            tracing::info!("backend \"swarm\": driving services from this manager");
            if args.settings.prune || args.settings.adopt.is_some() {
                tracing::warn!("--prune and --adopt have no effect on a Swarm fleet: tenantctl never removes a service (those of tenants that left the file are reported) and has no containers to adopt");
            }
            let swarm = tenantctl::swarm::run::SwarmLoop {
                docker: docker.clone(),
                metrics: Arc::clone(&metrics),
                readiness: Arc::clone(&readiness),
                resync: args.settings.intervals.resync,
                observe_only: args.settings.observe_only,
                events: args.events,
            };
            swarm.run(triggers, shutdown).await;
        }
        Some((Backend::Docker, triggers)) => controller.run(triggers, shutdown).await,
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    tracing::info!("controller stopped");
    ExitCode::SUCCESS
}

/// Waits for the first valid desired state to learn the fleet's backend,
/// then hands every trigger (that one included) to the one loop that
/// drives it. A later state with another backend is passed on as an
/// error, so the running loop keeps its last good state: switching a
/// fleet between Docker and Swarm is a restart, never a surprise.
async fn by_backend(
    mut triggers: UnboundedReceiver<Trigger>,
    metrics: &tenantctl::metrics::Metrics,
) -> (Backend, UnboundedReceiver<Trigger>) {
    let mut early = Vec::new();
    let backend = loop {
        let Some(t) = triggers.recv().await else {
            break Backend::Docker;
        };
        match &t {
            Trigger::Loaded { result, revision } => match result.as_ref() {
                Ok(d) => {
                    let b = d.backend;
                    early.push(t);
                    break b;
                }
                // No loop runs yet to keep a last good state: said here.
                Err(diags) => {
                    metrics.set_config(false, None);
                    for d in &diags.0 {
                        tracing::error!(
                            revision,
                            "invalid tenants file, keeping the last good state: {d}"
                        );
                    }
                }
            },
            _ => early.push(t),
        }
    };
    let (tx, out) = tokio::sync::mpsc::unbounded_channel();
    for t in early {
        let _ = tx.send(t);
    }
    tokio::spawn(async move {
        while let Some(t) = triggers.recv().await {
            let t = match t {
                Trigger::Loaded { revision, result } => {
                    let result = match *result {
                        Ok(d) if d.backend != backend => Err(tenantctl::diagnostic::Diagnostics(vec![
                            tenantctl::diagnostic::at_line(
                                std::path::Path::new("tenants.toml"),
                                1,
                                format!(
                                    "backend changed from \"{}\" to \"{}\": restart `tenantctl run` to switch; the last good state is kept",
                                    backend.as_str(),
                                    d.backend.as_str()
                                ),
                            ),
                        ])),
                        other => other,
                    };
                    Trigger::Loaded {
                        revision,
                        result: Box::new(result),
                    }
                }
                other => other,
            };
            if tx.send(t).is_err() {
                return;
            }
        }
    });
    (backend, out)
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
