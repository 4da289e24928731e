//! Merging chart ← `[defaults]` ← tenant into the desired state, with the
//! checks that need the whole fleet (duplicate ports and domains, an empty
//! fleet). Every problem becomes a `PATH:LINE:COL` diagnostic; one invalid
//! tenant rejects the whole file, so nothing is applied from a bad edit.

use super::hash::{sha256_hex, spec_hash};
use super::layer::{chart_layer, tenant_layer, Layer};
use super::{
    defaults, DesiredMount, DesiredState, DesiredTenant, EnvEntry, HealthCheck, MountSource,
    Resources,
};
use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile};
use crate::labels::container_labels;
use crate::spec::rules::{is_dns_label, is_docker_name};
use crate::spec::{RawChart, RawFile};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// What the loader read from disk for the resolver: charts and env files by
/// absolute path. A missing entry means "not found"; its message says why.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Directory of the tenants file; relative paths start here.
    pub base_dir: PathBuf,
    /// Chart directory → its parsed chart, or why it cannot be used.
    pub charts: BTreeMap<PathBuf, Result<(SourceFile, RawChart), String>>,
    /// Env file → its values, or why it cannot be used (never its content).
    pub env_files: BTreeMap<PathBuf, Result<BTreeMap<String, String>, String>>,
    /// Which tenants are wanted. Every tenant is still checked (ports and
    /// domains are fleet-wide), but another server's env files and
    /// certificates are not needed: they live on that server.
    pub scope: super::Scope,
    /// The state in force (a reload's): its unchanged tenants are shared
    /// rather than built again (see `DesiredState::tenants`).
    pub previous: Option<Arc<super::DesiredState>>,
}

struct Fleet {
    /// `fleet`, or the name prefix (see [`fleet_settings`]).
    id: String,
    prefix: String,
    network: String,
    host_ip: String,
    extra_labels: BTreeMap<String, String>,
}

