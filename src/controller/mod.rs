//! `tenantctl run`: the level-triggered loop that keeps the host equal to
//! the tenants file. The decisions live in a synchronous state machine
//! (`state`); this module is the thin async loop that feeds it inputs —
//! triggers from the sources (`crate::sources`: the file or git, Docker
//! events), finished work, time — and runs the commands it returns: a
//! fleet pass or one tenant's reconcile (`reconcile`), both through the
//! one plan and executor `tenantctl apply` uses. `record` writes metrics,
//! readiness and logs.

mod churn_file;
mod queue;
mod reconcile;
mod record;
mod state;
mod watchdog;
mod work;

pub use crate::readiness::Readiness;
pub use crate::trigger::Trigger;
pub use queue::{backoff, Churn, Outcome, WorkQueue};
pub use reconcile::{pass, pass_cached, reconcile_tenant, Mode, PassDone, Reconciled};
pub use state::{Command, Intervals, Loaded, Machine, PassSummary};

use crate::desired::DesiredState;
use crate::docker::DockerClient;
use crate::metrics::Metrics;
use record::Recorder;
use std::sync::Arc;
use std::time::{Duration, Instant};
use work::Done;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;
use tokio::task::JoinSet;

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

pub struct Controller {
    settings: Settings,
    docker: DockerClient,
    machine: Machine,
    recorder: Recorder,
    /// The desired state in force, for the probes and stats readers.
    desired_tx: watch::Sender<Option<Arc<DesiredState>>>,
    /// The crash-loop record, once the first desired state named it.
    churn_file: Option<churn_file::ChurnFile>,
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
        // A certificate arrived: a pass renders its HTTPS block.
        let (issued_tx, mut issued_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut background = work::background(
            &self.docker,
            &self.desired_tx,
            &self.recorder.metrics,
            self.settings.stats_interval,
            self.settings.observe_only,
            issued_tx,
        );
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
                        self.churn_file = Some(churn_file::ChurnFile::restore(
                            &desired,
                            &mut self.machine,
                            &self.recorder.metrics,
                        ));
                    }
                    self.desired_tx.send_replace(Some(desired));
                }
            }
        }
    }

    fn start(&self, command: Command, workers: &mut JoinSet<Done>) {
        let mode = Mode {
            prune: self.settings.prune,
            adopt: self.settings.adopt,
            observe_only: self.settings.observe_only,
        };
        work::spawn(
            &self.docker,
            mode,
            self.machine.revision(),
            command,
            workers,
        );
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
                if let Some(file) = &mut self.churn_file {
                    file.save(&self.machine);
                }
            }
            Done::Rollout(report) => {
                self.recorder.rolled_out(&report);
                self.machine.on_rollout_done();
            }
        }
    }
}
