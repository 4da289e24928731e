//! `tenantctl run`: the level-triggered loop that keeps the host equal to
//! the tenants file. Three triggers feed one work queue — the file changing,
//! Docker events (hints only) and a periodic resync — and a slower verify
//! pass inspects every container for hand edits that raised no event.
//! A tenant is never reconciled twice at once (see `queue`), failures back
//! off per tenant, and an invalid edit leaves the last good state enforced.

mod events;
mod queue;
mod reconcile;

pub use queue::{backoff, Outcome, WorkQueue};
pub use reconcile::{reconcile_tenant, Reconciled};

use crate::apply::ApplyError;
use crate::desired::DesiredState;
use crate::docker::{DockerClient, DockerError};
use crate::load::load_desired;
use crate::observe::{observe, Detail};
use crate::plan::plan;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinSet;

#[derive(Debug, Clone)]
pub struct Settings {
    pub file: PathBuf,
    /// Cheap list-only pass (a handful of calls whatever the fleet size).
    pub resync: Duration,
    /// Full pass with an inspect per container (hand `docker update`s).
    pub verify: Duration,
    /// Re-read interval for the file, backing up the watcher.
    pub poll: Duration,
    pub concurrency: usize,
    /// Remove our containers whose tenant left the file (volumes are kept).
    pub prune: bool,
    /// Subscribe to Docker events (hints); the resync works without them.
    pub events: bool,
    /// How long in-flight Docker work may take to finish on shutdown.
    pub shutdown_grace: Duration,
}

/// What `/readyz` reports.
#[derive(Debug, Default)]
pub struct Readiness {
    config_loaded: AtomicBool,
    docker_ok: AtomicBool,
}

impl Readiness {
    pub fn config_loaded(&self) -> bool {
        self.config_loaded.load(Ordering::Relaxed)
    }
    pub fn docker_ok(&self) -> bool {
        self.docker_ok.load(Ordering::Relaxed)
    }
}

/// Inputs to the loop besides timers.
#[derive(Debug)]
pub enum Trigger {
    /// A Docker event about this tenant's container.
    Tenant(String),
    /// The event stream (re)connected: list everything again.
    Relist,
}

/// Result of a fleet-wide pass: tenants that are not in sync.
type PassResult = Result<PassReport, DockerError>;

#[derive(Debug)]
struct PassReport {
    out_of_sync: Vec<String>,
    orphans: Vec<crate::plan::Orphan>,
}

pub struct Controller {
    settings: Settings,
    docker: DockerClient,
    readiness: Arc<Readiness>,
    desired: Option<Arc<DesiredState>>,
    last_error: Option<String>,
    queue: WorkQueue,
}

impl Controller {
    pub fn new(settings: Settings, docker: DockerClient, readiness: Arc<Readiness>) -> Self {
        let queue = WorkQueue::new(settings.concurrency);
        Self {
            settings,
            docker,
            readiness,
            desired: None,
            last_error: None,
            queue,
        }
    }

    /// Runs until `shutdown` resolves, then lets in-flight work finish
    /// (bounded by `shutdown_grace`).
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        let (file_tx, mut file_rx) = unbounded_channel::<()>();
        let watch = crate::source::watch_dirs([self.settings.file.as_path()], file_tx);
        if let Err(e) = &watch {
            tracing::warn!(error = %e, "cannot watch the tenants file's directory; polling only");
        }
        let (trigger_tx, mut trigger_rx) = unbounded_channel::<Trigger>();
        let events = self.settings.events.then(|| {
            tokio::spawn(events::watch_events(
                self.docker.clone(),
                trigger_tx.clone(),
            ))
        });
        let (pass_tx, mut pass_rx) = unbounded_channel::<(bool, PassResult)>();
        let mut workers: JoinSet<(String, Result<Reconciled, ApplyError>)> = JoinSet::new();
        let mut pass_running = false;
        let mut next_poll = Instant::now() + self.settings.poll;
        let mut next_resync = Instant::now() + self.settings.resync;
        let mut next_verify = Instant::now() + self.settings.verify;
        let mut reload = ReloadDebounce::default();

