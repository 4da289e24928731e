//! `tenantctl run`: the level-triggered loop that keeps the host equal to
//! the tenants file. The decisions live in a synchronous state machine
//! (`state`); this module is the thin async loop that feeds it inputs —
//! triggers from the sources (`crate::sources`: the file or git, Docker
//! events), finished work, time — and runs the commands it returns: a
//! fleet pass or one tenant's reconcile (`reconcile`), both through the
//! one plan and executor `tenantctl apply` uses. `record` writes metrics,
//! readiness and logs.

mod queue;
mod reconcile;
mod record;
mod state;
mod watchdog;

pub use crate::readiness::Readiness;
pub use crate::trigger::Trigger;
pub use queue::{backoff, Churn, Outcome, WorkQueue};
pub use reconcile::{pass, pass_cached, reconcile_tenant, Mode, PassDone, Reconciled};
pub use state::{Command, Intervals, Loaded, Machine, PassSummary};

use crate::desired::DesiredState;
use crate::docker::{DockerClient, DockerError};
use crate::metrics::Metrics;
use record::Recorder;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

#[derive(Debug, Clone)]
pub struct Settings {
    pub intervals: Intervals,
    pub concurrency: usize,
    /// Remove our containers whose tenant left the file (volumes are kept).
    pub prune: bool,
    /// Take over containers tenantctl did not create (`run --adopt`).
    pub adopt: Option<crate::plan::Adoption>,
    /// Plan, report drift and serve metrics; change nothing.
    pub observe_only: bool,
    /// How often per-tenant CPU/memory is read from Docker stats.
    pub stats_interval: Duration,
    /// How long in-flight Docker work may take to finish on shutdown.
    pub shutdown_grace: Duration,
}

enum Done {
    Pass(Box<Result<PassDone, DockerError>>),
    Tenant(Box<Reconciled>),
    Rollout(Box<crate::rollout::RolloutReport>),
}

pub struct Controller {
    settings: Settings,
    docker: DockerClient,
    machine: Machine,
    recorder: Recorder,
    /// The desired state in force, for the probes and stats readers.
    desired_tx: watch::Sender<Option<Arc<DesiredState>>>,
    /// Where the crash-loop churn is kept (`<state_dir>/<fleet>.churn.json`),
    /// once the first desired state named it; what was written last.
    churn_file: Option<std::path::PathBuf>,
    churn_saved: std::collections::BTreeMap<String, Churn>,
    /// Told when the event stream must be reopened (see `watchdog`).
    reopen_events: Option<Arc<tokio::sync::Notify>>,
}

impl Controller {
    pub fn new(
        settings: Settings,
        docker: DockerClient,
        readiness: Arc<Readiness>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let machine = Machine::new(settings.intervals, settings.concurrency, Instant::now());
        let recorder = Recorder {
            metrics,
            readiness,
            prune: settings.prune,
        };
        Self {
            settings,
            docker,
            machine,
            recorder,
            desired_tx: watch::channel(None).0,
            churn_file: None,
            churn_saved: Default::default(),
            reopen_events: None,
        }
    }

    /// The event source's reopen signal, for the event-stream watchdog.
    pub fn with_event_reopen(mut self, reopen: Arc<tokio::sync::Notify>) -> Self {
        self.reopen_events = Some(reopen);
        self
    }

    /// The desired state in force as it changes (`None` until one loads),
    /// for the status page.
    pub fn desired_watch(&self) -> watch::Receiver<Option<Arc<DesiredState>>> {
        self.desired_tx.subscribe()
    }

