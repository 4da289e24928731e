//! One layer of settings (a chart, `[defaults]`, or a tenant) parsed into
//! typed values. Each layer's errors point into the file it came from;
//! merging typed layers afterwards needs no more positions except for the
//! few cross-checks (duplicate ports, unknown volume keys).

use crate::diagnostic::{Diagnostic, SourceFile};
use crate::quantity::{parse_cpus, parse_duration, parse_memory};
use crate::spec::rules::{is_env_key, is_hostname, is_image_reference, normalize_host_path};
use crate::spec::{RawChart, RawHealth, RawResources, RawTenant, Spanned};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub chart: Option<(String, Range<usize>)>,
    pub image: Option<String>,
    pub port: Option<(u16, Range<usize>)>,
    pub domain: Option<(String, Range<usize>)>,
    pub display_name: Option<String>,
    pub env: BTreeMap<String, String>,
    pub sensitive_env: BTreeSet<String>,
    pub env_files: Option<Vec<(String, Range<usize>)>>,
    pub nano_cpus: Option<i64>,
    pub nano_cpus_reservation: Option<i64>,
    pub memory: Option<(i64, Range<usize>)>,
    pub memory_reservation: Option<(i64, Range<usize>)>,
    /// Chart: key → container path. Tenant/defaults: key → host path.
    pub volumes: BTreeMap<String, (String, Range<usize>)>,
    pub paused: Option<bool>,
    pub restart: Option<crate::kinds::RestartPolicy>,
    pub container_port: Option<u16>,
    pub health: HealthLayer,
    pub stop_timeout: Option<i64>,
    /// Host name → IP or `host-gateway`; merged key by key like env.
    pub extra_hosts: BTreeMap<String, String>,
    /// Container labels (templates unrendered); merged key by key.
    pub labels: BTreeMap<String, String>,
    /// Extra networks; a layer that names them replaces the list below it.
    pub networks: Option<Vec<String>>,
    pub consistency: Option<crate::kinds::Consistency>,
    /// Chart only: the volume keys a backup archives.
    pub backup_volumes: Option<Vec<(String, Range<usize>)>>,
    /// Tenant/defaults: the rollout group, checked against `[rollout]`.
    pub rollout_group: Option<(String, Range<usize>)>,
    /// Chart only.
    pub strategy: Option<crate::kinds::Strategy>,
    /// Chart only.
    pub rollback_data: Option<bool>,
    pub hardening: super::hardening::HardeningLayer,
    /// The server that runs the tenant (`node`), checked.
    pub node: Option<(super::NodeName, Range<usize>)>,
}

#[derive(Debug, Clone, Default)]
pub struct HealthLayer {
    pub path: Option<String>,
    pub command: Option<Vec<String>>,
    pub interval: Option<i64>,
    pub timeout: Option<i64>,
    pub start_period: Option<i64>,
    pub retries: Option<i64>,
}

