//! The resolved, validated, hashed desired state (ripgrep's "high args"):
//! chart ← `[defaults]` ← tenant, merged into one `DesiredTenant` each.
//! Pure: file contents come in through [`Inputs`], nothing here does IO.

mod backup;
mod hardening;
mod hash;
mod layer;
mod node;
mod proxy;
mod resolve;
mod rollout;

pub use backup::{
    next_fire as next_backup_fire, BackupSpec, Retention, DEFAULT_DIR as DEFAULT_BACKUP_DIR,
};
pub use hardening::{capability, Hardening};
pub use hash::sha256_hex;
pub use node::{scope_error, NodeName, Scope};
pub use proxy::{
    AcmeSpec, ProxyKind, ProxySpec, Tls, TlsSource, LETS_ENCRYPT, LETS_ENCRYPT_STAGING,
};

pub use resolve::{referenced_paths, resolve, Inputs};
pub use rollout::{RolloutSpec, DEFAULT_STATE_DIR};

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The whole fleet as it should be.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredState {
    /// sha256 of the tenants file bytes, for `tenantctl_config_info`.
    pub source_sha256: String,
    /// Which fleet this file is on a shared host (`tenantctl.fleet`).
    pub fleet: String,
    /// Container and volume names are `<prefix>-<tenant>[-<volume>]`.
    pub name_prefix: String,
    pub network: String,
    /// The network is created with inter-container traffic off
    /// (`enable_icc=false`): a tenant reaches no other tenant's container,
    /// only host-published ports (the proxy's path).
    pub isolate_tenants: bool,
    /// Labels the operator asked for on every object, besides ours.
    pub extra_labels: BTreeMap<String, String>,
    /// The reverse proxy to keep in step, when `[proxy]` is configured.
    pub proxy: Option<ProxySpec>,
    /// Where backups go and how many are kept (`[backup]`).
    pub backup: BackupSpec,
    /// How a recreate's new container is gated (`[rollout]`).
    pub rollout: RolloutSpec,
    /// The server this state is for (`--node`): its tenants only.
    pub node: Option<NodeName>,
    /// Containers on this host, or services on a Swarm cluster.
    pub backend: crate::kinds::Backend,
    /// How a Swarm service publishes its port (`publish_mode`).
    pub publish_mode: crate::kinds::PublishMode,
    /// The file's tenants placed on other servers, with their node: a
    /// container of one of them here was moved away, not dropped, and is
    /// never pruned (its data is on this server).
    pub elsewhere: BTreeMap<String, NodeName>,
    /// Shared (`Arc`): a reload keeps the previous state's value of every
    /// tenant it did not change (see `Inputs::previous`), so the old and
    /// new states are not two full copies at once (~2.8 MB at 1,000
    /// tenants), and `only` hands a reconcile its tenant without a copy.
    pub tenants: BTreeMap<String, Arc<DesiredTenant>>,
}

impl DesiredState {
    /// The same fleet settings with only `tenant` in it, for reconciling
    /// one tenant without touching (or even reading) the others.
    pub fn only(&self, tenant: &str) -> DesiredState {
        DesiredState {
            tenants: self
                .tenants
                .get(tenant)
                .map(|t| (t.name.clone(), Arc::clone(t)))
                .into_iter()
                .collect(),
            ..self.clone_settings()
        }
    }

    fn clone_settings(&self) -> DesiredState {
        DesiredState {
            source_sha256: self.source_sha256.clone(),
            fleet: self.fleet.clone(),
            name_prefix: self.name_prefix.clone(),
            network: self.network.clone(),
            isolate_tenants: self.isolate_tenants,
            extra_labels: self.extra_labels.clone(),
            proxy: self.proxy.clone(),
            backup: self.backup.clone(),
            rollout: self.rollout.clone(),
            node: self.node.clone(),
            backend: self.backend,
            publish_mode: self.publish_mode,
            elsewhere: self.elsewhere.clone(),
            tenants: BTreeMap::new(),
        }
    }
}

/// One tenant's container and volumes.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredTenant {
    pub name: String,
    /// The fleet it belongs to (see `labels::belongs_to`).
    pub fleet: String,
    pub container_name: String,
    pub image: String,
    /// The fleet's network, which the container must be attached to.
    pub network: String,
    pub host_ip: String,
    pub port: u16,
    pub container_port: u16,
    pub domain: Option<String>,
    pub display_name: String,
    pub env: BTreeMap<String, EnvEntry>,
    pub mounts: Vec<DesiredMount>,
    pub restart: crate::kinds::RestartPolicy,
    pub resources: Resources,
    pub health: HealthCheck,
    pub stop_timeout_secs: i64,
    /// Reported, never changed: tenantctl leaves a paused tenant alone.
    pub paused: bool,
    /// HTTPS for the tenant's domain (its own, `[defaults]`', or the
    /// proxy's): files on disk, or ACME.
    pub tls: Option<TlsSource>,
    /// `host:IP` lines for /etc/hosts (`HostConfig.ExtraHosts`), sorted.
    pub extra_hosts: Vec<String>,
    /// Networks joined besides `network` (they must exist), sorted.
    pub extra_networks: Vec<String>,
    /// Chart volume keys a backup archives (`backup_volumes`, default `data`).
    pub backup_volumes: Vec<String>,
    pub consistency: crate::kinds::Consistency,
    /// Its rollout group (`rollout_group`), one of `[rollout] groups`.
    pub rollout_group: Option<String>,
    /// The server that runs it (`node`), when the file places tenants.
    pub node: Option<NodeName>,
    /// How a recreate swaps its container (chart `strategy`).
    pub strategy: crate::kinds::Strategy,
    /// A failed upgrade's data is restored from its pre-upgrade backup.
    pub rollback_data: bool,
    /// Privileges, limits and log rotation of the container (hashed).
    pub hardening: Hardening,
    /// The image id a rollout resolved `image` to at its start: created
    /// from instead of the reference, so a tag moved during the rollout
    /// does not split it. Never from the file, never hashed.
    pub image_pin: Option<String>,
    /// The operator's own labels for this container (templates rendered):
    /// on the container only, never on its volumes.
    pub own_labels: BTreeMap<String, String>,
    /// All labels the container must carry, ours included.
    pub labels: BTreeMap<String, String>,
    /// Hash of everything that needs a recreate to change (see `hash.rs`).
    pub spec_hash: String,
}

