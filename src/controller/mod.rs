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

pub use crate::readiness::Readiness;
pub use crate::trigger::Trigger;
pub use queue::{backoff, Outcome, WorkQueue};
pub use reconcile::{pass, reconcile_tenant, Mode, PassDone, Reconciled};
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
    Tenant(Reconciled),
    Rollout(crate::rollout::RolloutReport),
}

pub struct Controller {
    settings: Settings,
    docker: DockerClient,
    machine: Machine,
    recorder: Recorder,
    /// The desired state in force, for the probes and stats readers.
    desired_tx: watch::Sender<Option<Arc<DesiredState>>>,
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
        }
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
                    self.desired_tx.send_replace(Some(desired));
                }
            }
        }
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
            Command::Pass { desired, detail } => {
                let mode = self.mode();
                workers.spawn(async move {
                    Done::Pass(Box::new(pass(&docker, &desired, detail, mode).await))
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
                        Done::Tenant(
                            reconcile_tenant(&docker, &desired, &tenant, Some(&view), mode).await,
                        )
                    }
                    .instrument(span),
                );
            }
            Command::Rollout { desired, tenants } => {
                let span = tracing::info_span!("rollout", revision = %self.machine.revision());
                workers.spawn(
                    async move {
                        Done::Rollout(crate::rollout::roll_out(&docker, &desired, &tenants).await)
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
            }
            Done::Rollout(report) => {
                self.recorder.rolled_out(&report);
                self.machine.on_rollout_done();
            }
        }
    }
}