/// Resolves and validates a parsed tenants file.
pub fn resolve(
    file: &SourceFile,
    raw: &RawFile,
    inputs: &Inputs,
) -> Result<DesiredState, Diagnostics> {
    let mut diags = Vec::new();
    let fleet = fleet_settings(file, raw, &mut diags);
    let backend = match &raw.backend {
        None => crate::kinds::Backend::Docker,
        Some(word) => crate::kinds::Backend::parse(word.get_ref()).unwrap_or_else(|| {
            diags.push(file.diag(
                Some(word.span()),
                format!("backend `{}`: write \"docker\" (containers on this host, the default) or \"swarm\" (services on a Swarm cluster)", word.get_ref()),
            ));
            crate::kinds::Backend::Docker
        }),
    };
    let swarm = backend == crate::kinds::Backend::Swarm;
    let publish_mode = match &raw.publish_mode {
        None => crate::kinds::PublishMode::Host,
        Some(word) if !swarm => {
            diags.push(file.diag(
                Some(word.span()),
                "publish_mode is for backend = \"swarm\" (a container publishes on its host)",
            ));
            crate::kinds::PublishMode::Host
        }
        Some(word) => crate::kinds::PublishMode::parse(word.get_ref()).unwrap_or_else(|| {
            diags.push(file.diag(
                Some(word.span()),
                format!("publish_mode `{}`: write \"host\" (the port answers on the tenant's node) or \"ingress\" (every node answers)", word.get_ref()),
            ));
            crate::kinds::PublishMode::Host
        }),
    };
    let defaults = tenant_layer(file, &raw.defaults, &mut diags);
    let proxy = raw
        .proxy
        .as_ref()
        .and_then(|p| super::proxy::resolve_proxy(file, &inputs.base_dir, p, &mut diags));
    let backup =
        super::backup::resolve_backup(file, &inputs.base_dir, raw.backup.as_ref(), &mut diags);
    let rollout =
        super::rollout::resolve_rollout(file, &inputs.base_dir, raw.rollout.as_ref(), &mut diags);
    let default_tls = raw
        .defaults
        .tls
        .as_ref()
        .and_then(|t| super::proxy::resolve_tls(file, &inputs.base_dir, t, &mut diags));
    let mut charts: BTreeMap<PathBuf, Option<Layer>> = BTreeMap::new();
    let mut tenants = BTreeMap::new();
    // A host port is taken per server: two tenants on two nodes may share one.
    let mut ports: BTreeMap<(Option<super::NodeName>, u16), String> = BTreeMap::new();
    let mut domains: BTreeMap<String, String> = BTreeMap::new();
    let mut nodes: BTreeSet<String> = BTreeSet::new();
    let mut unplaced: Vec<(String, Range<usize>)> = Vec::new();

    for (name_spanned, raw_tenant) in &raw.tenants {
        let name = name_spanned.get_ref();
        let name_span = name_spanned.span();
        if !is_dns_label(name) {
            diags.push(file.diag(
                Some(name_span.clone()),
                format!("tenant name `{name}` is not a DNS label; use 1-63 lowercase letters, digits and `-`"),
            ));
        }
        let Some(raw_tenant) = raw_tenant else {
            continue;
        };
        let before = diags.len();
        let own = tenant_layer(file, raw_tenant, &mut diags);
        let node = own
            .node
            .as_ref()
            .or(defaults.node.as_ref())
            .map(|n| n.0.clone());
        match &node {
            Some(n) => {
                nodes.insert(n.to_string());
            }
            // An invalid `node` is reported where it is written, not as missing.
            None if raw_tenant.node.is_none() && raw.defaults.node.is_none() => {
                unplaced.push((name.clone(), name_span.clone()))
            }
            None => {}
        }
        let in_scope = inputs.scope.includes(node.as_ref().map(|n| n.as_str()));
        if diags.len() > before {
            // Its own errors are reported; merging would only add echoes.
            continue;
        }
        let Some((chart_written, chart_span)) = own.chart.clone().or(defaults.chart.clone()) else {
            diags.push(file.diag(
                Some(name_span),
                format!("tenant `{name}` has no chart; set `chart = \"../charts/mai\"` on it or in [defaults]"),
            ));
            continue;
        };
        let chart_dir = inputs.base_dir.join(&chart_written);
        let chart = charts.entry(chart_dir.clone()).or_insert_with(|| {
            match inputs.charts.get(&chart_dir) {
                Some(Ok((chart_file, raw_chart))) => {
                    let mut chart_diags = Vec::new();
                    let layer = chart_layer(chart_file, raw_chart, &mut chart_diags);
                    let ok = chart_diags.is_empty();
                    diags.extend(chart_diags);
                    ok.then_some(layer)
                }
                Some(Err(why)) => {
                    diags.push(file.diag(
                        Some(chart_span.clone()),
                        format!("chart `{chart_written}`: {why}"),
                    ));
                    None
                }
                None => {
                    diags.push(file.diag(
                        Some(chart_span.clone()),
                        format!(
                            "chart `{chart_written}` not found (looked for {})",
                            chart_dir.join("chart.toml").display()
                        ),
                    ));
                    None
                }
            }
        });
        let Some(chart) = chart.as_ref() else {
            continue;
        };
        let mut cx = Merge {
            file,
            diags: &mut diags,
            inputs,
            fleet: &fleet,
            name,
            name_span,
            in_scope,
        };
        let Some(mut tenant) = cx.merge(chart, &defaults, &own) else {
            continue;
        };
        tenant.node = node.clone();
        // Another server's certificate files are on that server.
        let own_tls = raw_tenant
            .tls
            .as_ref()
            .filter(|_| in_scope)
            .and_then(|t| super::proxy::resolve_tls(file, &inputs.base_dir, t, &mut diags));
        if let Some((group, span)) = own
            .rollout_group
            .as_ref()
            .or(defaults.rollout_group.as_ref())
        {
            if rollout.groups.contains(group) {
                tenant.rollout_group = Some(group.clone());
            } else {
                diags.push(file.diag(
                    Some(span.clone()),
                    format!(
                        "rollout_group `{group}` is not one of `[rollout] groups` ({}); add it there, in the order groups are updated",
                        if rollout.groups.is_empty() { "none set".to_string() } else { rollout.groups.join(", ") }
                    ),
                ));
            }
        }
        if own_tls == Some(super::TlsSource::Acme) {
            let span = raw_tenant.tls.as_ref().map(|t| t.span());
            if proxy.is_none() && raw.proxy.is_none() {
                diags.push(file.diag(
                    span,
                    "tls = \"acme\" needs a [proxy] (nginx answers the CA's HTTP-01 challenge)",
                ));
            } else if tenant.domain.is_none() {
                diags.push(file.diag(
                    span,
                    "tls = \"acme\" needs the tenant's `domain` (the name the certificate is for)",
                ));
            }
        }
        tenant.tls = own_tls
            .or(default_tls.clone())
            .or(proxy.as_ref().and_then(|p| p.tls.clone()));
        let port_span = own
            .port
            .as_ref()
            .or(defaults.port.as_ref())
            .map(|p| p.1.clone());
        if let Some(other) = ports.insert((node.clone(), tenant.port), name.clone()) {
            let server = node
                .as_ref()
                .map(|n| format!(" on node `{n}`"))
                .unwrap_or_default();
            diags.push(file.diag(
                port_span,
                format!("port {} of tenant `{name}` is already used by tenant `{other}`{server}; every tenant needs its own host port on its server", tenant.port),
            ));
        }
        if let Some(domain) = &tenant.domain {
            if let Some(other) = domains.insert(domain.clone(), name.clone()) {
                let span = own
                    .domain
                    .as_ref()
                    .or(defaults.domain.as_ref())
                    .map(|d| d.1.clone());
                diags.push(file.diag(
                    span,
                    format!(
                        "domain `{domain}` of tenant `{name}` is already used by tenant `{other}`"
                    ),
                ));
            }
        }
        // A tenant the reload did not change keeps the previous state's
        // value; the new one is dropped at once.
        let shared = match inputs.previous.as_ref().and_then(|p| p.tenants.get(name)) {
            Some(before) if **before == tenant => Arc::clone(before),
            _ => Arc::new(tenant),
        };
        tenants.insert(name.clone(), shared);
    }

    // On Swarm an unplaced tenant is placed by tenantctl (and recorded
    // in its service), so it may share no port with any other tenant.
    if swarm {
        for t in tenants.values().filter(|t| t.node.is_none()) {
            // Two unplaced tenants on one port are caught above (same key).
            let placed_on_port = |o: &&Arc<DesiredTenant>| o.port == t.port && o.node.is_some();
            if let Some(other) = tenants.values().find(placed_on_port) {
                diags.push(file.diag(
                    raw.tenants.iter().find(|(n, _)| n.get_ref() == &t.name).map(|(n, _)| n.span()),
                    format!("port {} of tenant `{}` is also tenant `{}`'s, and `{}` has no `node`: tenantctl could place both on one server; give it its own port or a `node`", t.port, t.name, other.name, t.name),
                ));
            }
        }
        // Through the routing mesh every node answers every port.
        if publish_mode == crate::kinds::PublishMode::Ingress {
            let mut seen: BTreeMap<u16, &str> = BTreeMap::new();
            for t in tenants.values() {
                if let Some(other) = seen.insert(t.port, &t.name) {
                    diags.push(file.diag(
                        raw.tenants.iter().find(|(n, _)| n.get_ref() == &t.name).map(|(n, _)| n.span()),
                        format!("port {} of tenant `{}` is also tenant `{other}`'s: with publish_mode = \"ingress\" every node answers every port, so ports are unique in the fleet", t.port, t.name),
                    ));
                }
            }
        }
        unplaced.clear();
        if let Some(node) = inputs.scope.node() {
            diags.push(file.diag(raw.backend.as_ref().map(|b| b.span()), format!("`--node {node}` is for one agent per server (backend \"docker\"); a Swarm fleet is managed as a whole from a manager: drop `--node`")));
        }
    }
    if !nodes.is_empty() {
        let list = nodes.iter().cloned().collect::<Vec<_>>().join(", ");
        for (name, span) in &unplaced {
            diags.push(file.diag(
                Some(span.clone()),
                format!("tenant `{name}` has no `node`, but the file places tenants on nodes ({list}); give it one (or set `node` in [defaults]) so exactly one server runs it"),
            ));
        }
    }
    if let Some(why) = super::scope_error(&inputs.scope, &nodes).filter(|_| !swarm) {
        diags.push(file.diag(None, why));
    }
    let elsewhere: BTreeMap<String, super::NodeName> = tenants
        .values()
        .filter(|t| !inputs.scope.includes(t.node.as_ref().map(|n| n.as_str())))
        .filter_map(|t| Some((t.name.clone(), t.node.clone()?)))
        .collect();
    tenants.retain(|name, _| !elsewhere.contains_key(name));
    if raw.tenants.is_empty() && !raw.allow_empty {
        diags.push(file.diag(
            raw.tenants_span.clone(),
            "no tenants defined: applying this would leave the fleet empty; add `[tenants.<name>]` tables, or set `allow_empty = true` at the top if an empty fleet is really intended",
        ));
    }
    if !diags.is_empty() {
        diags.sort_by(|a, b| (&a.path, a.line, a.col).cmp(&(&b.path, b.line, b.col)));
        diags.dedup();
        return Err(Diagnostics(diags));
    }
    Ok(DesiredState {
        source_sha256: sha256_hex(file.text.as_bytes()),
        fleet: fleet.id,
        name_prefix: fleet.prefix,
        network: fleet.network,
        isolate_tenants: raw.isolate_tenants.unwrap_or(true),
        extra_labels: fleet.extra_labels,
        proxy,
        backup,
        rollout,
        node: inputs.scope.node().cloned(),
        backend,
        publish_mode,
        elsewhere,
        tenants,
    })
}

