//! `tenantctl run`: the level-triggered loop that keeps the host equal to
//! the tenants file. Three triggers feed one work queue — the file changing,
//! Docker events (hints only) and a periodic resync — and a slower verify
//! pass inspects every container for hand edits that raised no event.
//! A tenant is never reconciled twice at once (see `queue`), failures back
//! off per tenant, and an invalid edit leaves the last good state enforced.

mod debounce;
mod events;
mod queue;
mod reconcile;

pub use crate::readiness::Readiness;
pub use crate::trigger::Trigger;
pub use queue::{backoff, Outcome, WorkQueue};
pub use reconcile::{reconcile_tenant, Reconciled};

use crate::desired::DesiredState;
use crate::docker::{DockerClient, DockerError};
use crate::load::load_desired;
use crate::metrics::Metrics;
use crate::observe::{observe, Detail};
use crate::plan::{plan, Plan};
use debounce::ReloadDebounce;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

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
    /// How often per-tenant CPU/memory is read from Docker stats.
    pub stats_interval: Duration,
    /// How long in-flight Docker work may take to finish on shutdown.
    pub shutdown_grace: Duration,
    /// GitOps mode: follow a branch instead of watching `file`.
    pub git: Option<crate::gitsource::GitSettings>,
}

/// A fleet-wide observe + plan, done in the background, with the tenants
/// that nginx must answer with a 503 page.
type PassResult = Result<(Plan, BTreeSet<String>), DockerError>;

enum Work {
    Tenant(Reconciled),
    Pruned(String, Result<(), DockerError>),
    Proxy(BTreeMap<String, String>, crate::proxy::ProxyOutcome),
}

