//! The Prometheus metrics of DESIGN.md ("Metrics"), with their exact names
//! and labels. Label values are bounded strings only: tenant names, fixed
//! resource/reason/action/result words, a sha256 and a revision — never
//! error text, never a secret. Drift series are removed when healed.

use prometheus::{
    CounterVec, Encoder, Gauge, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::drift::{Drift, Reason, Resource};

/// Usage samples kept per tenant for the status page (at the default
/// 15 s stats interval: the last 10 minutes).
pub const USAGE_SAMPLES: usize = 40;

/// One reading of a tenant's usage from the Docker stats API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsageSample {
    /// Unix seconds.
    pub at: f64,
    /// CPU time used since the container started.
    pub cpu_seconds: f64,
    pub memory_bytes: f64,
}

pub struct Metrics {
    pub registry: Registry,
    pub tenants_desired: IntGauge,
    pub tenant_up: IntGaugeVec,
    pub tenant_in_sync: IntGaugeVec,
    pub tenant_paused: IntGaugeVec,
    pub tenant_crashloop: IntGaugeVec,
    pub drift: IntGaugeVec,
    pub reconcile_total: IntCounterVec,
    pub reconcile_duration: Histogram,
    pub last_successful_reconcile: Gauge,
    pub config_valid: IntGauge,
    /// Docker event stream reconnects by why: `error`, `ended`, `silent`,
    /// `frozen` (the watchdog caught it missing a change).
    pub event_stream_reopened: IntCounterVec,
    /// 1 while the Docker daemon answers the controller's lists.
    pub docker_up: IntGauge,
    pub config_info: IntGaugeVec,
    pub docker_requests: IntCounterVec,
    pub proxy_last_reload_successful: IntGauge,
    pub actions_total: IntCounterVec,
    pub tenant_cpu_seconds: CounterVec,
    pub tenant_memory_bytes: prometheus::GaugeVec,
    pub git_last_pull_success: Gauge,
    pub git_pull_failures: prometheus::IntCounter,
    pub adoption_downtime: prometheus::GaugeVec,
    pub backup_last_success: prometheus::GaugeVec,
    pub backup_size: prometheus::GaugeVec,
    pub backup_duration: Histogram,
    pub backup_pause: Histogram,
    pub backup_failures: IntCounterVec,
    pub rollout_info: IntGaugeVec,
    pub rollout_tenants: IntGaugeVec,
    pub rollout_halted: IntGaugeVec,
    pub rollout_gate: Histogram,
    pub leftover_volumes: IntGaugeVec,
    pub certificate_expiry: prometheus::GaugeVec,
    pub acme_orders: IntCounterVec,
    drift_now: Mutex<BTreeMap<String, BTreeSet<Drift>>>,
    proxy_drift_now: Mutex<BTreeSet<String>>,
    cpu_seen: Mutex<BTreeMap<String, f64>>,
    usage: Mutex<BTreeMap<String, std::collections::VecDeque<UsageSample>>>,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("tenantctl")
}

impl Metrics {
    pub fn new() -> Self {
        Metrics::for_node(None)
    }