impl DesiredTenant {
    /// The temporary name of a replacement being started (see
    /// `apply::replace`; the plan recovers it after a crash).
    pub fn replacement_name(&self) -> String {
        format!("{}--new", self.container_name)
    }

    /// The name the old container is kept under until its replacement runs.
    pub fn aside_name(&self) -> String {
        format!("{}--old", self.container_name)
    }

    /// A `start-first` update's interim container on a spare port, which
    /// serves through the proxy while the tenant's own is replaced.
    pub fn bridge_name(&self) -> String {
        format!("{}--bridge", self.container_name)
    }

    /// Every name a replacement gives a container of this tenant for a
    /// while (`--new`, `--old`, `--bridge`).
    pub fn temporary_names(&self) -> [String; 3] {
        [
            self.replacement_name(),
            self.aside_name(),
            self.bridge_name(),
        ]
    }

    /// Docker volumes the tenant mounts, its own and named ones (bind
    /// mounts are the operator's directories).
    pub fn volume_names(&self) -> impl Iterator<Item = &str> {
        self.mounts.iter().filter_map(|m| m.source.volume_name())
    }

    /// `KEY=VALUE` lines for Docker, secrets included (never log these).
    pub fn env_lines(&self) -> Vec<String> {
        self.env
            .iter()
            .map(|(k, e)| format!("{k}={}", e.value))
            .collect()
    }
}

/// An env value; `sensitive` ones print as `(sensitive)` everywhere.
#[derive(Clone, PartialEq)]
pub struct EnvEntry {
    pub value: String,
    pub sensitive: bool,
}

impl EnvEntry {
    /// What may be shown to a human: the value, or `(sensitive)`.
    pub fn shown(&self) -> String {
        if self.sensitive {
            "(sensitive)".to_string()
        } else {
            format!("{:?}", self.value)
        }
    }
}

/// Debug never shows a secret, so `{:?}` of a tenant is safe to log.
impl fmt::Debug for EnvEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DesiredMount {
    /// The chart's volume key (`data`, `backups`).
    pub key: String,
    pub target: String,
    pub source: MountSource,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum MountSource {
    /// A named Docker volume tenantctl creates (and never deletes).
    Volume(String),
    /// A host directory the operator owns.
    Bind(String),
    /// A Docker volume the file names (`volumes = { data = "mai_dev_data" }`),
    /// as compose's named volumes: used, created when missing, never
    /// removed, and not required to carry our labels (it predates us).
    Named(String),
}

impl MountSource {
    /// The Docker volume behind the mount; `None` for a bind mount.
    pub fn volume_name(&self) -> Option<&str> {
        match self {
            MountSource::Volume(name) | MountSource::Named(name) => Some(name),
            MountSource::Bind(_) => None,
        }
    }
}

impl fmt::Display for DesiredMount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            MountSource::Volume(v) | MountSource::Named(v) => {
                write!(f, "volume {v} -> {}", self.target)
            }
            MountSource::Bind(p) => write!(f, "bind {p} -> {}", self.target),
        }
    }
}

/// Limits Docker can change in place; 0 means unlimited, as in Docker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Resources {
    pub nano_cpus: i64,
    pub memory: i64,
    pub memory_reservation: i64,
    /// A Swarm reservation (`cpus_reservation`); plain Docker has none.
    pub nano_cpus_reservation: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HealthCheck {
    /// Path probed over HTTP from the host (`/health`).
    pub path: String,
    /// Command Docker runs inside the container; empty keeps the image's.
    pub command: Vec<String>,
    pub interval_ns: i64,
    pub timeout_ns: i64,
    pub start_period_ns: i64,
    pub retries: i64,
}

pub use crate::labels::SHARED_TENANT_LABEL;

/// What a tenant gets when neither its chart, `[defaults]` nor its own
/// table say: the resolver's defaults, which `import` compares against too.
pub mod defaults {
    pub const HEALTH_INTERVAL_NS: i64 = 30_000_000_000;
    pub const HEALTH_TIMEOUT_NS: i64 = 10_000_000_000;
    pub const HEALTH_RETRIES: i64 = 3;
    pub const STOP_TIMEOUT_SECS: i64 = 10;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic message (or a debug log) that prints a tenant or the whole
    /// state with `{:?}` shows `(sensitive)`, never the value.
    #[test]
    fn debug_of_the_desired_state_masks_secrets() {
        let mut t = DesiredTenant::test("acme", 8001);
        t.env.insert(
            "API_KEY".into(),
            EnvEntry {
                value: "canary-debug-s3cr3t".into(),
                sensitive: true,
            },
        );
        let state = crate::fixtures::desired_state(vec![t]);
        let shown = format!("{state:?} {state:#?}");
        assert!(!shown.contains("canary-debug-s3cr3t"), "{shown}");
        assert!(shown.contains("(sensitive)"));
        let panicked = std::panic::catch_unwind(|| panic!("bad state: {state:?}"));
        let message = panicked.unwrap_err();
        let text = message.downcast_ref::<String>().unwrap();
        assert!(!text.contains("canary-debug-s3cr3t"));
    }
}