        self.reload();
        self.start_pass(&pass_tx, &mut pass_running, Detail::Full);
        tokio::pin!(shutdown);
        loop {
            let now = Instant::now();
            if let Some(desired) = &self.desired {
                while let Some(tenant) = self.queue.pop_ready(now) {
                    if !desired.tenants.contains_key(&tenant) {
                        self.queue.done(&tenant, Outcome::InSync, now);
                        self.queue.forget(&tenant);
                        continue;
                    }
                    let (docker, desired) = (self.docker.clone(), Arc::clone(desired));
                    workers.spawn(async move {
                        let result = reconcile_tenant(&docker, &desired, &tenant).await;
                        (tenant, result)
                    });
                }
            }
            let mut wake = next_poll.min(next_resync).min(next_verify);
            if let Some(at) = reload.due_at() {
                wake = wake.min(at);
            }
            if let Some(deadline) = self.queue.next_deadline() {
                wake = wake.min(deadline);
            }
            tokio::select! {
                _ = &mut shutdown => break,
                Some(()) = file_rx.recv() => reload.touch(Instant::now()),
                Some(trigger) = trigger_rx.recv() => match trigger {
                    Trigger::Tenant(t) => self.queue.enqueue(&t),
                    Trigger::Relist => self.start_pass(&pass_tx, &mut pass_running, Detail::ListOnly),
                },
                Some((full, result)) = pass_rx.recv() => {
                    pass_running = false;
                    self.pass_done(full, result, &mut workers);
                }
                Some(joined) = workers.join_next() => match joined {
                    Ok((tenant, result)) => self.reconciled(&tenant, result),
                    Err(e) => tracing::error!(error = %e, "reconcile task panicked"),
                },
                _ = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if now >= next_poll {
                        next_poll = now + self.settings.poll;
                        reload.touch(now);
                    }
                    if reload.take_due(now) {
                        self.reload();
                    }
                    if now >= next_verify {
                        next_verify = now + self.settings.verify;
                        next_resync = now + self.settings.resync;
                        self.start_pass(&pass_tx, &mut pass_running, Detail::Full);
                    } else if now >= next_resync {
                        next_resync = now + self.settings.resync;
                        self.start_pass(&pass_tx, &mut pass_running, Detail::ListOnly);
                    }
                }
            }
        }
        if let Some(events) = events {
            events.abort();
        }
        drop(watch);
        tracing::info!(
            in_flight = workers.len(),
            "shutting down: no new work; waiting for in-flight Docker calls"
        );
        let drained = tokio::time::timeout(self.settings.shutdown_grace, async {
            while let Some(joined) = workers.join_next().await {
                if let Ok((tenant, result)) = joined {
                    self.reconciled(&tenant, result);
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "in-flight work did not finish within the grace period; stopping anyway"
            );
            workers.abort_all();
        }
    }

    /// Re-reads the tenants file (and charts, env files). A valid new state
    /// replaces the old one and queues exactly the tenants that changed; an
    /// invalid one is logged once per distinct error and changes nothing.
    fn reload(&mut self) {
        match load_desired(&self.settings.file) {
            Ok(new) => {
                self.last_error = None;
                self.readiness.config_loaded.store(true, Ordering::Relaxed);
                if self.desired.as_deref() == Some(&new) {
                    return;
                }
                let old = self.desired.take();
                let mut changed = 0;
                for (name, tenant) in &new.tenants {
                    if old.as_ref().and_then(|o| o.tenants.get(name)) != Some(tenant) {
                        self.queue.enqueue_now(name);
                        changed += 1;
                    }
                }
                if let Some(old) = &old {
                    for name in old.tenants.keys().filter(|n| !new.tenants.contains_key(*n)) {
                        self.queue.forget(name);
                        tracing::info!(tenant = %name, prune = self.settings.prune, "tenant left the file");
                    }
                }
                tracing::info!(tenants = new.tenants.len(), changed, sha256 = %new.source_sha256, "loaded desired state");
                self.desired = Some(Arc::new(new));
            }
            Err(diags) => {
                let text = diags.to_string();
                if self.last_error.as_deref() != Some(&text) {
                    for d in &diags.0 {
                        tracing::error!("invalid tenants file, keeping the last good state: {d}");
                    }
                    self.last_error = Some(text);
                }
            }
        }
    }

    /// Starts a fleet-wide observe + plan in the background, one at a time.
    fn start_pass(
        &self,
        tx: &UnboundedSender<(bool, PassResult)>,
        running: &mut bool,
        detail: Detail,
    ) {
        let Some(desired) = self.desired.clone() else {
            return;
        };
        if *running {
            return;
        }
        *running = true;
        let (docker, tx, prune) = (self.docker.clone(), tx.clone(), self.settings.prune);
        tokio::spawn(async move {
            let result = observe(&docker, &desired, detail).await.map(|observed| {
                let plan = plan(&desired, &observed, prune);
                PassReport {
                    out_of_sync: plan
                        .tenants
                        .iter()
                        .filter(|t| !t.actionable().is_empty() || !t.conflicts.is_empty())
                        .map(|t| t.tenant.clone())
                        .collect(),
                    orphans: plan.orphans,
                }
            });
            let _ = tx.send((detail == Detail::Full, result));
        });
    }

    fn pass_done(
        &mut self,
        full: bool,
        result: PassResult,
        workers: &mut JoinSet<(String, Result<Reconciled, ApplyError>)>,
    ) {
        match result {
            Ok(report) => {
                self.readiness.docker_ok.store(true, Ordering::Relaxed);
                tracing::debug!(full, out_of_sync = report.out_of_sync.len(), "pass done");
                for tenant in &report.out_of_sync {
                    self.queue.enqueue(tenant);
                }
                if self.settings.prune {
                    for orphan in report.orphans {
                        let docker = self.docker.clone();
                        workers.spawn(async move {
                            let result =
                                crate::apply::remove_orphan(&docker, &orphan.container).await;
                            let tenant = format!("(pruned) {}", orphan.tenant);
                            (
                                tenant,
                                result
                                    .map(|()| Reconciled::pruned())
                                    .map_err(ApplyError::from),
                            )
                        });
                    }
                }
            }
            Err(e) => {
                self.readiness.docker_ok.store(false, Ordering::Relaxed);
                tracing::warn!(error = %e, "cannot read the Docker host; nothing changed, will retry");
            }
        }
    }

    fn reconciled(&mut self, tenant: &str, result: Result<Reconciled, ApplyError>) {
        let now = Instant::now();
        if tenant.starts_with("(pruned) ") {
            if let Err(e) = result {
                tracing::warn!(error = %e, "prune failed");
            }
            return;
        }
        let outcome = match &result {
            Ok(r) if r.done.is_empty() => Outcome::InSync,
            Ok(_) => Outcome::Changed,
            Err(_) => Outcome::Failed,
        };
        match &result {
            Ok(r) if r.crash_looping => {
                tracing::warn!(
                    tenant,
                    "container is restarting over and over (crash loop); reported, not recreated"
                )
            }
            Ok(r) if !r.done.is_empty() => tracing::info!(tenant, actions = ?r.done, "reconciled"),
            Ok(_) => {}
            Err(e) => {
                if let ApplyError::Docker(d) = e {
                    if !d.is_retryable() {
                        tracing::debug!(
                            tenant,
                            "error is not retryable by itself; backing off anyway"
                        );
                    }
                }
                tracing::warn!(tenant, error = %e, "reconcile failed; will retry with backoff");
            }
        }
        self.queue.done(tenant, outcome, now);
        if self.queue.is_backing_off(tenant, now) && outcome == Outcome::Changed {
            tracing::warn!(
                tenant,
                "tenant keeps needing changes; slowing down its reconciles"
            );
        }
    }
}

