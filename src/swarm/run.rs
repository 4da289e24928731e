//! `tenantctl run` for a Swarm fleet: one loop on a manager. Each pass
//! reads the cluster in a fixed number of list calls, plans, applies (not
//! with `--observe-only`) and publishes drift. Passes run on a new desired
//! state, every `resync`, and soon after a Swarm service or node event
//! (hints: the resync alone converges). An update Swarm rolled back is
//! not pushed again until the file changes it, and is reported.

use super::fields::Fields;
use super::plan::Action;
use crate::desired::DesiredState;
use crate::docker::DockerClient;
use crate::kinds::Backend;
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::trigger::Trigger;
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

pub struct SwarmLoop {
    pub docker: DockerClient,
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
    pub resync: Duration,
    pub observe_only: bool,
    /// Subscribe to Swarm's service and node events.
    pub events: bool,
}

#[derive(Default)]
struct Memory {
    /// What each tenant's last update pushed.
    pushed: BTreeMap<String, Fields>,
    /// Updates Swarm rolled back: held until the file changes them.
    held: BTreeMap<String, Fields>,
    /// Tenants whose node was down at the last pass (said once per outage).
    down: std::collections::BTreeSet<String>,
    /// Tenants with a `tenant_up` series (a tenant that left loses it).
    up: std::collections::BTreeSet<String>,
}

impl SwarmLoop {
    pub async fn run(
        self,
        mut triggers: UnboundedReceiver<Trigger>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let (hint_tx, mut hints) = tokio::sync::mpsc::unbounded_channel::<()>();
        if self.events {
            tokio::spawn(watch_swarm_events(self.docker.clone(), hint_tx));
        }
        tokio::pin!(shutdown);
        let mut desired: Option<std::sync::Arc<DesiredState>> = None;
        let mut memory = Memory::default();
        let mut next = tokio::time::Instant::now() + self.resync;
        loop {
            let pass_now = tokio::select! {
                _ = &mut shutdown => break,
                t = triggers.recv() => match t {
                    None => break,
                    Some(Trigger::Loaded { revision, result }) => self.loaded(&mut desired, revision, *result),
                    Some(_) => false,
                },
                Some(()) = hints.recv() => {
                    // A burst of events (an update is several): one pass.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    while hints.try_recv().is_ok() {}
                    true
                }
                _ = tokio::time::sleep_until(next) => true,
            };
            if let (true, Some(d)) = (pass_now, desired.as_ref()) {
                self.pass(d, &mut memory).await;
                next = tokio::time::Instant::now() + self.resync;
            }
        }
        tracing::info!("swarm controller stopped");
    }

    /// Takes a newly loaded state; true when a pass should follow.
    fn loaded(
        &self,
        desired: &mut Option<std::sync::Arc<DesiredState>>,
        revision: String,
        result: Result<std::sync::Arc<DesiredState>, crate::diagnostic::Diagnostics>,
    ) -> bool {
        match result {
            Ok(d) if d.backend == Backend::Swarm => {
                self.metrics
                    .set_config(true, Some((&d.source_sha256, &revision)));
                self.metrics.tenants_desired.set(d.tenants.len() as i64);
                self.readiness.config_loaded.store(true, Ordering::Relaxed);
                *desired = Some(d);
                true
            }
            Ok(_) => {
                tracing::error!("the file's backend is no longer \"swarm\": restart `tenantctl run` to switch backends; the last good state is kept");
                self.metrics.set_config(false, None);
                false
            }
            Err(diags) => {
                tracing::error!(
                    errors = diags.0.len(),
                    "invalid desired state; the last good state is kept:\n{diags}"
                );
                self.metrics.set_config(false, None);
                false
            }
        }
    }

