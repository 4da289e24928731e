//! Builders for tests and benchmarks (controller-rs style): a desired
//! tenant and the container that exactly matches it, so each plan test
//! states only what differs (`DesiredTenant::test("a", 8001).paused()`,
//! `.matching_container().with_state(ContainerState::Exited)`), and the
//! plan benchmark can build 10,000. Compiled only for unit tests and with
//! the `fixtures` feature (the benchmark): never in the shipped binary.

use crate::desired::{
    DesiredMount, DesiredState, DesiredTenant, EnvEntry, HealthCheck, MountSource, Resources,
};
use crate::labels::{FLEET_LABEL, SECRET_ENV_LABEL, SPEC_HASH_LABEL, TENANT_LABEL};
use crate::observe::{
    render_port, ContainerDetails, ObservedContainer, ObservedImage, ObservedState,
};
use std::collections::BTreeMap;

pub const IMAGE_ID: &str =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";

impl DesiredTenant {
    pub fn test(name: &str, port: u16) -> Self {
        let labels = BTreeMap::from([
            (TENANT_LABEL.to_string(), name.to_string()),
            (SPEC_HASH_LABEL.to_string(), format!("hash-{name}")),
            (FLEET_LABEL.to_string(), "mai".to_string()),
            (SECRET_ENV_LABEL.to_string(), String::new()),
        ]);
        DesiredTenant {
            name: name.into(),
            fleet: "mai".into(),
            container_name: format!("mai-{name}"),
            hardening: Default::default(),
            image: "mai-production:latest".into(),
            network: "mai-network".into(),
            host_ip: "127.0.0.1".into(),
            port,
            container_port: 8080,
            domain: Some(format!("{name}.example.com")),
            display_name: name.into(),
            env: BTreeMap::from([(
                "WEBUI_NAME".to_string(),
                EnvEntry {
                    value: format!("mAI - {name}"),
                    sensitive: false,
                },
            )]),
            mounts: vec![DesiredMount {
                key: "data".into(),
                target: "/app/backend/data".into(),
                source: MountSource::Volume(format!("mai-{name}-data")),
            }],
            restart: crate::kinds::RestartPolicy::UnlessStopped,
            extra_hosts: vec![],
            extra_networks: vec![],
            backup_volumes: vec!["data".into()],
            consistency: crate::kinds::Consistency::Pause,
            rollout_group: None,
            node: None,
            strategy: crate::kinds::Strategy::StopFirst,
            rollback_data: true,
            image_pin: None,
            own_labels: BTreeMap::new(),
            resources: Resources {
                nano_cpus: 2_000_000_000,
                memory: 4 << 30,
                memory_reservation: 2 << 30,
                nano_cpus_reservation: 0,
            },
            health: HealthCheck {
                path: "/health".into(),
                command: vec![
                    "curl".into(),
                    "-f".into(),
                    "http://localhost:8080/health".into(),
                ],
                interval_ns: 30_000_000_000,
                timeout_ns: 10_000_000_000,
                start_period_ns: 0,
                retries: 3,
            },
            stop_timeout_secs: 10,
            paused: false,
            tls: None,
            labels,
            spec_hash: format!("hash-{name}"),
        }
    }

    /// Chainable: the tenant is paused (reported, never changed).
    #[must_use]
    pub fn paused(mut self) -> Self {
        self.paused = true;
        self
    }

    /// Chainable: one more env entry (`sensitive` marks a secret).
    #[must_use]
    pub fn with_env(mut self, key: &str, value: &str, sensitive: bool) -> Self {
        self.env.insert(
            key.into(),
            EnvEntry {
                value: value.into(),
                sensitive,
            },
        );
        self
    }

    #[must_use]
    pub fn with_image(mut self, image: &str) -> Self {
        self.image = image.into();
        self
    }

    #[must_use]
    pub fn with_restart(mut self, restart: crate::kinds::RestartPolicy) -> Self {
        self.restart = restart;
        self
    }

    #[must_use]
    pub fn with_domain(mut self, domain: Option<&str>) -> Self {
        self.domain = domain.map(str::to_string);
        self
    }

    /// The running container that exactly matches this tenant.
    pub fn matching_container(&self) -> ObservedContainer {
        ObservedContainer {
            id: format!("id-{}", self.name),
            name: self.container_name.clone(),
            labels: self.labels.clone(),
            state: crate::kinds::ContainerState::Running,
            health: Some(crate::kinds::Health::Healthy),
            image_id: IMAGE_ID.into(),
            published_ports: [self.port].into(),
            mounts: self.mounts.iter().map(|m| m.to_string()).collect(),
            details: Some(ContainerDetails {
                env: self
                    .env
                    .iter()
                    .map(|(k, e)| (k.clone(), e.value.clone()))
                    .collect(),
                ports: [render_port(&self.host_ip, &self.port.to_string(), "8080")].into(),
                mounts: self.mounts.iter().map(|m| m.to_string()).collect(),
                networks: [self.network.clone()].into(),
                extra_hosts: self.extra_hosts.iter().cloned().collect(),
                restart: self.restart,
                resources: self.resources,
                health: Some(HealthCheck {
                    path: String::new(),
                    ..self.health.clone()
                }),
                stop_timeout_secs: Some(self.stop_timeout_secs),
                restart_count: 0,
                hardening: self.hardening.clone(),
            }),
        }
    }
}

impl ObservedContainer {
    /// Chainable: Docker reports this state (and no published port unless
    /// running, as Docker does).
    #[must_use]
    pub fn with_state(mut self, state: crate::kinds::ContainerState) -> Self {
        self.state = state;
        if state != crate::kinds::ContainerState::Running {
            self.published_ports.clear();
        }
        self
    }

    #[must_use]
    pub fn with_health(mut self, health: Option<crate::kinds::Health>) -> Self {
        self.health = health;
        self
    }

    /// Chainable: only listed, not inspected (a list-only pass).
    #[must_use]
    pub fn listed_only(mut self) -> Self {
        self.details = None;
        self
    }
}

pub fn desired_state(tenants: Vec<DesiredTenant>) -> DesiredState {
    DesiredState {
        source_sha256: "0".repeat(64),
        fleet: "mai".into(),
        name_prefix: "mai".into(),
        network: "mai-network".into(),
        isolate_tenants: true,
        extra_labels: BTreeMap::new(),
        proxy: None,
        backup: Default::default(),
        rollout: Default::default(),
        node: None,
        backend: Default::default(),
        publish_mode: Default::default(),
        elsewhere: BTreeMap::new(),
        tenants: tenants
            .into_iter()
            .map(|t| (t.name.clone(), std::sync::Arc::new(t)))
            .collect(),
    }
}

/// A host on which every desired tenant exists exactly as desired.
pub fn converged(desired: &DesiredState) -> ObservedState {
    let mut observed = ObservedState::default();
    observed.networks.insert(
        desired.network.clone(),
        crate::labels::network_labels(&desired.extra_labels, &desired.fleet),
    );
    for t in desired.tenants.values() {
        observed
            .containers
            .insert(t.container_name.clone(), t.matching_container());
        for v in t.volume_names() {
            observed.volumes.insert(
                v.to_string(),
                crate::labels::OwnerLabels::of(&crate::labels::volume_labels(
                    &t.labels,
                    &t.own_labels,
                )),
            );
        }
        observed.images.insert(
            t.image.clone(),
            Some(ObservedImage {
                id: IMAGE_ID.into(),
                env: vec![],
            }),
        );
    }
    observed
}