    /// Every series of an agent run with `--node` carries `node="<name>"`
    /// (a registry-wide constant label): one Prometheus scraping every
    /// server's agent tells them apart without relabelling.
    pub fn for_node(node: Option<&crate::desired::NodeName>) -> Self {
        let labels =
            node.map(|n| std::collections::HashMap::from([("node".to_string(), n.to_string())]));
        let registry = Registry::new_custom(None, labels).expect("a valid constant label");
        let m = Metrics {
            tenants_desired: IntGauge::with_opts(opts(
                "tenants_desired",
                "Tenants in the loaded desired state.",
            ))
            .unwrap(),
            tenant_up: IntGaugeVec::new(
                opts(
                    "tenant_up",
                    "1 when the tenant's health probe passes from the host.",
                ),
                &["tenant"],
            )
            .unwrap(),
            tenant_in_sync: IntGaugeVec::new(
                opts(
                    "tenant_in_sync",
                    "1 when the tenant's objects equal the desired state.",
                ),
                &["tenant"],
            )
            .unwrap(),
            tenant_paused: IntGaugeVec::new(
                opts(
                    "tenant_paused",
                    "1 when the tenant is paused in the tenants file (reported, never changed).",
                ),
                &["tenant"],
            )
            .unwrap(),
            tenant_crashloop: IntGaugeVec::new(
                opts(
                    "tenant_crashloop",
                    "1 while the tenant's container restarts over and over (reported, never recreated).",
                ),
                &["tenant"],
            )
            .unwrap(),
            drift: IntGaugeVec::new(
                opts(
                    "drift",
                    "1 per drifted object now; the series disappears when healed.",
                ),
                &["tenant", "resource", "reason"],
            )
            .unwrap(),
            reconcile_total: IntCounterVec::new(
                opts(
                    "reconcile_total",
                    "Tenant reconciles by result (in_sync, changed, error).",
                ),
                &["result"],
            )
            .unwrap(),
            reconcile_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "reconcile_duration_seconds",
                    "Duration of one tenant reconcile.",
                )
                .namespace("tenantctl")
                .buckets(vec![
                    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                ]),
            )
            .unwrap(),
            last_successful_reconcile: Gauge::with_opts(opts(
                "last_successful_reconcile_timestamp_seconds",
                "Unix time of the last reconcile or pass that ended without error.",
            ))
            .unwrap(),
            event_stream_reopened: IntCounterVec::new(
                opts(
                    "event_stream_reopened_total",
                    "Docker event stream reconnects, by reason (error, ended, silent, frozen: the watchdog caught it missing a change).",
                ),
                &["reason"],
            )
            .unwrap(),
            docker_up: IntGauge::with_opts(opts(
                "docker_up",
                "1 when the last look at the Docker daemon succeeded; 0 while it is unreachable (nothing is changed meanwhile).",
            ))
            .unwrap(),
            config_valid: IntGauge::with_opts(opts(
                "config_valid",
                "1 when the latest tenants file is valid; 0 while the last good one is enforced.",
            ))
            .unwrap(),
            config_info: IntGaugeVec::new(
                opts(
                    "config_info",
                    "The desired state in force: file sha256 and git revision.",
                ),
                &["sha256", "revision"],
            )
            .unwrap(),
            docker_requests: IntCounterVec::new(
                opts("docker_requests_total", "Docker API calls by operation."),
                &["operation"],
            )
            .unwrap(),
            proxy_last_reload_successful: IntGauge::with_opts(opts(
                "proxy_last_reload_successful",
                "1 when the last proxy reload worked (or none was needed).",
            ))
            .unwrap(),
            actions_total: IntCounterVec::new(
                opts(
                    "actions_total",
                    "Changes made to the host, by action and result.",
                ),
                &["action", "result"],
            )
            .unwrap(),
            tenant_cpu_seconds: CounterVec::new(
                opts(
                    "tenant_cpu_seconds_total",
                    "CPU time used by the tenant's container (Docker stats).",
                ),
                &["tenant"],
            )
            .unwrap(),
            tenant_memory_bytes: prometheus::GaugeVec::new(
                opts(
                    "tenant_memory_bytes",
                    "Memory used by the tenant's container (Docker stats).",
                ),
                &["tenant"],
            )
            .unwrap(),
            git_last_pull_success: Gauge::with_opts(opts(
                "git_last_pull_success_timestamp_seconds",
                "Unix time of the last successful git fetch (GitOps mode).",
            ))
            .unwrap(),
            git_pull_failures: prometheus::IntCounter::with_opts(opts(
                "git_pull_failures_total",
                "Failed git fetches (GitOps mode).",
            ))
            .unwrap(),
            adoption_downtime: prometheus::GaugeVec::new(
                opts(
                    "adoption_downtime_seconds",
                    "Downtime of the tenant's adoption (`--adopt`): its old container stopped until the new one was healthy.",
                ),
                &["tenant"],
            )
            .unwrap(),
            backup_last_success: prometheus::GaugeVec::new(
                opts(
                    "backup_last_success_timestamp_seconds",
                    "When the tenant's newest backup was taken (from the backup folder).",
                ),
                &["tenant"],
            )
            .unwrap(),
            backup_size: prometheus::GaugeVec::new(
                opts("backup_size_bytes", "Size of the tenant's newest backup (compressed)."),
                &["tenant"],
            )
            .unwrap(),
            backup_duration: Histogram::with_opts(
                prometheus::HistogramOpts::new(
                    "backup_duration_seconds",
                    "How long one tenant's backup took.",
                )
                .namespace("tenantctl")
                .buckets(vec![0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0]),
            )
            .unwrap(),
            backup_pause: Histogram::with_opts(
                prometheus::HistogramOpts::new(
                    "backup_pause_seconds",
                    "How long a tenant was frozen (or stopped) while its backup was read.",
                )
                .namespace("tenantctl")
                .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0]),
            )
            .unwrap(),
            backup_failures: IntCounterVec::new(
                opts("backup_failures_total", "Scheduled backups that failed."),
                &["tenant"],
            )
            .unwrap(),
            rollout_info: IntGaugeVec::new(
                opts(
                    "rollout_info",
                    "The fleet's last rollout: 1 for its file revision (first 12 of its sha256) and state (running, halted, done).",
                ),
                &["revision", "state"],
            )
            .unwrap(),
            rollout_tenants: IntGaugeVec::new(
                opts(
                    "rollout_tenants",
                    "Tenants of the last rollout by state: pending, updated, rolled_back, failed.",
                ),
                &["state"],
            )
            .unwrap(),
            rollout_halted: IntGaugeVec::new(
                opts(
                    "rollout_halted",
                    "1 while a rollout is halted, at the tenant whose update failed.",
                ),
                &["revision", "tenant"],
            )
            .unwrap(),
            rollout_gate: Histogram::with_opts(
                prometheus::HistogramOpts::new(
                    "rollout_gate_duration_seconds",
                    "How long a tenant's health gate took in a rollout (new container started until passed or failed).",
                )
                .namespace("tenantctl")
                .buckets(vec![1.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0]),
            )
            .unwrap(),
            leftover_volumes: IntGaugeVec::new(
                opts(
                    "leftover_volumes",
                    "Volumes kept from a tenant that left the file (never deleted by reconcile; `tenantctl purge` removes them after a final backup).",
                ),
                &["tenant"],
            )
            .unwrap(),
            certificate_expiry: prometheus::GaugeVec::new(
                opts(
                    "certificate_expiry_timestamp_seconds",
                    "When the certificate tenantctl serves for a tenant's domain expires (tls = \"acme\" or static files).",
                ),
                &["tenant", "domain"],
            )
            .unwrap(),
            acme_orders: IntCounterVec::new(
                opts(
                    "acme_orders_total",
                    "Certificate orders sent to the ACME CA, by result: issued, failed.",
                ),
                &["result"],
            )
            .unwrap(),
            registry,
            drift_now: Mutex::default(),
            proxy_drift_now: Mutex::default(),
            cpu_seen: Mutex::default(),
            usage: Mutex::default(),
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.tenants_desired.clone()),
            Box::new(m.tenant_up.clone()),
            Box::new(m.tenant_in_sync.clone()),
            Box::new(m.tenant_paused.clone()),
            Box::new(m.tenant_crashloop.clone()),
            Box::new(m.drift.clone()),
            Box::new(m.reconcile_total.clone()),
            Box::new(m.reconcile_duration.clone()),
            Box::new(m.last_successful_reconcile.clone()),
            Box::new(m.config_valid.clone()),
            Box::new(m.docker_up.clone()),
            Box::new(m.event_stream_reopened.clone()),
            Box::new(m.config_info.clone()),
            Box::new(m.docker_requests.clone()),
            Box::new(m.proxy_last_reload_successful.clone()),
            Box::new(m.actions_total.clone()),
            Box::new(m.tenant_cpu_seconds.clone()),
            Box::new(m.tenant_memory_bytes.clone()),
            Box::new(m.git_last_pull_success.clone()),
            Box::new(m.git_pull_failures.clone()),
            Box::new(m.adoption_downtime.clone()),
            Box::new(m.backup_last_success.clone()),
            Box::new(m.backup_size.clone()),
            Box::new(m.backup_duration.clone()),
            Box::new(m.backup_pause.clone()),
            Box::new(m.backup_failures.clone()),
            Box::new(m.rollout_info.clone()),
            Box::new(m.rollout_tenants.clone()),
            Box::new(m.rollout_halted.clone()),
            Box::new(m.rollout_gate.clone()),
            Box::new(m.leftover_volumes.clone()),
            Box::new(m.certificate_expiry.clone()),
            Box::new(m.acme_orders.clone()),
        ];
        // Present at 0 from the start, so a rate() has a baseline.
        for reason in ["error", "ended", "silent", "frozen"] {
            m.event_stream_reopened.with_label_values(&[reason]);
        }
        for c in collectors {
            m.registry.register(c).expect("metric names are unique");
        }
        #[cfg(target_os = "linux")]
        m.registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process collector registers once");
        m.proxy_last_reload_successful.set(1);
        for result in ["in_sync", "changed", "error"] {
            m.reconcile_total.with_label_values(&[result]);
        }
        m
    }

    /// Replaces one tenant's drift: series that healed disappear.
    pub fn set_tenant_drift(&self, tenant: &str, drift: BTreeSet<Drift>, paused: bool) {
        let mut now = self.drift_now.lock().unwrap_or_else(|e| e.into_inner());
        let old = now.remove(tenant).unwrap_or_default();
        for d in old.difference(&drift) {
            let _ =
                self.drift
                    .remove_label_values(&[tenant, d.resource.as_str(), d.reason.as_str()]);
        }
        for d in &drift {
            self.drift
                .with_label_values(&[tenant, d.resource.as_str(), d.reason.as_str()])
                .set(1);
        }
        // In sync follows drift only: a paused tenant without drift is in
        // sync, and says it is paused in its own series (alerts skip it).
        self.tenant_in_sync
            .with_label_values(&[tenant])
            .set(i64::from(drift.is_empty()));
        self.tenant_paused
            .with_label_values(&[tenant])
            .set(i64::from(paused));
        if !drift.is_empty() {
            now.insert(tenant.to_string(), drift);
        }
    }

    /// Replaces every tenant's drift at once (after a fleet-wide pass);
    /// tenants not named lose their series.
    pub fn set_all_drift(&self, all: BTreeMap<String, (BTreeSet<Drift>, bool)>) {
        let known: Vec<String> = self
            .drift_now
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        for tenant in known.iter().filter(|t| !all.contains_key(*t)) {
            self.set_tenant_drift(tenant, BTreeSet::new(), false);
            let _ = self.tenant_in_sync.remove_label_values(&[tenant]);
            let _ = self.tenant_paused.remove_label_values(&[tenant]);
        }
        for (tenant, (drift, paused)) in all {
            self.set_tenant_drift(&tenant, drift, paused);
        }
    }

    /// Tenants whose nginx block was set aside: `resource="proxy",
    /// reason="conflict"`, tracked apart from the container-side drift.
    pub fn set_proxy_drift(&self, set_aside: BTreeSet<String>) {
        let mut now = self
            .proxy_drift_now
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for tenant in now.difference(&set_aside) {
            let _ = self.drift.remove_label_values(&[
                tenant,
                Resource::Proxy.as_str(),
                Reason::Conflict.as_str(),
            ]);
        }
        for tenant in &set_aside {
            self.drift
                .with_label_values(&[tenant, Resource::Proxy.as_str(), Reason::Conflict.as_str()])
                .set(1);
        }
        *now = set_aside;
    }

    /// Removes every series of a tenant that left the desired state.
    /// The fleet's rollout record as the metrics show it.
    pub fn set_rollout(&self, record: Option<&crate::rollout::RolloutRecord>) {
        use crate::rollout::{Phase, TenantPhase};
        self.rollout_info.reset();
        self.rollout_halted.reset();
        for phase in TenantPhase::ALL {
            let n = record.map_or(0, |r| r.count(phase));
            self.rollout_tenants
                .with_label_values(&[phase.as_str()])
                .set(n as i64);
        }
        let Some(r) = record else { return };
        let revision = &r.revision[..r.revision.len().min(12)];
        self.rollout_info
            .with_label_values(&[revision, r.phase.as_str()])
            .set(1);
        if let (Phase::Halted, Some(tenant)) = (r.phase, &r.halted_at) {
            self.rollout_halted
                .with_label_values(&[revision, tenant])
                .set(1);
        }
    }

    pub fn forget_tenant(&self, tenant: &str) {
        self.set_tenant_drift(tenant, BTreeSet::new(), false);
        let _ = self.tenant_in_sync.remove_label_values(&[tenant]);
        let _ = self.tenant_paused.remove_label_values(&[tenant]);
        let _ = self.tenant_up.remove_label_values(&[tenant]);
        let _ = self.tenant_cpu_seconds.remove_label_values(&[tenant]);
        let _ = self.tenant_memory_bytes.remove_label_values(&[tenant]);
        let _ = self.adoption_downtime.remove_label_values(&[tenant]);
        let _ = self.tenant_crashloop.remove_label_values(&[tenant]);
        let _ = self.backup_last_success.remove_label_values(&[tenant]);
        let _ = self.backup_size.remove_label_values(&[tenant]);
        self.cpu_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tenant);
    }

    pub fn set_config(&self, valid: bool, applied: Option<(&str, &str)>) {
        self.config_valid.set(i64::from(valid));
        if let Some((sha256, revision)) = applied {
            self.config_info.reset();
            self.config_info
                .with_label_values(&[sha256, revision])
                .set(1);
        }
    }

    /// Records Docker's cumulative CPU time as a counter: only increases are
    /// added, so a restarted container (whose usage starts at 0) never makes
    /// the counter go down.
    pub fn observe_usage(&self, tenant: &str, cpu_seconds: f64, memory_bytes: f64) {
        let now = crate::clock::unix_secs_f64();
        {
            let mut history = self.usage.lock().unwrap_or_else(|e| e.into_inner());
            let samples = history.entry(tenant.to_string()).or_default();
            samples.push_back(UsageSample {
                at: now,
                cpu_seconds,
                memory_bytes,
            });
            while samples.len() > USAGE_SAMPLES {
                samples.pop_front();
            }
        }
        let mut seen = self.cpu_seen.lock().unwrap_or_else(|e| e.into_inner());
        let last = seen.insert(tenant.to_string(), cpu_seconds).unwrap_or(0.0);
        let delta = if cpu_seconds >= last {
            cpu_seconds - last
        } else {
            cpu_seconds
        };
        self.tenant_cpu_seconds
            .with_label_values(&[tenant])
            .inc_by(delta);
        self.tenant_memory_bytes
            .with_label_values(&[tenant])
            .set(memory_bytes);
    }

    /// The tenant's recent usage samples, oldest first (the status page's
    /// sparklines).
    pub fn usage_history(&self, tenant: &str) -> Vec<UsageSample> {
        let history = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        history
            .get(tenant)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The registry in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healed_drift_series_disappear() {
        let m = Metrics::new();
        m.set_tenant_drift(
            "acme",
            BTreeSet::from([Drift::new(Resource::Container, Reason::Stopped)]),
            false,
        );
        assert!(m
            .encode()
            .contains(r#"tenantctl_drift{reason="stopped",resource="container",tenant="acme"} 1"#));
        assert!(m
            .encode()
            .contains(r#"tenantctl_tenant_in_sync{tenant="acme"} 0"#));
        m.set_tenant_drift("acme", BTreeSet::new(), false);
        assert!(!m.encode().contains("tenantctl_drift{"));
        assert!(m
            .encode()
            .contains(r#"tenantctl_tenant_in_sync{tenant="acme"} 1"#));
    }

    #[test]
    fn cpu_counter_never_goes_down_when_a_container_restarts() {
        let m = Metrics::new();
        m.observe_usage("a", 10.0, 1.0);
        m.observe_usage("a", 12.0, 1.0);
        m.observe_usage("a", 1.0, 1.0);
        assert_eq!(m.tenant_cpu_seconds.with_label_values(&["a"]).get(), 13.0);
    }

    /// The metrics contract: names, types and label names. Changing any of
    /// these breaks dashboards and alerts, so it must be deliberate.
    #[test]
    fn metrics_contract_is_pinned() {
        let m = Metrics::new();
        m.tenant_up.with_label_values(&["t"]).set(1);
        m.set_tenant_drift(
            "t",
            BTreeSet::from([Drift::new(Resource::Container, Reason::Changed)]),
            false,
        );
        m.set_config(true, Some(("abc", "rev")));
        m.docker_requests
            .with_label_values(&["list_containers"])
            .inc();
        m.actions_total
            .with_label_values(&["create", "success"])
            .inc();
        m.observe_usage("t", 1.0, 2.0);
        m.reconcile_duration.observe(0.1);
        m.adoption_downtime.with_label_values(&["t"]).set(1.5);
        m.tenant_crashloop.with_label_values(&["t"]).set(0);
        m.backup_last_success.with_label_values(&["t"]).set(1.0);
        m.backup_size.with_label_values(&["t"]).set(1.0);
        m.backup_duration.observe(1.0);
        m.backup_pause.observe(0.1);
        m.backup_failures.with_label_values(&["t"]).inc();
        m.rollout_info.with_label_values(&["r", "done"]).set(1);
        m.rollout_tenants.with_label_values(&["updated"]).set(1);
        m.rollout_halted.with_label_values(&["r", "t"]).set(1);
        m.rollout_gate.observe(1.0);
        m.leftover_volumes.with_label_values(&["t"]).set(2);
        let got: Vec<String> = m
            .registry
            .gather()
            .iter()
            .filter(|f| !f.name().starts_with("process_"))
            .map(|f| {
                let mut labels: Vec<String> = f
                    .get_metric()
                    .first()
                    .map(|x| x.get_label().iter().map(|l| l.name().to_string()).collect())
                    .unwrap_or_default();
                labels.sort();
                format!(
                    "{} {:?} [{}]",
                    f.name(),
                    f.get_field_type(),
                    labels.join(",")
                )
            })
            .collect();
        let want = [
            "tenantctl_actions_total COUNTER [action,result]",
            "tenantctl_adoption_downtime_seconds GAUGE [tenant]",
            "tenantctl_backup_duration_seconds HISTOGRAM []",
            "tenantctl_backup_failures_total COUNTER [tenant]",
            "tenantctl_backup_last_success_timestamp_seconds GAUGE [tenant]",
            "tenantctl_backup_pause_seconds HISTOGRAM []",
            "tenantctl_backup_size_bytes GAUGE [tenant]",
            "tenantctl_config_info GAUGE [revision,sha256]",
            "tenantctl_config_valid GAUGE []",
            "tenantctl_docker_requests_total COUNTER [operation]",
            "tenantctl_docker_up GAUGE []",
            "tenantctl_drift GAUGE [reason,resource,tenant]",
            "tenantctl_event_stream_reopened_total COUNTER [reason]",
            "tenantctl_git_last_pull_success_timestamp_seconds GAUGE []",
            "tenantctl_git_pull_failures_total COUNTER []",
            "tenantctl_last_successful_reconcile_timestamp_seconds GAUGE []",
            "tenantctl_leftover_volumes GAUGE [tenant]",
            "tenantctl_proxy_last_reload_successful GAUGE []",
            "tenantctl_reconcile_duration_seconds HISTOGRAM []",
            "tenantctl_reconcile_total COUNTER [result]",
            "tenantctl_rollout_gate_duration_seconds HISTOGRAM []",
            "tenantctl_rollout_halted GAUGE [revision,tenant]",
            "tenantctl_rollout_info GAUGE [revision,state]",
            "tenantctl_rollout_tenants GAUGE [state]",
            "tenantctl_tenant_cpu_seconds_total COUNTER [tenant]",
            "tenantctl_tenant_crashloop GAUGE [tenant]",
            "tenantctl_tenant_in_sync GAUGE [tenant]",
            "tenantctl_tenant_memory_bytes GAUGE [tenant]",
            "tenantctl_tenant_paused GAUGE [tenant]",
            "tenantctl_tenant_up GAUGE [tenant]",
            "tenantctl_tenants_desired GAUGE []",
        ];
        assert_eq!(got, want);
    }
}
