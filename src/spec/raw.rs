//! Raw, spanned mirrors of what `tenants.toml` and `chart.toml` may say.
//! Every struct denies unknown keys: a typo must be an error, not a silently
//! ignored setting on a production server.

use super::Spanned;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;

/// An env value as written: strings, numbers and booleans are all accepted
/// (as compose does) and become strings in the container.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum EnvValue {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl EnvValue {
    pub fn as_env_string(&self) -> String {
        match self {
            EnvValue::String(s) => s.clone(),
            EnvValue::Integer(i) => i.to_string(),
            EnvValue::Float(f) => f.to_string(),
            EnvValue::Bool(b) => b.to_string(),
        }
    }
}

/// A number or a string holding one (`cpus = 2` or `cpus = "1.5"`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ScalarValue {
    Integer(i64),
    Float(f64),
    String(String),
}

impl ScalarValue {
    pub fn as_text(&self) -> String {
        match self {
            ScalarValue::Integer(i) => i.to_string(),
            ScalarValue::Float(f) => f.to_string(),
            ScalarValue::String(s) => s.clone(),
        }
    }
}

pub type EnvTable = BTreeMap<Spanned<String>, Spanned<EnvValue>>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    pub cpus: Option<Spanned<ScalarValue>>,
    pub memory: Option<Spanned<ScalarValue>>,
    pub memory_reservation: Option<Spanned<ScalarValue>>,
    /// CPUs kept free for the tenant: Swarm places it only where they
    /// are (plain Docker has no CPU reservation; ignored there).
    pub cpus_reservation: Option<Spanned<ScalarValue>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub path: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub start_period: Option<Spanned<String>>,
    pub retries: Option<Spanned<i64>>,
    /// The command Docker runs inside the container (`CMD` form).
    pub command: Option<Vec<String>>,
}

/// `[hardening]`: how locked down a tenant's container runs (see
/// `desired::hardening`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHardening {
    /// `false`: Docker's defaults, whatever the layers below say.
    pub enabled: Option<bool>,
    pub no_new_privileges: Option<bool>,
    pub cap_drop: Option<Vec<Spanned<String>>>,
    pub cap_add: Option<Vec<Spanned<String>>>,
    pub pids_limit: Option<Spanned<i64>>,
    pub read_only: Option<bool>,
    pub tmpfs: Option<Vec<Spanned<String>>>,
    pub log_max_size: Option<Spanned<String>>,
    pub log_max_files: Option<Spanned<i64>>,
}

/// How a tenant's site gets HTTPS: `tls = "acme"` (tenantctl obtains and
/// renews a certificate) or `tls = { certificate, key }` (paths on the
/// proxy host). Always read inside a `Spanned`, so an error points at it.
#[derive(Debug, Clone)]
pub enum RawTls {
    /// The word given as a string (`"acme"` is the only one accepted).
    Mode(String),
    Files(RawTlsFiles),
}

/// A certificate and key for HTTPS (paths on the proxy host).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTlsFiles {
    pub certificate: Spanned<String>,
    pub key: Spanned<String>,
}