/// Collects a layer's errors against its own file.
struct Ctx<'a> {
    file: &'a SourceFile,
    diags: &'a mut Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn err(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diags.push(self.file.diag(Some(span), message));
    }

    fn parsed<T>(
        &mut self,
        value: &Option<Spanned<impl ToText>>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<(T, Range<usize>)> {
        let value = value.as_ref()?;
        match parse(&value.get_ref().to_text()) {
            Ok(v) => Some((v, value.span())),
            Err(msg) => {
                self.err(value.span(), msg);
                None
            }
        }
    }

    fn port(
        &mut self,
        value: &Option<Spanned<i64>>,
        what: &str,
        min: i64,
    ) -> Option<(u16, Range<usize>)> {
        let value = value.as_ref()?;
        let port = *value.get_ref();
        if (min..=65535).contains(&port) {
            Some((port as u16, value.span()))
        } else {
            self.err(
                value.span(),
                format!("{what} {port} is out of range; use {min}-65535"),
            );
            None
        }
    }

    fn env(&mut self, layer: &mut Layer, env: &Option<crate::spec::EnvTable>) {
        for (key, value) in env.iter().flatten() {
            if !is_env_key(key.get_ref()) {
                self.err(
                    key.span(),
                    format!(
                        "env key `{}` is not a valid variable name; use [A-Za-z_][A-Za-z0-9_]*",
                        key.get_ref()
                    ),
                );
                continue;
            }
            let text = value.get_ref().as_env_string();
            if text.contains('\0') {
                // Docker would refuse it and echo the whole line in its error.
                self.err(
                    value.span(),
                    format!(
                        "env `{}` holds a NUL byte, which no process environment can carry",
                        key.get_ref()
                    ),
                );
                continue;
            }
            layer.env.insert(key.get_ref().clone(), text);
        }
    }

    /// An image the Docker Engine can parse: checked here so that one bad
    /// reference is one tenant's error, not a failed read of the host.
    fn image(&mut self, image: &Option<Spanned<String>>) {
        if let Some(image) = image {
            if !is_image_reference(image.get_ref()) {
                self.err(
                    image.span(),
                    format!(
                        "image {:?} is not a valid image reference; use `name[:tag][@sha256:digest]` like `mai-production:latest` (lowercase name)",
                        image.get_ref()
                    ),
                );
            }
        }
    }

    fn resources(&mut self, layer: &mut Layer, r: &RawResources) {
        layer.nano_cpus = self.parsed(&r.cpus, parse_cpus).map(|(v, _)| v);
        layer.nano_cpus_reservation = self.parsed(&r.cpus_reservation, parse_cpus).map(|(v, _)| v);
        layer.memory = self.parsed(&r.memory, parse_memory);
        layer.memory_reservation = self.parsed(&r.memory_reservation, parse_memory);
    }

    fn restart(&mut self, layer: &mut Layer, restart: &Option<Spanned<String>>) {
        if let Some(r) = restart {
            if let Some(policy) = crate::kinds::RestartPolicy::parse(r.get_ref()) {
                layer.restart = Some(policy);
            } else {
                self.err(
                    r.span(),
                    format!(
                        "restart `{}` is not a Docker restart policy; use one of {}",
                        r.get_ref(),
                        crate::kinds::RestartPolicy::ALL
                            .map(|p| p.as_str())
                            .join(", ")
                    ),
                );
            }
        }
    }

    fn health(&mut self, h: &RawHealth) -> HealthLayer {
        let mut out = HealthLayer {
            path: h.path.as_ref().map(|p| p.get_ref().clone()),
            command: h.command.clone(),
            interval: self.parsed(&h.interval, parse_duration).map(|v| v.0),
            timeout: self.parsed(&h.timeout, parse_duration).map(|v| v.0),
            start_period: self.parsed(&h.start_period, parse_duration).map(|v| v.0),
            retries: None,
        };
        if let Some(p) = &h.path {
            if !p.get_ref().starts_with('/') || p.get_ref().chars().any(char::is_whitespace) {
                self.err(
                    p.span(),
                    "health path must start with `/` and hold no spaces",
                );
            }
        }
        if let Some(r) = &h.retries {
            if (0..=100).contains(r.get_ref()) {
                out.retries = Some(*r.get_ref());
            } else {
                self.err(r.span(), "health retries must be between 0 and 100");
            }
        }
        out
    }
}

impl Ctx<'_> {
    /// `extra_hosts`, `labels` and `networks`: the same keys and rules in
    /// a chart, `[defaults]` and a tenant.
    fn container_extras(
        &mut self,
        layer: &mut Layer,
        extra_hosts: &Option<SpannedMap>,
        labels: &Option<SpannedMap>,
        networks: &Option<Vec<Spanned<String>>>,
    ) {
        for (host, target) in extra_hosts.iter().flatten() {
            let h = host.get_ref();
            let host_ok = !h.is_empty()
                && h.len() <= 253
                && h.to_ascii_lowercase()
                    .split('.')
                    .all(crate::spec::rules::is_dns_label);
            if !host_ok {
                self.err(
                    host.span(),
                    format!(
                        "extra_hosts name {h:?} is not a hostname (letters, digits, `-` and dots)"
                    ),
                );
                continue;
            }
            let t = target.get_ref();
            if t != "host-gateway" && t.parse::<std::net::IpAddr>().is_err() {
                self.err(
                    target.span(),
                    format!(
                        "extra_hosts `{h}` must map to an IP address or `host-gateway`, not {t:?}"
                    ),
                );
                continue;
            }
            layer.extra_hosts.insert(h.to_ascii_lowercase(), t.clone());
        }
        for (key, value) in labels.iter().flatten() {
            let k = key.get_ref();
            if k.starts_with("tenantctl.") {
                self.err(
                    key.span(),
                    format!(
                        "label `{k}` is reserved: `tenantctl.*` labels are set by tenantctl itself"
                    ),
                );
            } else if k.is_empty() || k.chars().any(|c| c.is_whitespace() || c.is_control()) {
                self.err(
                    key.span(),
                    "label keys must be non-empty and hold no spaces",
                );
            } else if value.get_ref().contains('\0') {
                self.err(value.span(), format!("label `{k}` holds a NUL byte"));
            } else {
                layer.labels.insert(k.clone(), value.get_ref().clone());
            }
        }
        if let Some(list) = networks {
            let mut names = Vec::new();
            for n in list {
                if crate::spec::rules::is_docker_name(n.get_ref()) {
                    if !names.contains(n.get_ref()) {
                        names.push(n.get_ref().clone());
                    }
                } else {
                    self.err(
                        n.span(),
                        format!(
                            "network {:?} is not a Docker name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)",
                            n.get_ref()
                        ),
                    );
                }
            }
            layer.networks = Some(names);
        }
    }
}

