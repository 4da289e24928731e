//! What the controller's results mean for metrics, readiness and logs —
//! the one place that writes them, so the state machine stays pure and the
//! loop stays thin.

use super::queue::Outcome;
use super::reconcile::{PassDone, Reconciled};
use super::state::Loaded;
use crate::apply::ApplyError;
use crate::diagnostic::Diagnostics;
use crate::docker::DockerError;
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub struct Recorder {
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
    /// Prune removes a tenant's container: metrics forget it.
    pub prune: bool,
}

/// Actions that put back something missing, never counted as churn.
const REPAIRS: [&str; 4] = ["recover", "create", "create_volume", "create_network"];

/// How a reconcile ended, as far as scheduling cares.
pub fn outcome(r: &Reconciled) -> Outcome {
    match (&r.error, r.done.is_empty()) {
        _ if r.deferred => Outcome::Deferred,
        // Putting back what is missing (a recovery, a container or
        // volume that is gone) repairs an outage: holding it as churn
        // would leave the tenant down (found by the SIGKILL runs: cold
        // starts in a row held every tenant, stopped, for 5 minutes).
        (None, false) if r.done.iter().all(|d| REPAIRS.contains(d)) => Outcome::Recovered,
        (Some(ApplyError::Conflict(_)), _) => Outcome::Blocked,
        (Some(ApplyError::Held(_)), _) => Outcome::Held,
        (Some(ApplyError::Docker(e)), _) if e.is_vanished_container() => Outcome::Stale,
        (Some(_), _) => Outcome::Failed,
        (None, true) => Outcome::InSync,
        (None, false) => Outcome::Changed,
    }
}

impl Recorder {
    /// A desired state was loaded (or refused). `errors` are the refused
    /// state's diagnostics; `revision_changed` when a new git revision is
    /// in force.
    pub fn loaded(
        &self,
        loaded: &Loaded,
        revision: &str,
        revision_changed: bool,
        sha256: Option<&str>,
        errors: Option<&Diagnostics>,
    ) {
        let m = &self.metrics;
        match loaded {
            Loaded::Refused { repeated } => {
                m.set_config(false, None);
                if *repeated {
                    return;
                }
                for d in errors.map(|e| e.0.as_slice()).unwrap_or_default() {
                    if revision.is_empty() {
                        tracing::error!("invalid tenants file, keeping the last good state: {d}");
                    } else {
                        tracing::error!(
                            revision,
                            "revision refused, keeping the last good one: {d}"
                        );
                    }
                }
            }
            Loaded::Unchanged | Loaded::Applied { .. } => {
                self.readiness.config_loaded.store(true, Ordering::Relaxed);
                if revision_changed && !revision.is_empty() {
                    tracing::info!(revision, "applying revision");
                }
                m.set_config(true, sha256.map(|s| (s, revision)));
            }
        }
        if let Loaded::Applied {
            desired,
            changed,
            left,
        } = loaded
        {
            for name in left {
                m.forget_tenant(name);
                tracing::info!(tenant = %name, prune = self.prune, "tenant left the file");
            }
            tracing::info!(tenants = desired.tenants.len(), changed, sha256 = %desired.source_sha256, "loaded desired state");
            m.tenants_desired.set(desired.tenants.len() as i64);
        }
    }

    /// `/readyz` and `tenantctl_docker_up` say the same thing.
    fn docker_reachable(&self, up: bool) {
        self.readiness.docker_ok.store(up, Ordering::Relaxed);
        self.metrics.docker_up.set(i64::from(up));
    }

    pub fn pass(&self, result: &Result<PassDone, DockerError>) {
        let done = match result {
            Ok(done) => done,
            Err(e) => {
                self.docker_reachable(false);
                tracing::warn!(error = %e, "cannot read the Docker host; nothing changed, will retry");
                return;
            }
        };
        self.docker_reachable(true);
        let m = &self.metrics;
        m.set_all_drift(done.plan.drift_by_tenant());
        m.set_rollout(done.rollout.as_ref());
        m.leftover_volumes.reset();
        for (tenant, volumes) in &done.leftovers {
            m.leftover_volumes
                .with_label_values(&[tenant])
                .set(volumes.len() as i64);
        }
        let out_of_sync = done.plan.tenants.iter().filter(|t| t.has_work()).count();
        if out_of_sync == 0 {
            m.last_successful_reconcile
                .set(crate::clock::unix_secs_f64());
        }
        tracing::debug!(out_of_sync, orphans = done.plan.orphans.len(), "pass done");
        for (orphan, result) in &done.report.pruned {
            let label = if result.is_ok() { "success" } else { "error" };
            m.actions_total.with_label_values(&["remove", label]).inc();
            if result.is_ok() {
                m.forget_tenant(&orphan.tenant);
            }
        }
        if let Some(proxy) = &done.report.proxy {
            m.proxy_last_reload_successful
                .set(i64::from(proxy.error.is_none()));
            m.set_proxy_drift(proxy.set_aside.keys().cloned().collect());
            for (tenant, why) in &proxy.set_aside {
                tracing::warn!(tenant, error = %why, "nginx block set aside; the tenant's last good block is kept");
            }
            match &proxy.error {
                Some(e) => {
                    tracing::error!(error = %e, "proxy sync failed; nginx keeps serving the last good config")
                }
                None if proxy.reloaded => {
                    tracing::info!(files = ?proxy.changed_files, "nginx config written and reloaded")
                }
                None => {}
            }
        }
    }