    async fn pass(&self, desired: &DesiredState, memory: &mut Memory) {
        let view = match super::observe_swarm(&self.docker, desired).await {
            Ok(v) => {
                self.readiness.docker_ok.store(true, Ordering::Relaxed);
                self.metrics.docker_up.set(1);
                v
            }
            Err(e) => {
                self.readiness.docker_ok.store(false, Ordering::Relaxed);
                self.metrics.docker_up.set(0);
                tracing::warn!(error = %e, "cannot read the swarm; nothing changed");
                return;
            }
        };
        // A rolled-back update this process pushed, for a file unchanged
        // since: hold it (Swarm already tried it and put the old one back).
        for (name, s) in &view.services {
            let Some(t) = desired.tenants.values().find(|t| &t.container_name == name) else {
                continue;
            };
            if s.update_state.as_deref() == Some("completed") {
                // Swarm kept it: nothing of ours is pending for this tenant.
                memory.pushed.remove(&t.name);
            }
            if s.rolled_back() {
                if let Some(fields) = memory.pushed.remove(&t.name) {
                    tracing::warn!(tenant = %t.name, status = ?s.update_message, "rollout failed: Swarm rolled the tenant back to its previous spec; held until the file changes it");
                    memory.held.insert(t.name.clone(), fields);
                }
            }
        }
        let plan = super::plan_swarm(desired, &view, &memory.held);
        let mut drift = plan.drift();
        let now: std::collections::BTreeSet<String> =
            plan.tenants.iter().map(|t| t.tenant.clone()).collect();
        for gone in memory.up.difference(&now) {
            let _ = self.metrics.tenant_up.remove_label_values(&[gone]);
        }
        memory.up = now;
        for t in &plan.tenants {
            self.metrics
                .tenant_up
                .with_label_values(&[&t.tenant])
                .set(i64::from(t.running()));
            if let Some(why) = match &t.action {
                Action::Blocked(why) => Some(why),
                _ => None,
            } {
                tracing::debug!(tenant = %t.tenant, reason = %why, "not changed");
            }
            if t.node_down && memory.down.insert(t.tenant.clone()) {
                tracing::warn!(tenant = %t.tenant, node = ?t.node, "its node is down: reported, not moved (its data is on that node)");
            } else if !t.node_down && memory.down.remove(&t.tenant) {
                tracing::info!(tenant = %t.tenant, node = ?t.node, "its node is back");
            }
        }
        let mut failed = false;
        if !self.observe_only && !plan.is_empty() {
            let report = super::apply_swarm(&self.docker, desired, &plan).await;
            failed |= report.failures() > 0;
            for (tenant, result) in &report.tenants {
                let word = if result.is_ok() { "changed" } else { "error" };
                self.metrics
                    .reconcile_total
                    .with_label_values(&[word])
                    .inc();
                if result.is_ok() {
                    if let Some(p) = plan.tenants.iter().find(|p| &p.tenant == tenant) {
                        if let Action::Update { spec, .. } = &p.action {
                            memory.pushed.insert(tenant.clone(), Fields::of(spec));
                        }
                        // Changed now: its drift is what the next pass sees.
                        if let Some(entry) = drift.get_mut(tenant) {
                            entry
                                .0
                                .retain(|d| d.reason == crate::drift::Reason::NodeDown);
                        }
                    }
                }
            }
        }
        if !self.observe_only {
            let outcome = super::proxy::sync_proxy(desired, &plan, &view).await;
            if let Some(o) = outcome {
                self.metrics
                    .proxy_last_reload_successful
                    .set(i64::from(o.error.is_none()));
                failed |= o.error.is_some();
            }
        }
        if !failed {
            self.metrics
                .last_successful_reconcile
                .set(crate::clock::unix_secs_f64());
        }
        memory
            .held
            .retain(|name, _| desired.tenants.contains_key(name));
        self.metrics.set_all_drift(drift);
    }
}

/// Wakes the loop on Swarm service and node events; reopens after a
/// failure (the resync covers the gap).
async fn watch_swarm_events(docker: DockerClient, hints: tokio::sync::mpsc::UnboundedSender<()>) {
    loop {
        let filters = HashMap::from([(
            "type".to_string(),
            vec!["service".to_string(), "node".to_string()],
        )]);
        docker.count("events");
        let mut stream = Box::pin(docker.api().events(Some(
            bollard::query_parameters::EventsOptions {
                filters: Some(filters),
                ..Default::default()
            },
        )));
        while let Some(item) = stream.next().await {
            if item.is_err() {
                break;
            }
            if hints.send(()).is_err() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