impl Ctx<'_> {
    fn consistency(
        &mut self,
        value: &Option<Spanned<String>>,
    ) -> Option<crate::kinds::Consistency> {
        let v = value.as_ref()?;
        let parsed = crate::kinds::Consistency::parse(v.get_ref());
        if parsed.is_none() {
            self.err(
                v.span(),
                format!(
                    "consistency `{}` is not one of {}",
                    v.get_ref(),
                    crate::kinds::Consistency::ALL
                        .map(|c| c.as_str())
                        .join(", ")
                ),
            );
        }
        parsed
    }

    /// Seconds between SIGTERM and SIGKILL (compose's `stop_grace_period`).
    fn stop_timeout(&mut self, value: &Option<Spanned<i64>>) -> Option<i64> {
        let t = value.as_ref()?;
        if (0..=3600).contains(t.get_ref()) {
            Some(*t.get_ref())
        } else {
            self.err(t.span(), "stop_timeout is in seconds, 0-3600");
            None
        }
    }
}

type SpannedMap = BTreeMap<Spanned<String>, Spanned<String>>;

trait ToText {
    fn to_text(&self) -> String;
}
impl ToText for String {
    fn to_text(&self) -> String {
        self.clone()
    }
}
impl ToText for crate::spec::ScalarValue {
    fn to_text(&self) -> String {
        self.as_text()
    }
}

/// A tenant's own settings, or `[defaults]`, from the tenants file.
pub fn tenant_layer(file: &SourceFile, raw: &RawTenant, diags: &mut Vec<Diagnostic>) -> Layer {
    let mut cx = Ctx { file, diags };
    let mut layer = Layer {
        chart: raw.chart.as_ref().map(|c| (c.get_ref().clone(), c.span())),
        image: raw.image.as_ref().map(|i| i.get_ref().clone()),
        display_name: raw.display_name.as_ref().map(|d| d.get_ref().clone()),
        paused: raw.paused,
        env_files: raw.env_files.as_ref().map(|files| {
            files
                .iter()
                .map(|f| (f.get_ref().clone(), f.span()))
                .collect()
        }),
        ..Layer::default()
    };
    cx.image(&raw.image);
    layer.port = cx.port(&raw.port, "port", 1024);
    layer.container_port = cx
        .port(&raw.container_port, "container_port", 1)
        .map(|p| p.0);
    if let Some(domain) = &raw.domain {
        if is_hostname(domain.get_ref()) {
            layer.domain = Some((domain.get_ref().to_ascii_lowercase(), domain.span()));
        } else {
            cx.err(
                domain.span(),
                format!(
                    "domain {:?} is not a valid hostname (letters, digits, `-` and dots, like `abc.mai-production.com`)",
                    domain.get_ref()
                ),
            );
        }
    }
    if let Some(name) = &raw.display_name {
        if name.get_ref().chars().any(char::is_control) {
            cx.err(
                name.span(),
                "display_name must not contain control characters",
            );
        }
    }
    cx.env(&mut layer, &raw.env);
    if let Some(r) = &raw.resources {
        cx.resources(&mut layer, r);
    }
    for (key, path) in raw.volumes.iter().flatten() {
        let p = path.get_ref();
        let source = if p.starts_with('/') && !p.split('/').any(|c| c == "..") {
            normalize_host_path(p)
        } else if !p.starts_with('/') && crate::spec::rules::is_docker_name(p) {
            // The name of a Docker volume (one that already exists, say).
            p.clone()
        } else {
            cx.err(
                path.span(),
                format!(
                    "volume `{}` must be an absolute host path without `..` (a bind mount) or the name of a Docker volume like `mai_dev_data`",
                    key.get_ref()
                ),
            );
            continue;
        };
        layer
            .volumes
            .insert(key.get_ref().clone(), (source, key.span()));
    }
    cx.container_extras(&mut layer, &raw.extra_hosts, &raw.labels, &raw.networks);
    cx.restart(&mut layer, &raw.restart);
    if let Some(h) = &raw.health {
        layer.health = cx.health(h);
    }
    layer.stop_timeout = cx.stop_timeout(&raw.stop_timeout);
    layer.consistency = cx.consistency(&raw.consistency);
    if let Some(h) = &raw.hardening {
        layer.hardening = super::hardening::parse_layer(cx.file, h, cx.diags);
    }
    layer.rollout_group = raw
        .rollout_group
        .as_ref()
        .map(|g| (g.get_ref().clone(), g.span()));
    if let Some(node) = &raw.node {
        match super::NodeName::parse(node.get_ref()) {
            Ok(name) => layer.node = Some((name, node.span())),
            Err(why) => cx.diags.push(cx.file.diag(Some(node.span()), why)),
        }
    }
    layer
}