    /// A rollout ran (or found itself halted).
    pub fn rolled_out(&self, report: &crate::rollout::RolloutReport) {
        let m = &self.metrics;
        for o in &report.outcomes {
            if let Some(gate) = o.gate {
                m.rollout_gate.observe(gate.as_secs_f64());
            }
            for action in &o.done {
                m.actions_total
                    .with_label_values(&[action, "success"])
                    .inc();
            }
            // A tenant the halt kept back was not tried: not an error.
            match (o.failed, &o.error) {
                (_, Some(ApplyError::Halted(_))) | (None, _) => {}
                (Some(action), _) => m.actions_total.with_label_values(&[action, "error"]).inc(),
            }
        }
        m.set_rollout(report.record.as_ref());
        if let Some(r) = &report.record {
            match r.phase {
                crate::rollout::Phase::Halted => {
                    tracing::error!(rollout = %r.summary(), "rollout halted")
                }
                _ => tracing::info!(rollout = %r.summary(), "rollout finished"),
            }
        }
    }

    /// `held`: the tenant is now slowed down by backoff or the churn hold.
    pub fn reconciled(&self, r: &Reconciled, outcome: Outcome, held: bool) {
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
        let result_label = match outcome {
            Outcome::Failed | Outcome::Blocked | Outcome::Stale | Outcome::Held => "error",
            Outcome::InSync | Outcome::Deferred => "in_sync",
            Outcome::Recovered => "changed",
            Outcome::Changed => "changed",
        };
        m.reconcile_total.with_label_values(&[result_label]).inc();
        // Restarting over and over, or held for changing over and over.
        let looping = r.crash_looping || (held && outcome == Outcome::Changed);
        m.tenant_crashloop
            .with_label_values(&[&r.tenant])
            .set(i64::from(looping));
        if let Some(d) = r.downtime {
            m.adoption_downtime
                .with_label_values(&[&r.tenant])
                .set(d.as_secs_f64());
        }
        if let Some(plan) = &r.plan {
            // After a successful apply only what apply leaves alone remains;
            // observing only, or left to the rollout, all of it does.
            let drift = if r.error.is_none() && !plan.paused && !r.observe_only && !r.deferred {
                Default::default()
            } else {
                plan.drift()
            };
            m.set_tenant_drift(&r.tenant, drift, plan.paused);
        }
        match &r.error {
            None => {
                m.last_successful_reconcile
                    .set(crate::clock::unix_secs_f64());
                self.docker_reachable(true);
                if r.crash_looping {
                    tracing::warn!(tenant = %r.tenant, "container is restarting over and over (crash loop); reported, not recreated");
                } else if !r.done.is_empty() {
                    tracing::info!(tenant = %r.tenant, actions = ?r.done, "reconciled");
                }
            }
            Some(e @ ApplyError::Held(_)) => {
                tracing::info!(tenant = %r.tenant, error = %e, "left alone while another tenantctl process holds it; retried shortly");
            }
            Some(e) if outcome == Outcome::Stale => {
                tracing::info!(tenant = %r.tenant, error = %e, "its container went away while it was reconciled; reconciled again when Docker reports the removal done (or at the next pass)");
            }
            Some(e) if outcome == Outcome::Blocked => {
                tracing::warn!(tenant = %r.tenant, error = %e, "tenant blocked by an object tenantctl does not own; retried on the next event, pass or edit");
            }
            Some(e) => {
                tracing::warn!(tenant = %r.tenant, error = %e, kind = e.metric_label(), "reconcile failed; will retry with backoff");
            }
        }
        if outcome == Outcome::Changed && held {
            tracing::warn!(tenant = %r.tenant, "tenant keeps needing changes; slowing down its reconciles");
        }
    }
}