    /// Runs until `shutdown` resolves, then lets in-flight work finish
    /// (bounded by `shutdown_grace`). `triggers` is the one channel every
    /// source sends into (see `crate::sources::start`).
    pub async fn run(
        mut self,
        mut triggers: UnboundedReceiver<Trigger>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let metrics = Arc::clone(&self.recorder.metrics);
        let mut background = JoinSet::new();
        background.spawn(crate::probe::run_probes(
            self.desired_tx.subscribe(),
            Arc::clone(&metrics),
        ));
        background.spawn(crate::stats::run_stats(
            self.docker.clone(),
            self.desired_tx.subscribe(),
            Arc::clone(&metrics),
            self.settings.stats_interval,
        ));
        background.spawn(crate::backup::run_scheduler(
            self.docker.clone(),
            self.desired_tx.subscribe(),
            metrics,
            self.settings.observe_only,
        ));
        // A certificate arrived: a pass renders its HTTPS block.
        let (issued_tx, mut issued_rx) = tokio::sync::mpsc::unbounded_channel();
        background.spawn(crate::acme::manager::run(
            self.desired_tx.subscribe(),
            Arc::clone(&self.recorder.metrics),
            self.settings.observe_only,
            issued_tx,
        ));
        let mut workers: JoinSet<Done> = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            for command in self.machine.poll(Instant::now()) {
                self.start(command, &mut workers);
            }
            let wake = self.machine.next_wake();
            tokio::select! {
                _ = &mut shutdown => break,
                Some(trigger) = triggers.recv() => self.on_trigger(trigger),
                Some(()) = issued_rx.recv() => self.machine.on_relist(),
                Some(joined) = workers.join_next() => match joined {
                    Ok(done) => self.on_done(done),
                    Err(e) => tracing::error!(error = %e, "reconcile task panicked"),
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
        background.abort_all();
        tracing::info!(
            in_flight = workers.len(),
            "shutting down: no new work; waiting for in-flight Docker calls"
        );
        let drained = tokio::time::timeout(self.settings.shutdown_grace, async {
            while let Some(joined) = workers.join_next().await {
                if let Ok(done) = joined {
                    self.on_done(done);
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

    fn on_trigger(&mut self, trigger: Trigger) {
        match trigger {
            Trigger::Event(event) => self.machine.on_event(&event),
            Trigger::Relist => self.machine.on_relist(),
            Trigger::Loaded { revision, result } => {
                let errors = result.as_ref().as_ref().err().cloned();
                let revision_changed = self.machine.revision() != revision;
                let loaded = self.machine.on_loaded(&revision, *result);
                let sha = self.machine.desired().map(|d| d.source_sha256.clone());
                self.recorder.loaded(
                    &loaded,
                    &revision,
                    revision_changed,
                    sha.as_deref(),
                    errors.as_ref(),
                );
                if let Loaded::Applied { desired, .. } = loaded {
                    if self.churn_file.is_none() {
                        self.restore_churn(&desired);
                    }
                    self.desired_tx.send_replace(Some(desired));
                }
            }
        }
    }

    /// Takes back the crash-loop holds an earlier controller saved: a
    /// restart must not reset them (that would let a crash loop recreate
    /// a tenant at full speed again).
    fn restore_churn(&mut self, desired: &DesiredState) {
        let path = desired
            .rollout
            .state_dir
            .join(format!("{}.churn.json", desired.fleet));
        let saved: std::collections::BTreeMap<String, Churn> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable crash-loop record");
                Default::default()
            }),
            Err(_) => Default::default(),
        };
        let unix = crate::clock::unix_secs_f64();
        let mut saved = saved;
        let lifted = queue::keep_unedited(&mut saved, unix, |t| {
            desired.tenants.get(t).map(|t| t.spec_hash.as_str())
        });
        for tenant in lifted {
            tracing::info!(tenant = %tenant, "tenant was held for a crash loop before the restart, but its spec changed since: not held");
        }
        for (tenant, churn) in &saved {
            if churn.held_until.is_some_and(|u| u > unix) {
                tracing::warn!(tenant = %tenant, "tenant was held for a crash loop before the restart; still held");
                self.recorder
                    .metrics
                    .tenant_crashloop
                    .with_label_values(&[tenant])
                    .set(1);
            }
        }
        self.machine.restore_churn(&saved, Instant::now(), unix);
        self.churn_saved = saved;
        self.churn_file = Some(path);
    }

    /// Writes the churn when it changed (a small file, rarely).
    fn save_churn(&mut self) {
        let Some(path) = &self.churn_file else { return };
        let mut now = self
            .machine
            .churn(Instant::now(), crate::clock::unix_secs_f64());
        if let Some(desired) = self.machine.desired() {
            for (tenant, churn) in &mut now {
                churn.spec = desired.tenants.get(tenant).map(|t| t.spec_hash.clone());
            }
        }
        if now.keys().eq(self.churn_saved.keys())
            && now.values().zip(self.churn_saved.values()).all(|(a, b)| {
                a.changes.len() == b.changes.len()
                    && a.held_until.is_some() == b.held_until.is_some()
            })
        {
            return;
        }
        let text = serde_json::to_vec(&now).expect("plain data always serializes");
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| crate::backup::write_atomic(path, &text));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot save the crash-loop record");
        }
        self.churn_saved = now;
    }

    fn mode(&self) -> Mode {
        Mode {
            prune: self.settings.prune,
            adopt: self.settings.adopt,
            observe_only: self.settings.observe_only,
        }
    }

    fn start(&self, command: Command, workers: &mut JoinSet<Done>) {
        let docker = self.docker.clone();
        match command {
            Command::Pass {
                desired,
                detail,
                rolling,
                view,
            } => {
                let mode = self.mode();
                workers.spawn(async move {
                    let done = match view {
                        Some(view) => pass_cached(&docker, &desired, &view, mode, rolling).await,
                        None => pass(&docker, &desired, detail, mode, rolling).await,
                    };
                    Done::Pass(Box::new(done))
                });
            }
            Command::Reconcile {
                desired,
                tenant,
                view,
            } => {
                let mode = self.mode();
                let span = tracing::info_span!("reconcile", tenant = %tenant, revision = %self.machine.revision());
                workers.spawn(
                    async move {
                        Done::Tenant(Box::new(
                            reconcile_tenant(&docker, &desired, &tenant, Some(&view), mode).await,
                        ))
                    }
                    .instrument(span),
                );
            }
            Command::Rollout { desired, tenants } => {
                let span = tracing::info_span!("rollout", revision = %self.machine.revision());
                workers.spawn(
                    async move {
                        Done::Rollout(Box::new(
                            crate::rollout::roll_out(&docker, &desired, &tenants, &|_| {}).await,
                        ))
                    }
                    .instrument(span),
                );
            }
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Pass(result) => {
                self.recorder.pass(&result);
                let summary = (*result)
                    .ok()
                    .map(|d| PassSummary::of(&d.plan, d.view, d.rollout_due));
                self.machine.on_pass(summary, Instant::now());
                // Without an event stream (`--no-events`) there is
                // nothing to reopen, and nothing to warn about.
                if let (true, Some(reopen)) =
                    (self.machine.take_reopen_events(), &self.reopen_events)
                {
                    tracing::warn!("the Docker event stream missed a change the resync found (open but frozen?); reopening it");
                    reopen.notify_one();
                }
            }
            Done::Tenant(r) => {
                let outcome = record::outcome(&r);
                let held = self.machine.on_reconciled(
                    &r.tenant,
                    outcome,
                    r.observed.as_ref(),
                    Instant::now(),
                );
                self.recorder.reconciled(&r, outcome, held);
                self.save_churn();
            }
            Done::Rollout(report) => {
                self.recorder.rolled_out(&report);
                self.machine.on_rollout_done();
            }
        }
    }
}