/// A chart's settings; errors point into `chart.toml`.
pub fn chart_layer(file: &SourceFile, raw: &RawChart, diags: &mut Vec<Diagnostic>) -> Layer {
    let mut cx = Ctx { file, diags };
    let mut layer = Layer {
        image: raw.image.as_ref().map(|i| i.get_ref().clone()),
        ..Layer::default()
    };
    cx.image(&raw.image);
    if raw.image.is_none() {
        cx.err(
            0..0,
            "a chart needs `image`, e.g. `image = \"mai-production:latest\"`",
        );
    }
    layer.container_port = cx
        .port(&raw.container_port, "container_port", 1)
        .map(|p| p.0);
    if raw.container_port.is_none() {
        cx.err(
            0..0,
            "a chart needs `container_port`, e.g. `container_port = 8080`",
        );
    }
    cx.env(&mut layer, &Some(raw.env.clone()));
    layer.sensitive_env = raw
        .sensitive_env
        .iter()
        .map(|k| k.get_ref().clone())
        .collect();
    cx.resources(&mut layer, &raw.resources);
    for (key, target) in &raw.volumes {
        if !crate::spec::rules::is_dns_label(key.get_ref()) {
            cx.err(key.span(), "volume keys are lowercase names like `data`");
        } else if !target.get_ref().starts_with('/') {
            cx.err(target.span(), "a volume's container path must be absolute");
        } else {
            layer.volumes.insert(
                key.get_ref().clone(),
                (target.get_ref().clone(), key.span()),
            );
        }
    }
    cx.restart(&mut layer, &raw.restart);
    cx.container_extras(&mut layer, &raw.extra_hosts, &raw.labels, &raw.networks);
    layer.backup_volumes = raw.backup_volumes.as_ref().map(|keys| {
        keys.iter()
            .map(|k| (k.get_ref().clone(), k.span()))
            .collect()
    });
    for (key, span) in layer.backup_volumes.clone().into_iter().flatten() {
        if !layer.volumes.contains_key(&key) {
            cx.err(
                span,
                format!("backup_volumes names `{key}`, which is not one of the chart's volumes"),
            );
        }
    }
    layer.health = cx.health(&raw.health);
    layer.stop_timeout = cx.stop_timeout(&raw.stop_timeout);
    layer.consistency = cx.consistency(&raw.consistency);
    layer.rollback_data = raw.rollback_data;
    layer.hardening = super::hardening::parse_layer(cx.file, &raw.hardening, cx.diags);
    if let Some(v) = &raw.strategy {
        layer.strategy = crate::kinds::Strategy::parse(v.get_ref());
        if layer.strategy.is_none() {
            cx.err(
                v.span(),
                format!(
                    "strategy `{}` is not one of {}",
                    v.get_ref(),
                    crate::kinds::Strategy::ALL.map(|c| c.as_str()).join(", ")
                ),
            );
        }
    }
    layer
}