/// The fleet's identity defaults to the name prefix: it is stable across
/// checkouts, paths and hosts (a GitOps checkout and an operator's clone of
/// the same file are one fleet), and two files with one prefix already
/// share container names. Two files that share a host *and* a prefix must
/// set distinct `fleet` values; then neither lists nor prunes the other's
/// objects.
fn fleet_settings(file: &SourceFile, raw: &RawFile, diags: &mut Vec<Diagnostic>) -> Fleet {
    let mut fleet = Fleet {
        id: String::new(),
        prefix: "mai".into(),
        network: "mai-network".into(),
        host_ip: "127.0.0.1".into(),
        extra_labels: BTreeMap::new(),
    };
    if let Some(p) = &raw.name_prefix {
        if is_dns_label(p.get_ref()) && p.get_ref().len() <= 30 {
            fleet.prefix = p.get_ref().clone();
        } else {
            diags.push(file.diag(Some(p.span()), "name_prefix must be a short DNS label (lowercase letters, digits, `-`; at most 30)"));
        }
    }
    fleet.id = fleet.prefix.clone();
    if let Some(f) = &raw.fleet {
        if is_dns_label(f.get_ref()) {
            fleet.id = f.get_ref().clone();
        } else {
            diags.push(file.diag(
                Some(f.span()),
                "fleet must be a DNS label (lowercase letters, digits, `-`), e.g. `fleet = \"production\"`",
            ));
        }
    }
    if let Some(n) = &raw.network {
        if is_docker_name(n.get_ref()) {
            fleet.network = n.get_ref().clone();
        } else {
            diags.push(file.diag(
                Some(n.span()),
                "network must be a Docker name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)",
            ));
        }
    }
    if let Some(ip) = &raw.host_ip {
        match ip.get_ref().parse::<IpAddr>() {
            Ok(_) => fleet.host_ip = ip.get_ref().clone(),
            Err(_) => diags.push(file.diag(
                Some(ip.span()),
                "host_ip must be an IP address such as `127.0.0.1` or `0.0.0.0`",
            )),
        }
    }
    for (key, value) in &raw.labels {
        let k = key.get_ref();
        if k.starts_with("tenantctl.") {
            diags.push(file.diag(
                Some(key.span()),
                format!(
                    "label `{k}` is reserved: `tenantctl.*` labels are set by tenantctl itself"
                ),
            ));
        } else if k.is_empty() || k.chars().any(|c| c.is_whitespace() || c.is_control()) {
            diags.push(file.diag(
                Some(key.span()),
                "label keys must be non-empty and hold no spaces",
            ));
        } else {
            fleet
                .extra_labels
                .insert(k.clone(), value.get_ref().clone());
        }
    }
    fleet
}