/// Trailing debounce for re-reading the file: wait for `QUIET` without a new
/// change, but never longer than `MAX_WAIT` after the first one, so a burst
/// of edits costs a couple of reloads and a long burst still makes progress.
#[derive(Debug, Default)]
struct ReloadDebounce {
    first: Option<Instant>,
    due: Option<Instant>,
}

impl ReloadDebounce {
    const QUIET: Duration = Duration::from_millis(200);
    const MAX_WAIT: Duration = Duration::from_secs(1);

    fn touch(&mut self, now: Instant) {
        let first = *self.first.get_or_insert(now);
        self.due = Some((now + Self::QUIET).min(first + Self::MAX_WAIT));
    }

    fn due_at(&self) -> Option<Instant> {
        self.due
    }

    fn take_due(&mut self, now: Instant) -> bool {
        if self.due.is_some_and(|d| d <= now) {
            *self = Self::default();
            true
        } else {
            false
        }
    }
}

/// Channel for tests and embedders that want to feed triggers by hand.
pub fn trigger_channel() -> (UnboundedSender<Trigger>, UnboundedReceiver<Trigger>) {
    unbounded_channel()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_waits_for_quiet_but_not_forever() {
        let t0 = Instant::now();
        let mut d = ReloadDebounce::default();
        d.touch(t0);
        assert!(!d.take_due(t0 + Duration::from_millis(100)));
        // Edits every 40 ms keep pushing the reload out, up to MAX_WAIT.
        let mut t = t0;
        for _ in 0..20 {
            t += Duration::from_millis(40);
            d.touch(t);
        }
        assert_eq!(d.due_at(), Some(t0 + ReloadDebounce::MAX_WAIT));
        assert!(d.take_due(t0 + ReloadDebounce::MAX_WAIT));
        assert_eq!(d.due_at(), None);
    }
}