impl<'de> Deserialize<'de> for RawTls {
    /// A string or a table. Not `#[serde(untagged)]`: that buffers the
    /// value and loses the spans inside the table.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawTls;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"acme\" or a table { certificate = \"...\", key = \"...\" }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawTls, E> {
                Ok(RawTls::Mode(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawTls, A::Error> {
                RawTlsFiles::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawTls::Files)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `[proxy.acme]`: where certificates for `tls = "acme"` come from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAcme {
    pub directory: Option<Spanned<String>>,
    pub email: Option<Spanned<String>>,
    pub account_key: Option<Spanned<String>>,
    pub directory_ca: Option<Spanned<String>>,
    pub renew_before: Option<Spanned<String>>,
    pub state_dir: Option<Spanned<String>>,
}

/// `[proxy]`: the reverse proxy tenantctl keeps in step with the fleet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProxy {
    pub kind: Spanned<String>,
    /// nginx: where tenantctl writes its files, how it tests and reloads.
    pub config_dir: Option<Spanned<String>>,
    pub test_command: Option<Spanned<Vec<String>>>,
    pub reload_command: Option<Spanned<Vec<String>>>,
    /// caddy: the admin API's address (`localhost:2019` by default).
    pub admin: Option<Spanned<String>>,
    pub listen: Option<Spanned<String>>,
    pub tls_listen: Option<Spanned<String>>,
    pub tls: Option<Spanned<RawTls>>,
    pub acme: Option<RawAcme>,
    pub client_max_body_size: Option<Spanned<String>>,
    pub default_server: Option<bool>,
    pub retry_after: Option<Spanned<i64>>,
}

/// One tenant, or `[defaults]` (same keys; a tenant's value wins).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTenant {
    pub chart: Option<Spanned<String>>,
    pub image: Option<Spanned<String>>,
    pub port: Option<Spanned<i64>>,
    pub domain: Option<Spanned<String>>,
    pub display_name: Option<Spanned<String>>,
    pub env: Option<EnvTable>,
    pub env_files: Option<Vec<Spanned<String>>>,
    pub resources: Option<RawResources>,
    pub volumes: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    pub paused: Option<bool>,
    pub restart: Option<Spanned<String>>,
    pub container_port: Option<Spanned<i64>>,
    pub health: Option<RawHealth>,
    pub tls: Option<Spanned<RawTls>>,
    /// `host -> IP` lines for the container's /etc/hosts (`host-gateway`
    /// is Docker's name for the host seen from the container).
    pub extra_hosts: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// Labels on the container, with the env templates (`{tenant}`,
    /// `{domain}`, `{port}`, `{display_name}`).
    pub labels: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// Networks the container joins besides the fleet's (they must exist).
    pub networks: Option<Vec<Spanned<String>>>,
    /// Seconds between SIGTERM and SIGKILL; overrides the chart's.
    pub stop_timeout: Option<Spanned<i64>>,
    /// How a backup reads a live tenant: `none`, `pause` or `stop`.
    pub consistency: Option<Spanned<String>>,
    /// The rollout group (one of `[rollout] groups`) the tenant is
    /// updated with; tenants without one go last.
    pub rollout_group: Option<Spanned<String>>,
    pub hardening: Option<RawHardening>,
    /// The server that runs the tenant (`run --node NAME` there); every
    /// tenant has one or none does.
    pub node: Option<Spanned<String>>,
}

/// `[rollout]`: how recreates are rolled out across the fleet and gated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRollout {
    pub progress_deadline: Option<Spanned<String>>,
    pub min_ready: Option<Spanned<String>>,
    /// Rollout groups in the order they are updated (`["canary"]`).
    pub groups: Option<Vec<Spanned<String>>>,
    /// How many tenants of a rollout may be down at once.
    pub max_unavailable: Option<Spanned<i64>>,
    /// Where the rollout record and the crash-loop counts are kept.
    pub state_dir: Option<Spanned<String>>,
}

/// `[backup]`: where archives go and how many are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackup {
    pub dir: Option<Spanned<String>>,
    pub keep_last: Option<Spanned<i64>>,
    pub keep_daily: Option<Spanned<i64>>,
    pub keep_weekly: Option<Spanned<i64>>,
    pub keep_monthly: Option<Spanned<i64>>,
    pub concurrency: Option<Spanned<i64>>,
    pub after_command: Option<Spanned<Vec<String>>>,
    pub schedule: Option<Spanned<String>>,
}

/// The whole tenants file. Built by `parse_tenants_file`, not by serde
/// directly, so each tenant is checked on its own and all errors surface.
#[derive(Debug, Clone, Default)]
pub struct RawFile {
    pub allow_empty: bool,
    /// `docker` (one container per tenant, the default) or `swarm` (one
    /// service per tenant on a Swarm cluster).
    pub backend: Option<Spanned<String>>,
    /// Swarm only: `host` (the default) or `ingress` (the routing mesh).
    pub publish_mode: Option<Spanned<String>>,
    pub name_prefix: Option<Spanned<String>>,
    /// The fleet's identity on a shared host (label `tenantctl.fleet`).
    pub fleet: Option<Spanned<String>>,
    pub network: Option<Spanned<String>>,
    /// Whether the fleet's network keeps tenants from reaching each other
    /// (default true).
    pub isolate_tenants: Option<bool>,
    pub host_ip: Option<Spanned<String>>,
    pub labels: BTreeMap<Spanned<String>, Spanned<String>>,
    pub defaults: RawTenant,
    pub proxy: Option<RawProxy>,
    pub backup: Option<RawBackup>,
    pub rollout: Option<RawRollout>,
    /// Tenants in file order, each with the span of its name; `None` when
    /// the tenant's table could not be read (its error is reported).
    pub tenants: Vec<(Spanned<String>, Option<RawTenant>)>,
    /// Where `[tenants]` starts, if present, for "empty fleet" errors.
    pub tenants_span: Option<Range<usize>>,
}