/// Merges one tenant; errors go to the tenants file.
struct Merge<'a> {
    file: &'a SourceFile,
    diags: &'a mut Vec<Diagnostic>,
    inputs: &'a Inputs,
    fleet: &'a Fleet,
    name: &'a str,
    name_span: Range<usize>,
    /// Whether the tenant is this scope's: another server's tenant is
    /// checked without its env files (they live on its server).
    in_scope: bool,
}

impl Merge<'_> {
    fn err(&mut self, span: Option<Range<usize>>, message: String) {
        let span = span.or(Some(self.name_span.clone()));
        self.diags.push(self.file.diag(span, message));
    }

    fn merge(&mut self, chart: &Layer, defaults: &Layer, own: &Layer) -> Option<DesiredTenant> {
        let name = self.name.to_string();
        let before = self.diags.len();
        let pick =
            |f: fn(&Layer) -> Option<String>| f(own).or_else(|| f(defaults)).or_else(|| f(chart));
        let image = pick(|l| l.image.clone()).unwrap_or_default();
        let port = own.port.clone().or(defaults.port.clone()).map(|p| p.0);
        if port.is_none() {
            self.err(
                None,
                format!("tenant `{name}` has no `port`; give it a host port such as `port = 8001`"),
            );
        }
        let domain = own.domain.clone().or(defaults.domain.clone()).map(|d| d.0);
        let display_name = own
            .display_name
            .clone()
            .or(defaults.display_name.clone())
            .unwrap_or_else(|| name.clone());
        let port = port.unwrap_or(0);

        let mut env = BTreeMap::new();
        for layer in [chart, defaults, own] {
            for (k, v) in &layer.env {
                let value = v
                    .replace("{display_name}", &display_name)
                    .replace("{tenant}", &name)
                    .replace("{domain}", domain.as_deref().unwrap_or(""))
                    .replace("{port}", &port.to_string());
                let sensitive = chart.sensitive_env.contains(k);
                env.insert(k.clone(), EnvEntry { value, sensitive });
            }
        }
        for (written, span) in own
            .env_files
            .clone()
            .or(defaults.env_files.clone())
            .unwrap_or_default()
        {
            let path = self.inputs.base_dir.join(&written);
            match self.inputs.env_files.get(&path) {
                Some(Ok(values)) => {
                    for (k, v) in values {
                        env.insert(
                            k.clone(),
                            EnvEntry {
                                value: v.clone(),
                                sensitive: true,
                            },
                        );
                    }
                }
                Some(Err(_)) | None if !self.in_scope => {}
                Some(Err(why)) => self.err(Some(span), format!("env file `{written}`: {why}")),
                None => self.err(Some(span), format!("env file `{written}` was not read")),
            }
        }

        let pick_i64 =
            |f: fn(&Layer) -> Option<i64>| f(own).or_else(|| f(defaults)).or_else(|| f(chart));
        let resources = Resources {
            nano_cpus: pick_i64(|l| l.nano_cpus).unwrap_or(0),
            memory: pick_i64(|l| l.memory.as_ref().map(|m| m.0)).unwrap_or(0),
            memory_reservation: pick_i64(|l| l.memory_reservation.as_ref().map(|m| m.0))
                .unwrap_or(0),
            nano_cpus_reservation: pick_i64(|l| l.nano_cpus_reservation).unwrap_or(0),
        };
        if resources.memory > 0 && resources.memory_reservation > resources.memory {
            let span = own
                .memory_reservation
                .as_ref()
                .or(defaults.memory_reservation.as_ref())
                .map(|m| m.1.clone());
            self.err(
                span,
                format!("tenant `{name}`: memory_reservation is above the memory limit"),
            );
        }

        let mut overrides = defaults.volumes.clone();
        overrides.extend(own.volumes.clone());
        for (key, (_, span)) in &overrides {
            if !chart.volumes.contains_key(key) {
                let known: Vec<&str> = chart.volumes.keys().map(String::as_str).collect();
                self.err(
                    Some(span.clone()),
                    format!(
                        "the chart has no volume `{key}`; it defines: {}",
                        known.join(", ")
                    ),
                );
            }
        }
        let mounts = chart
            .volumes
            .iter()
            .map(|(key, (target, _))| DesiredMount {
                key: key.clone(),
                target: target.clone(),
                source: match overrides.get(key) {
                    Some((path, _)) if path.starts_with('/') => MountSource::Bind(path.clone()),
                    Some((volume, _)) => MountSource::Named(volume.clone()),
                    None => MountSource::Volume(format!("{}-{name}-{key}", self.fleet.prefix)),
                },
            })
            .collect();

        let health_pick =
            |f: fn(&Layer) -> Option<i64>| f(own).or_else(|| f(defaults)).or_else(|| f(chart));
        let health = HealthCheck {
            path: pick(|l| l.health.path.clone()).unwrap_or_else(|| "/health".into()),
            command: own
                .health
                .command
                .clone()
                .or(defaults.health.command.clone())
                .or(chart.health.command.clone())
                .unwrap_or_default(),
            interval_ns: health_pick(|l| l.health.interval).unwrap_or(defaults::HEALTH_INTERVAL_NS),
            timeout_ns: health_pick(|l| l.health.timeout).unwrap_or(defaults::HEALTH_TIMEOUT_NS),
            start_period_ns: health_pick(|l| l.health.start_period).unwrap_or(0),
            retries: health_pick(|l| l.health.retries).unwrap_or(defaults::HEALTH_RETRIES),
        };

        let render = |v: &str| {
            v.replace("{display_name}", &display_name)
                .replace("{tenant}", &name)
                .replace("{domain}", domain.as_deref().unwrap_or(""))
                .replace("{port}", &port.to_string())
        };
        let mut extra_hosts = BTreeMap::new();
        let mut own_labels = BTreeMap::new();
        for layer in [chart, defaults, own] {
            extra_hosts.extend(layer.extra_hosts.clone());
            own_labels.extend(layer.labels.iter().map(|(k, v)| (k.clone(), render(v))));
        }
        let extra_networks: BTreeSet<String> = own
            .networks
            .clone()
            .or(defaults.networks.clone())
            .or(chart.networks.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|n| *n != self.fleet.network)
            .collect();

        if self.diags.len() > before {
            return None;
        }
        let mut tenant = DesiredTenant {
            extra_hosts: extra_hosts
                .iter()
                .map(|(host, ip)| format!("{host}:{ip}"))
                .collect(),
            extra_networks: extra_networks.into_iter().collect(),
            backup_volumes: match &chart.backup_volumes {
                Some(keys) => keys.iter().map(|(k, _)| k.clone()).collect(),
                None if chart.volumes.contains_key("data") => vec!["data".into()],
                None => vec![],
            },
            rollout_group: None,
            node: None,
            strategy: chart.strategy.unwrap_or_default(),
            rollback_data: chart.rollback_data.unwrap_or(true),
            hardening: super::hardening::merge([
                &own.hardening,
                &defaults.hardening,
                &chart.hardening,
            ]),
            image_pin: None,
            consistency: own
                .consistency
                .or(defaults.consistency)
                .or(chart.consistency)
                .unwrap_or_default(),
            own_labels,
            fleet: self.fleet.id.clone(),
            container_name: format!("{}-{name}", self.fleet.prefix),
            image,
            network: self.fleet.network.clone(),
            host_ip: self.fleet.host_ip.clone(),
            port,
            container_port: own
                .container_port
                .or(defaults.container_port)
                .or(chart.container_port)
                .unwrap_or(8080),
            domain,
            display_name,
            env,
            mounts,
            restart: own
                .restart
                .or(defaults.restart)
                .or(chart.restart)
                .unwrap_or_default(),
            resources,
            health,
            stop_timeout_secs: own
                .stop_timeout
                .or(defaults.stop_timeout)
                .or(chart.stop_timeout)
                .unwrap_or(defaults::STOP_TIMEOUT_SECS),
            paused: own.paused.or(defaults.paused).unwrap_or(false),
            tls: None,
            labels: BTreeMap::new(),
            spec_hash: String::new(),
            name,
        };
        tenant.spec_hash = spec_hash(&tenant, &self.fleet.extra_labels);
        let mut operator_labels = self.fleet.extra_labels.clone();
        operator_labels.extend(tenant.own_labels.clone());
        let secret_keys: Vec<&str> = tenant
            .env
            .iter()
            .filter(|(_, e)| e.sensitive)
            .map(|(k, _)| k.as_str())
            .collect();
        tenant.labels = container_labels(
            &operator_labels,
            &self.fleet.id,
            &tenant.name,
            &tenant.spec_hash,
            &secret_keys,
        );
        Some(tenant)
    }
}