pub struct Controller {
    settings: Settings,
    docker: DockerClient,
    readiness: Arc<Readiness>,
    metrics: Arc<Metrics>,
    desired: Option<Arc<DesiredState>>,
    desired_tx: watch::Sender<Option<Arc<DesiredState>>>,
    last_error: Option<String>,
    queue: WorkQueue,
    /// Another list-only pass is wanted (after changes, to refresh nginx).
    want_pass: bool,
    proxy_running: bool,
    /// The nginx config last applied successfully.
    proxy_applied: Option<BTreeMap<String, String>>,
    /// The git revision in force ("" when following a plain file).
    revision: String,
    /// Webhook pull requests, handed to the git source.
    hooks: Option<tokio::sync::mpsc::Receiver<()>>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Controller {
    pub fn new(
        settings: Settings,
        docker: DockerClient,
        readiness: Arc<Readiness>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let queue = WorkQueue::new(settings.concurrency);
        let (desired_tx, _) = watch::channel(None);
        Self {
            settings,
            docker,
            readiness,
            metrics,
            desired: None,
            desired_tx,
            last_error: None,
            queue,
            want_pass: false,
            proxy_running: false,
            proxy_applied: None,
            revision: String::new(),
            hooks: None,
        }
    }

    /// Webhook pulls (`POST /hooks/git`) for the git source.
    pub fn with_hooks(mut self, hooks: tokio::sync::mpsc::Receiver<()>) -> Self {
        self.hooks = Some(hooks);
        self
    }

    /// Runs until `shutdown` resolves, then lets in-flight work finish
    /// (bounded by `shutdown_grace`).
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        let (file_tx, mut file_rx) = unbounded_channel::<()>();
        let watch = match self.settings.git {
            Some(_) => None,
            None => match crate::source::watch_dirs([self.settings.file.as_path()], file_tx) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch the tenants file's directory; polling only");
                    None
                }
            },
        };
        let (trigger_tx, mut trigger_rx) = unbounded_channel::<Trigger>();
        let mut background = JoinSet::new();
        if let Some(git) = self.settings.git.clone() {
            let hooks = self
                .hooks
                .take()
                .unwrap_or_else(|| tokio::sync::mpsc::channel(1).1);
            background.spawn(crate::gitsource::run_git(
                git,
                trigger_tx.clone(),
                hooks,
                Arc::clone(&self.metrics),
            ));
        }
        if self.settings.events {
            background.spawn(events::watch_events(
                self.docker.clone(),
                trigger_tx.clone(),
            ));
        }
        background.spawn(crate::probe::run_probes(
            self.desired_tx.subscribe(),
            Arc::clone(&self.metrics),
        ));
        background.spawn(crate::stats::run_stats(
            self.docker.clone(),
            self.desired_tx.subscribe(),
            Arc::clone(&self.metrics),
            self.settings.stats_interval,
        ));
        let (pass_tx, mut pass_rx) = unbounded_channel::<PassResult>();
        let mut workers: JoinSet<Work> = JoinSet::new();
        let mut pass_running = false;
        let mut next_poll = Instant::now() + self.settings.poll;
        let mut next_resync = Instant::now() + self.settings.resync;
        let mut next_verify = Instant::now() + self.settings.verify;
        let mut reload = ReloadDebounce::default();

        self.reload();
        self.start_pass(&pass_tx, &mut pass_running, Detail::Full);
        tokio::pin!(shutdown);
        loop {
            self.dispatch(&mut workers);
            if self.want_pass && !pass_running {
                self.want_pass = false;
                self.start_pass(&pass_tx, &mut pass_running, Detail::ListOnly);
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
                    Trigger::Loaded { revision, result } => {
                        let first = self.desired.is_none();
                        self.accept(*result, &revision);
                        if first {
                            self.start_pass(&pass_tx, &mut pass_running, Detail::Full);
                        }
                    }
                },
                Some(result) = pass_rx.recv() => {
                    pass_running = false;
                    self.pass_done(result, &mut workers);
                }
                Some(joined) = workers.join_next() => match joined {
                    Ok(work) => self.work_done(work),
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
        background.abort_all();
        drop(watch);
        tracing::info!(
            in_flight = workers.len(),
            "shutting down: no new work; waiting for in-flight Docker calls"
        );
        let drained = tokio::time::timeout(self.settings.shutdown_grace, async {
            while let Some(joined) = workers.join_next().await {
                if let Ok(work) = joined {
                    self.work_done(work);
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

    /// Hands due tenants to workers, up to the concurrency bound.
    fn dispatch(&mut self, workers: &mut JoinSet<Work>) {
        let Some(desired) = self.desired.clone() else {
            return;
        };
        let now = Instant::now();
        while let Some(tenant) = self.queue.pop_ready(now) {
            if !desired.tenants.contains_key(&tenant) {
                self.queue.done(&tenant, Outcome::InSync, now);
                self.queue.forget(&tenant);
                continue;
            }
            let (docker, desired) = (self.docker.clone(), Arc::clone(&desired));
            let span =
                tracing::info_span!("reconcile", tenant = %tenant, revision = %self.revision);
            workers.spawn(
                async move { Work::Tenant(reconcile_tenant(&docker, &desired, &tenant).await) }
                    .instrument(span),
            );
        }
    }

    /// Re-reads the tenants file (and charts, env files). A valid new state
    /// replaces the old one and queues exactly the tenants that changed; an
    /// invalid one is logged once per distinct error and changes nothing.
    fn reload(&mut self) {
        if self.settings.git.is_none() {
            let result = load_desired(&self.settings.file);
            self.accept(result, "");
        }
    }

    /// Takes a newly loaded desired state (from the file or a git revision).
    fn accept(
        &mut self,
        result: Result<DesiredState, crate::diagnostic::Diagnostics>,
        revision: &str,
    ) {
        match result {
            Ok(new) => {
                self.last_error = None;
                self.readiness.config_loaded.store(true, Ordering::Relaxed);
                if self.revision != revision {
                    tracing::info!(revision, "applying revision");
                    self.revision = revision.to_string();
                }
                self.metrics
                    .set_config(true, Some((&new.source_sha256, revision)));
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
                        self.metrics.forget_tenant(name);
                        tracing::info!(tenant = %name, prune = self.settings.prune, "tenant left the file");
                        // The pass finds its container as an orphan (and prunes it).
                        self.want_pass = true;
                    }
                }
                tracing::info!(tenants = new.tenants.len(), changed, sha256 = %new.source_sha256, "loaded desired state");
                self.metrics.tenants_desired.set(new.tenants.len() as i64);
                let new = Arc::new(new);
                self.desired = Some(Arc::clone(&new));
                self.desired_tx.send_replace(Some(new));
            }
            Err(diags) => {
                self.metrics.set_config(false, None);
                let text = diags.to_string();
                if self.last_error.as_deref() != Some(&text) {
                    for d in &diags.0 {
                        if revision.is_empty() {
                            tracing::error!(
                                "invalid tenants file, keeping the last good state: {d}"
                            );
                        } else {
                            tracing::error!(
                                revision,
                                "revision refused, keeping the last good one: {d}"
                            );
                        }
                    }
                    self.last_error = Some(text);
                }
            }
        }
    }

    /// Starts a fleet-wide observe + plan in the background, one at a time.
    fn start_pass(&self, tx: &UnboundedSender<PassResult>, running: &mut bool, detail: Detail) {
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
                let unavailable = crate::proxy::unavailable(&desired, &observed);
                (plan(&desired, &observed, prune), unavailable)
            });
            let _ = tx.send(result);
        });
    }

    fn pass_done(&mut self, result: PassResult, workers: &mut JoinSet<Work>) {
        let (plan, unavailable) = match result {
            Ok(done) => done,
            Err(e) => {
                self.readiness.docker_ok.store(false, Ordering::Relaxed);
                tracing::warn!(error = %e, "cannot read the Docker host; nothing changed, will retry");
                return;
            }
        };
        self.readiness.docker_ok.store(true, Ordering::Relaxed);
        self.metrics.set_all_drift(plan.drift_by_tenant());
        let mut out_of_sync = 0;
        for t in plan
            .tenants
            .iter()
            .filter(|t| !t.actionable().is_empty() || !t.conflicts.is_empty())
        {
            self.queue.hint(&t.tenant);
            out_of_sync += 1;
        }
        // A missing or duplicated network is fixed by the next reconcile.
        if plan.create_network.is_some() || plan.repair_network.is_some() {
            if let Some(first) = plan.tenants.first() {
                self.queue.hint(&first.tenant);
            }
        }
        if out_of_sync == 0 {
            self.metrics.last_successful_reconcile.set(unix_now());
        }
        tracing::debug!(out_of_sync, orphans = plan.orphans.len(), "pass done");
        self.sync_proxy(&unavailable, workers);
        if plan.prune {
            for orphan in plan.orphans {
                let docker = self.docker.clone();
                workers.spawn(async move {
                    let result = crate::apply::remove_orphan(&docker, &orphan.container).await;
                    Work::Pruned(orphan.tenant, result)
                });
            }
        }
    }

    /// Renders nginx config for the fleet as observed and, when it differs
    /// from what was last applied, syncs it (one sync at a time; bursts of
    /// changes coalesce into the next pass's single sync).
    fn sync_proxy(&mut self, unavailable: &BTreeSet<String>, workers: &mut JoinSet<Work>) {
        let Some(desired) = self.desired.clone() else {
            return;
        };
        let Some(spec) = desired.proxy.clone() else {
            return;
        };
        let candidate = crate::proxy::render(&desired, &spec, unavailable);
        if self.proxy_running || self.proxy_applied.as_ref() == Some(&candidate) {
            return;
        }
        self.proxy_running = true;
        let unavailable = unavailable.clone();
        workers.spawn(async move {
            let outcome =
                crate::proxy::sync(&desired, &spec, candidate.clone(), &unavailable).await;
            Work::Proxy(candidate, outcome)
        });
    }

    fn work_done(&mut self, work: Work) {
        match work {
            Work::Proxy(candidate, outcome) => {
                self.proxy_running = false;
                self.metrics
                    .proxy_last_reload_successful
                    .set(i64::from(outcome.error.is_none()));
                self.metrics
                    .set_proxy_drift(outcome.set_aside.keys().cloned().collect());
                for (tenant, why) in &outcome.set_aside {
                    tracing::warn!(tenant, error = %why, "nginx block set aside; the tenant's last good block is kept");
                }
                match &outcome.error {
                    Some(e) => {
                        tracing::error!(error = %e, "proxy sync failed; nginx keeps serving the last good config")
                    }
                    None => {
                        if outcome.reloaded {
                            tracing::info!(files = ?outcome.changed_files, "nginx config written and reloaded");
                        }
                        // Set-aside tenants are retried on the next change.
                        if outcome.set_aside.is_empty() {
                            self.proxy_applied = Some(candidate);
                        }
                    }
                }
            }
            Work::Pruned(tenant, result) => {
                let ok = result.is_ok();
                self.metrics
                    .actions_total
                    .with_label_values(&["remove", if ok { "success" } else { "error" }])
                    .inc();
                match result {
                    Ok(()) => {
                        self.metrics.forget_tenant(&tenant);
                        tracing::info!(
                            tenant,
                            "pruned the container of a tenant that left the file; volumes kept"
                        );
                    }
                    Err(e) => tracing::warn!(tenant, error = %e, "prune failed"),
                }
            }
            Work::Tenant(r) => self.reconciled(r),
        }
    }

    fn reconciled(&mut self, r: Reconciled) {
        let now = Instant::now();
        let m = &self.metrics;
        m.reconcile_duration.observe(r.duration.as_secs_f64());
        for action in &r.done {
            m.actions_total
                .with_label_values(&[action, "success"])
                .inc();
        }
        if let Some(action) = r.failed {
            m.actions_total.with_label_values(&[action, "error"]).inc();
        }
        let outcome = match (&r.error, r.done.is_empty()) {
            (Some(crate::apply::ApplyError::Conflict(_)), _) => Outcome::Blocked,
            (Some(_), _) => Outcome::Failed,
            (None, true) => Outcome::InSync,
            (None, false) => Outcome::Changed,
        };
        let result_label = match outcome {
            Outcome::Failed | Outcome::Blocked => "error",
            Outcome::InSync => "in_sync",
            Outcome::Changed => "changed",
        };
        m.reconcile_total.with_label_values(&[result_label]).inc();
        if let Some(plan) = &r.plan {
            // After a successful apply only what apply leaves alone remains.
            let drift = if r.error.is_none() && !plan.paused {
                Default::default()
            } else {
                plan.drift()
            };
            m.set_tenant_drift(&r.tenant, drift, plan.paused);
        }
        match &r.error {
            None => {
                m.last_successful_reconcile.set(unix_now());
                self.readiness.docker_ok.store(true, Ordering::Relaxed);
                if r.crash_looping {
                    tracing::warn!(tenant = %r.tenant, "container is restarting over and over (crash loop); reported, not recreated");
                } else if !r.done.is_empty() {
                    tracing::info!(tenant = %r.tenant, actions = ?r.done, "reconciled");
                    self.want_pass = true;
                }
            }
            Some(e) if outcome == Outcome::Blocked => {
                tracing::warn!(tenant = %r.tenant, error = %e, "tenant blocked by an object tenantctl does not own; retried on the next event, pass or edit");
            }
            Some(e) => {
                tracing::warn!(tenant = %r.tenant, error = %e, kind = e.metric_label(), "reconcile failed; will retry with backoff");
            }
        }
        self.queue.done(&r.tenant, outcome, now);
        if outcome == Outcome::Changed && self.queue.is_backing_off(&r.tenant, now) {
            tracing::warn!(tenant = %r.tenant, "tenant keeps needing changes; slowing down its reconciles");
        }
    }
}
