//! One compose file (version 2, 3 or none) read into the services it
//! defines, in our own types, and every key tenantctl cannot carry over
//! reported with its line. Pure: env files a service names are read by
//! the caller's closure.

use super::locate::key_line;
use super::{Finding, Severity};
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Service {
    pub file: PathBuf,
    /// Line of the service's key, for the report.
    pub line: usize,
    pub name: String,
    pub image: Option<String>,
    pub container_name: Option<String>,
    pub ports: Vec<Port>,
    /// `env_file` values first, `environment` over them (compose's order).
    pub env: BTreeMap<String, String>,
    pub mounts: Vec<Mount>,
    pub restart: Option<String>,
    pub health: Option<Health>,
    pub cpus: Option<String>,
    pub memory: Option<String>,
    pub memory_reservation: Option<String>,
    /// Docker names of the networks the container joins, the default one
    /// included when the service names none.
    pub networks: Vec<String>,
    pub extra_hosts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub stop_grace_secs: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MountFrom {
    /// An absolute host path (relative ones are resolved against the
    /// compose file's directory).
    Bind(String),
    /// A Docker volume, by its real name (`<project>_<key>` unless named).
    Volume(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub from: MountFrom,
    pub target: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub command: Vec<String>,
    pub interval_ns: Option<i64>,
    pub timeout_ns: Option<i64>,
    pub retries: Option<i64>,
    pub start_period_ns: Option<i64>,
}

/// Reads an env file a service names: its values, or why not.
pub type EnvFileReader<'a> = &'a dyn Fn(&Path) -> Result<BTreeMap<String, String>, String>;

const TOP_KEYS: [&str; 5] = ["version", "services", "networks", "volumes", "name"];

/// The services of one compose file, and what could not be read or mapped.
pub fn parse(path: &Path, text: &str, read_env: EnvFileReader) -> (Vec<Service>, Vec<Finding>) {
    let mut cx = Cx {
        path,
        text,
        findings: Vec::new(),
    };
    let root: Value = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let (line, col) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            cx.findings.push(Finding {
                path: path.to_path_buf(),
                line,
                col: Some(col),
                severity: Severity::Unmapped,
                message: format!("YAML syntax: {e}"),
            });
            return (vec![], cx.findings);
        }
    };
    let Some(root) = root.as_mapping() else {
        cx.unmapped(&[], "a compose file is a mapping with `services:`".into());
        return (vec![], cx.findings);
    };
    for key in root.keys().filter_map(Value::as_str) {
        if !TOP_KEYS.contains(&key) && !key.starts_with("x-") {
            cx.unmapped(
                &[key],
                format!("top-level key `{key}` is not supported by import"),
            );
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let project = project_name(root, dir);
    let networks = names_of(root.get("networks"), &project);
    let volumes = names_of(root.get("volumes"), &project);
    let mut services = Vec::new();
    let Some(list) = root.get("services").and_then(Value::as_mapping) else {
        cx.unmapped(&["services"], "no `services:` mapping".into());
        return (vec![], cx.findings);
    };
    for (name, body) in list {
        let Some(name) = name.as_str() else { continue };
        let Some(body) = body.as_mapping() else {
            cx.unmapped(
                &["services", name],
                format!("service `{name}` is not a mapping"),
            );
            continue;
        };
        let mut s = Service {
            file: path.to_path_buf(),
            line: key_line(text, &["services", name]),
            name: name.to_string(),
            ..Service::default()
        };
        let mut environment = BTreeMap::new();
        let mut named_networks = false;
        for (key, value) in body {
            let Some(key) = key.as_str() else { continue };
            let at = ["services", name, key];
            match key {
                "image" => s.image = cx.string(&at, value),
                "container_name" => s.container_name = cx.string(&at, value),
                "ports" => s.ports = cx.ports(&at, value),
                "environment" => environment = cx.pairs(&at, value, '='),
                "env_file" => {
                    for file in cx.strings(&at, value) {
                        match read_env(&dir.join(&file)) {
                            Ok(values) => s.env.extend(values),
                            Err(why) => cx.unmapped(&at, format!("env_file `{file}`: {why}")),
                        }
                    }
                }
                "volumes" => s.mounts = cx.mounts(&at, value, dir, &volumes),
                "restart" => s.restart = cx.string(&at, value),
                "healthcheck" => s.health = cx.health(&at, value),
                "deploy" => cx.deploy(&at, value, &mut s),
                "networks" => {
                    named_networks = true;
                    let keys: Vec<String> = match value {
                        Value::Mapping(m) => m
                            .keys()
                            .filter_map(|k| k.as_str().map(String::from))
                            .collect(),
                        other => cx.strings(&at, other),
                    };
                    s.networks = keys
                        .iter()
                        .map(|k| {
                            networks
                                .get(k)
                                .cloned()
                                .unwrap_or_else(|| format!("{project}_{k}"))
                        })
                        .collect();
                }
                "extra_hosts" => s.extra_hosts = cx.pairs(&at, value, ':'),
                "labels" => s.labels = cx.pairs(&at, value, '='),
                // Version 2's service-level limits.
                "cpus" => s.cpus = cx.string(&at, value),
                "mem_limit" => s.memory = cx.string(&at, value),
                "mem_reservation" => s.memory_reservation = cx.string(&at, value),
                "stop_grace_period" => {
                    s.stop_grace_secs = cx
                        .string(&at, value)
                        .and_then(|d| cx.duration(&at, &d))
                        .map(|ns| ns / 1_000_000_000)
                }
                other => cx.unmapped(
                    &at,
                    format!(
                        "service key `{other}` has no tenantctl equivalent; it would be dropped"
                    ),
                ),
            }
        }
        s.env.extend(environment);
        if !named_networks {
            s.networks = vec![networks
                .get("default")
                .cloned()
                .unwrap_or_else(|| format!("{project}_default"))];
        }
        services.push(s);
    }
    (services, cx.findings)
}

/// Compose's project name: `name:`, else the directory's name, lowercased
/// with what compose strips removed.
fn project_name(root: &Mapping, dir: &Path) -> String {
    if let Some(name) = root.get("name").and_then(Value::as_str) {
        return name.to_string();
    }
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    base.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Top-level `networks:`/`volumes:` keys → the Docker object's real name:
/// its `name:`, the key itself when `external` (v2/3's meaning), else
/// `<project>_<key>` as compose creates it.
fn names_of(section: Option<&Value>, project: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for (key, body) in section.and_then(Value::as_mapping).into_iter().flatten() {
        let Some(key) = key.as_str() else { continue };
        let name = body.get("name").and_then(Value::as_str);
        let external = body.get("external");
        let external_name = external.and_then(|e| e.get("name")).and_then(Value::as_str);
        let is_external = external.is_some_and(|e| e.as_bool() == Some(true) || e.is_mapping());
        let real = match (name, external_name) {
            (Some(n), _) | (None, Some(n)) => n.to_string(),
            (None, None) if is_external => key.to_string(),
            (None, None) => format!("{project}_{key}"),
        };
        names.insert(key.to_string(), real);
    }
    names
}

struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
    findings: Vec<Finding>,
}

impl Cx<'_> {
    fn unmapped(&mut self, at: &[&str], message: String) {
        self.finding(at, Severity::Unmapped, message);
    }

    fn finding(&mut self, at: &[&str], severity: Severity, message: String) {
        self.findings.push(Finding {
            path: self.path.to_path_buf(),
            line: key_line(self.text, at),
            col: None,
            severity,
            message,
        });
    }

    fn string(&mut self, at: &[&str], value: &Value) -> Option<String> {
        match scalar(value) {
            Some(s) => self.literal(at, s),
            None => {
                self.unmapped(at, format!("`{}` must be a string", at[at.len() - 1]));
                None
            }
        }
    }

    fn strings(&mut self, at: &[&str], value: &Value) -> Vec<String> {
        match value {
            Value::Sequence(items) => items.iter().filter_map(|v| self.string(at, v)).collect(),
            other => self.string(at, other).into_iter().collect(),
        }
    }

    /// A value as compose would use it: `$$` is a literal `$`; `${VAR}`
    /// and `$VAR` come from the shell or `.env` at `up` time, which import
    /// cannot know, so such a value is reported, not guessed.
    fn literal(&mut self, at: &[&str], text: String) -> Option<String> {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'$' {
                match bytes.get(i + 1) {
                    Some(b'$') => i += 1,
                    Some(b'{') => return self.interpolated(at, &text),
                    Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                        return self.interpolated(at, &text)
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        Some(text.replace("$$", "$"))
    }

    fn interpolated(&mut self, at: &[&str], _text: &str) -> Option<String> {
        // The value is not echoed: it may sit next to a secret.
        self.unmapped(
            at,
            format!(
                "`{}` uses `${{…}}` interpolation, which compose fills in from the shell or .env at `up` time; write the value itself",
                at[at.len() - 1]
            ),
        );
        None
    }

    /// A list of `k<sep>v` strings or a mapping (environment, labels,
    /// extra_hosts all come in both forms).
    fn pairs(&mut self, at: &[&str], value: &Value, sep: char) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        match value {
            Value::Mapping(m) => {
                for (k, v) in m {
                    if let (Some(k), v) = (scalar(k), scalar(v).unwrap_or_default()) {
                        if let Some(v) = self.literal(at, v) {
                            out.insert(k, v);
                        }
                    }
                }
            }
            Value::Sequence(items) => {
                for item in items {
                    let Some(text) = scalar(item) else { continue };
                    match text.split_once(sep) {
                        Some((k, v)) => match self.literal(at, v.to_string()) {
                            Some(v) => out.insert(k.trim().to_string(), v),
                            None => None,
                        },
                        // `- KEY` alone passes the caller's variable: not ours to know.
                        None => {
                            self.unmapped(at, format!("`{text}` has no value here (compose takes it from the shell that ran it); give it one"));
                            None
                        }
                    };
                }
            }
            _ => self.unmapped(
                at,
                format!("`{}` must be a list or a mapping", at[at.len() - 1]),
            ),
        }
        out
    }

    fn ports(&mut self, at: &[&str], value: &Value) -> Vec<Port> {
        let mut out = Vec::new();
        for item in value.as_sequence().into_iter().flatten() {
            let port = match item {
                Value::Mapping(m) => {
                    let num = |k: &str| {
                        m.get(k)
                            .and_then(scalar)
                            .and_then(|s| s.parse::<u16>().ok())
                    };
                    let protocol = m
                        .get("protocol")
                        .and_then(scalar)
                        .unwrap_or_else(|| "tcp".into());
                    match (num("published"), num("target")) {
                        (Some(host_port), Some(container_port)) if protocol == "tcp" => {
                            Some(Port {
                                host_ip: m.get("host_ip").and_then(scalar).unwrap_or_default(),
                                host_port,
                                container_port,
                            })
                        }
                        _ => None,
                    }
                }
                other => scalar(other).and_then(|s| short_port(&s)),
            };
            match port {
                Some(p) => out.push(p),
                None => self.unmapped(
                    at,
                    format!(
                        "port `{}` is not a single TCP `[IP:]HOST:CONTAINER` mapping",
                        scalar(item).unwrap_or_else(|| "(mapping)".into())
                    ),
                ),
            }
        }
        out
    }

    fn mounts(
        &mut self,
        at: &[&str],
        value: &Value,
        dir: &Path,
        volumes: &BTreeMap<String, String>,
    ) -> Vec<Mount> {
        let mut out = Vec::new();
        for item in value.as_sequence().into_iter().flatten() {
            let (source, target, kind) = match item {
                Value::Mapping(m) => (
                    m.get("source").and_then(scalar).unwrap_or_default(),
                    m.get("target").and_then(scalar).unwrap_or_default(),
                    m.get("type").and_then(scalar),
                ),
                other => {
                    let text = scalar(other).unwrap_or_default();
                    let mut parts = text.splitn(3, ':');
                    let source = parts.next().unwrap_or_default().to_string();
                    match parts.next() {
                        Some(target) => (source, target.to_string(), None),
                        None => (String::new(), source, None),
                    }
                }
            };
            if source.is_empty() || !target.starts_with('/') {
                self.unmapped(at, format!("volume `{target}` has no source (an anonymous volume): its data is not carried over"));
                continue;
            }
            let bind = kind.as_deref() == Some("bind")
                || source.starts_with('/')
                || source.starts_with('.')
                || source.starts_with('~');
            let from = if bind {
                if source.starts_with('~') {
                    self.unmapped(at, format!("bind source `{source}` depends on the user's home; write it as an absolute path"));
                    continue;
                }
                MountFrom::Bind(absolute(dir, &source))
            } else {
                MountFrom::Volume(volumes.get(&source).cloned().unwrap_or(source))
            };
            out.push(Mount { from, target });
        }
        out
    }

    fn duration(&mut self, at: &[&str], text: &str) -> Option<i64> {
        match crate::quantity::parse_duration(text) {
            Ok(ns) => Some(ns),
            Err(e) => {
                self.unmapped(at, e);
                None
            }
        }
    }

    fn health(&mut self, at: &[&str], value: &Value) -> Option<Health> {
        let m = value.as_mapping()?;
        if m.get("disable").and_then(Value::as_bool) == Some(true) {
            self.finding(
                at,
                Severity::Note,
                "the health check is disabled here; the chart's applies".into(),
            );
            return None;
        }
        let mut h = Health::default();
        for (key, v) in m {
            let Some(key) = key.as_str() else { continue };
            let sub = [at[0], at[1], at[2], key];
            match key {
                "test" => {
                    h.command = match v {
                        Value::Sequence(_) => {
                            let all = self.strings(&sub, v);
                            match all.first().map(String::as_str) {
                                Some("CMD") => all[1..].to_vec(),
                                Some("CMD-SHELL") => {
                                    vec!["sh".into(), "-c".into(), all[1..].join(" ")]
                                }
                                _ => {
                                    self.unmapped(
                                        &sub,
                                        "health `test` must start with CMD or CMD-SHELL".into(),
                                    );
                                    vec![]
                                }
                            }
                        }
                        other => {
                            let shell = scalar(other).unwrap_or_default();
                            vec!["sh".into(), "-c".into(), shell]
                        }
                    }
                }
                "interval" => h.interval_ns = scalar(v).and_then(|d| self.duration(&sub, &d)),
                "timeout" => h.timeout_ns = scalar(v).and_then(|d| self.duration(&sub, &d)),
                "start_period" => {
                    h.start_period_ns = scalar(v).and_then(|d| self.duration(&sub, &d))
                }
                "retries" => h.retries = v.as_i64(),
                other => self.unmapped(&sub, format!("healthcheck key `{other}` is not supported")),
            }
        }
        Some(h)
    }

    fn deploy(&mut self, at: &[&str], value: &Value, s: &mut Service) {
        for (key, v) in value.as_mapping().into_iter().flatten() {
            let Some(key) = key.as_str() else { continue };
            let sub = [at[0], at[1], at[2], key];
            if key != "resources" {
                self.unmapped(
                    &sub,
                    format!("deploy key `{key}` has no tenantctl equivalent"),
                );
                continue;
            }
            for (kind, r) in v.as_mapping().into_iter().flatten() {
                let Some(kind) = kind.as_str() else { continue };
                let at4 = [at[0], at[1], at[2], "resources", kind];
                for (k, val) in r.as_mapping().into_iter().flatten() {
                    let (Some(k), Some(val)) = (k.as_str(), scalar(val)) else {
                        continue;
                    };
                    match (kind, k) {
                        ("limits", "cpus") => s.cpus = Some(val),
                        ("limits", "memory") => s.memory = Some(val),
                        ("reservations", "memory") => s.memory_reservation = Some(val),
                        ("reservations", "cpus") => self.finding(
                            &at4,
                            Severity::Note,
                            format!("a CPU reservation ({val}) has no effect on plain Docker (only under Swarm); it is not carried over"),
                        ),
                        _ => self.unmapped(&at4, format!("deploy.resources.{kind}.{k} has no tenantctl equivalent")),
                    }
                }
            }
        }
    }
}

/// A scalar as text (`'2'`, `2` and `2.0` alike for cpus).
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `8001:8080`, `127.0.0.1:8001:8080`, `8001:8080/tcp`; not ranges.
fn short_port(text: &str) -> Option<Port> {
    let text = text.strip_suffix("/tcp").unwrap_or(text);
    if text.contains('/') || text.contains('-') {
        return None;
    }
    let (rest, container) = text.rsplit_once(':')?;
    let (host_ip, host) = match rest.rsplit_once(':') {
        Some((ip, host)) => (ip.trim_matches(['[', ']']).to_string(), host),
        None => (String::new(), rest),
    };
    Some(Port {
        host_ip,
        host_port: host.parse().ok()?,
        container_port: container.parse().ok()?,
    })
}

/// A bind source made absolute against the compose file's directory,
/// `.` and `..` folded.
fn absolute(dir: &Path, source: &str) -> String {
    let joined = dir.join(source);
    let mut parts: Vec<String> = Vec::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests;