/// Chart directories and env files a parsed file refers to, for the loader.
/// Every chart is read (every tenant is checked); with a node named, only
/// the env files of that node's tenants (the others are on their servers).
pub fn referenced_paths(
    raw: &RawFile,
    base_dir: &std::path::Path,
    scope: &super::Scope,
) -> (BTreeSet<PathBuf>, BTreeSet<PathBuf>) {
    let mut charts = BTreeSet::new();
    let mut env_files = BTreeSet::new();
    let tenants = raw.tenants.iter().filter_map(|(_, t)| t.as_ref());
    for t in std::iter::once(&raw.defaults).chain(tenants.clone()) {
        if let Some(c) = &t.chart {
            charts.insert(base_dir.join(c.get_ref()));
        }
    }
    let node_of = |t: &crate::spec::RawTenant| {
        t.node
            .as_ref()
            .or(raw.defaults.node.as_ref())
            .map(|n| n.get_ref().clone())
    };
    let files = |t: &crate::spec::RawTenant| {
        t.env_files
            .clone()
            .or(raw.defaults.env_files.clone())
            .unwrap_or_default()
    };
    match scope.node() {
        None => {
            for t in std::iter::once(&raw.defaults).chain(tenants) {
                for f in t.env_files.iter().flatten() {
                    env_files.insert(base_dir.join(f.get_ref()));
                }
            }
        }
        Some(node) => {
            for t in tenants.filter(|t| node_of(t).as_deref() == Some(node.as_str())) {
                for f in files(t) {
                    env_files.insert(base_dir.join(f.get_ref()));
                }
            }
        }
    }
    (charts, env_files)
}
