//! Compose services and nginx sites → tenants, against a chart: each
//! client's keys only where it differs from the chart, secrets apart, and
//! a finding for everything that does not carry over. Pure.

use super::chart::Chart;
use super::compose::{MountFrom, Service};
use super::nginx::Site;
use super::{Finding, Severity};
use crate::quantity::{parse_cpus, parse_memory};
use std::collections::BTreeMap;

/// One client as a tenant: the keys its table gets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tenant {
    pub name: String,
    /// `file:line` of the compose service, for the file's comment.
    pub source: String,
    pub port: u16,
    pub domain: Option<String>,
    pub tls: Option<(String, String)>,
    pub display_name: Option<String>,
    pub image: Option<String>,
    pub env: BTreeMap<String, String>,
    /// Values whose names look secret: written to `env/<tenant>.env`.
    pub secrets: BTreeMap<String, String>,
    /// Chart volume key → bind path or Docker volume name.
    pub volumes: BTreeMap<String, String>,
    pub restart: Option<String>,
    /// `cpus`, `memory`, `memory_reservation` as written in compose.
    pub resources: BTreeMap<&'static str, String>,
    pub health: Option<super::compose::Health>,
    pub extra_hosts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub networks: Vec<String>,
    /// Seconds from SIGTERM to SIGKILL, when not the chart's.
    pub stop_timeout: Option<i64>,
}

/// The whole import: file-level settings and the tenants.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fleet {
    pub name_prefix: String,
    pub network: String,
    pub host_ip: String,
    pub tenants: Vec<Tenant>,
}

/// Whether an env name looks like it holds a secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["KEY", "SECRET", "TOKEN", "PASSWORD"]
        .iter()
        .any(|w| upper.contains(w))
}

pub fn map(
    services: &[Service],
    sites: &[Site],
    chart: &Chart,
    name_prefix: &str,
    findings: &mut Vec<Finding>,
) -> Fleet {
    let mut fleet = Fleet {
        name_prefix: name_prefix.to_string(),
        network: shared_network(services).unwrap_or_else(|| format!("{name_prefix}-network")),
        host_ip: String::new(),
        tenants: Vec::new(),
    };
    let mut by_port: BTreeMap<u16, &Site> = BTreeMap::new();
    for site in sites {
        if let Some(other) = by_port.get(&site.port) {
            if other.domain != site.domain {
                findings.push(at_site(
                    site,
                    Severity::Note,
                    format!(
                        "port {} is also served as {}; the tenant gets {} only",
                        site.port, site.domain, other.domain
                    ),
                ));
            }
            continue;
        }
        by_port.insert(site.port, site);
    }
    let mut used_ports: BTreeMap<u16, String> = BTreeMap::new();
    for s in services {
        let mut note = |severity, message: String| {
            findings.push(Finding {
                path: s.file.clone(),
                line: s.line,
                col: None,
                severity,
                message: format!("service `{}`: {message}", s.name),
            })
        };
        let container = s.container_name.clone().unwrap_or_else(|| s.name.clone());
        let Some(name) = container
            .strip_prefix(name_prefix)
            .and_then(|n| n.strip_prefix('-'))
            .filter(|n| crate::spec::rules::is_dns_label(n))
        else {
            note(
                Severity::Unmapped,
                format!("container name `{container}` is not `{name_prefix}-<tenant>` (a lowercase DNS label): tenantctl could not adopt it under its name; set `container_name` or use --name-prefix"),
            );
            continue;
        };
        if s.container_name.is_none() {
            note(Severity::Unmapped, "no `container_name`: compose named the container after its project, so it cannot be adopted by name".into());
        }
        let mut t = Tenant {
            name: name.to_string(),
            source: format!("{}:{}", s.file.display(), s.line),
            ..Tenant::default()
        };
        let mut ports = s
            .ports
            .iter()
            .filter(|p| p.container_port == chart.container_port);
        match ports.next() {
            Some(p) => {
                t.port = p.host_port;
                let ip = if p.host_ip.is_empty() {
                    "0.0.0.0"
                } else {
                    p.host_ip.as_str()
                };
                if fleet.host_ip.is_empty() {
                    fleet.host_ip = ip.to_string();
                } else if fleet.host_ip != ip {
                    note(Severity::Unmapped, format!("publishes on {ip}, the others on {}; tenantctl publishes every tenant on one host_ip", fleet.host_ip));
                }
            }
            None => {
                note(
                    Severity::Unmapped,
                    format!(
                        "publishes no host port for container port {}",
                        chart.container_port
                    ),
                );
                continue;
            }
        }
        for p in ports.chain(
            s.ports
                .iter()
                .filter(|p| p.container_port != chart.container_port),
        ) {
            note(
                Severity::Unmapped,
                format!(
                    "port {}:{} is not carried over: a tenant publishes one port",
                    p.host_port, p.container_port
                ),
            );
        }
        if let Some(other) = used_ports.insert(t.port, t.name.clone()) {
            note(
                Severity::Unmapped,
                format!("port {} is already tenant `{other}`'s", t.port),
            );
            continue;
        }
        if let Some(site) = by_port.remove(&t.port) {
            t.domain = Some(site.domain.clone());
            t.tls = site.tls.clone();
        }
        if let Some(image) = &s.image {
            if *image != chart.image {
                t.image = Some(image.clone());
            }
        }
        map_env(s, chart, &mut t, &mut note);
        for (key, target) in &chart.volumes {
            match s.mounts.iter().find(|m| m.target == *target) {
                Some(m) => {
                    let source = match &m.from {
                        MountFrom::Bind(p) | MountFrom::Volume(p) => p.clone(),
                    };
                    t.volumes.insert(key.clone(), source);
                }
                None => note(Severity::Note, format!("mounts nothing at {target}: the tenant gets a new volume `{name_prefix}-{}-{key}` there, and `--adopt` will not take over a container whose mounts differ", t.name)),
            }
        }
        for m in s
            .mounts
            .iter()
            .filter(|m| !chart.volumes.values().any(|v| *v == m.target))
        {
            note(
                Severity::Unmapped,
                format!(
                    "the mount at {} is not a chart volume; its data would no longer be mounted",
                    m.target
                ),
            );
        }
        let restart = s.restart.clone().unwrap_or_else(|| "no".into());
        if restart != chart.restart {
            t.restart = Some(restart);
        }
        for (key, value, chart_value, parse) in [
            (
                "cpus",
                &s.cpus,
                chart.nano_cpus,
                parse_cpus as fn(&str) -> Result<i64, String>,
            ),
            ("memory", &s.memory, chart.memory, parse_memory),
            (
                "memory_reservation",
                &s.memory_reservation,
                chart.memory_reservation,
                parse_memory,
            ),
        ] {
            match value.as_deref().map(|v| (v, parse(v))) {
                None if chart_value > 0 => note(
                    Severity::Note,
                    format!("sets no {key}; the chart's applies"),
                ),
                None => {}
                Some((v, Err(e))) => note(Severity::Unmapped, format!("{key} `{v}`: {e}")),
                Some((v, Ok(n))) if n != chart_value => {
                    t.resources.insert(key, v.to_string());
                }
                Some(_) => {}
            }
        }
        if let Some(h) = &s.health {
            let docker = |v: Option<i64>, d: i64| v.unwrap_or(d);
            let same = h.command == chart.health_command
                && docker(h.interval_ns, 30_000_000_000) == chart.interval_ns
                && docker(h.timeout_ns, 30_000_000_000) == chart.timeout_ns
                && docker(h.retries, 3) == chart.retries
                && docker(h.start_period_ns, 0) == chart.start_period_ns;
            if !same {
                t.health = Some(h.clone());
            }
        }
        // Compose's default grace period is 10 s, as the resolver's.
        let grace = s.stop_grace_secs.unwrap_or(10);
        if grace != chart.stop_timeout_secs {
            t.stop_timeout = Some(grace);
        }
        t.extra_hosts = s.extra_hosts.clone();
        for (k, v) in &s.labels {
            if k.starts_with("com.docker.compose.") {
                continue;
            }
            if k.starts_with("tenantctl.") {
                note(
                    Severity::Unmapped,
                    format!("label `{k}` is reserved for tenantctl"),
                );
                continue;
            }
            t.labels.insert(k.clone(), v.clone());
        }
        for n in &s.networks {
            if *n == fleet.network {
                continue;
            }
            if n.ends_with("_default") {
                note(Severity::Note, format!("compose's own network `{n}` is not carried over; the tenant joins the fleet network `{}`", fleet.network));
            } else {
                t.networks.push(n.clone());
            }
        }
        if !s.networks.contains(&fleet.network) {
            note(
                Severity::Note,
                format!(
                    "joins the fleet network `{}`, which it was not on",
                    fleet.network
                ),
            );
        }
        fleet.tenants.push(t);
    }
    for site in by_port.values() {
        findings.push(at_site(
            site,
            Severity::Unmapped,
            format!(
                "{} proxies to port {}, which no imported client publishes",
                site.domain, site.port
            ),
        ));
    }
    if fleet.host_ip.is_empty() {
        fleet.host_ip = "127.0.0.1".into();
    }
    fleet.tenants.sort_by(|a, b| a.name.cmp(&b.name));
    fleet
}

fn at_site(site: &Site, severity: Severity, message: String) -> Finding {
    Finding {
        path: site.file.clone(),
        line: site.line,
        col: None,
        severity,
        message,
    }
}

/// A network every service is on (the seed's external `mai-network`).
fn shared_network(services: &[Service]) -> Option<String> {
    let first = services.first()?;
    first
        .networks
        .iter()
        .find(|n| !n.ends_with("_default") && services.iter().all(|s| s.networks.contains(n)))
        .cloned()
}

/// Env against the chart's templates: `display_name` recovered from a
/// template that holds it, then only what the chart would not set.
fn map_env(s: &Service, chart: &Chart, t: &mut Tenant, note: &mut impl FnMut(Severity, String)) {
    let domain = t.domain.clone().unwrap_or_default();
    let display = chart.env.iter().find_map(|(key, template)| {
        let (before, after) = template.split_once("{display_name}")?;
        let render = |part: &str| Chart::render(part, &t.name, "", &domain, t.port);
        let value = s.env.get(key)?;
        value
            .strip_prefix(&render(before))?
            .strip_suffix(&render(after))
            .map(str::to_string)
    });
    let display_name = display.clone().unwrap_or_else(|| t.name.clone());
    if display.as_deref().is_some_and(|d| d != t.name) {
        t.display_name = display;
    }
    for key in chart.env.keys().filter(|k| !s.env.contains_key(*k)) {
        note(
            Severity::Note,
            format!("the chart sets {key}, which compose did not"),
        );
    }
    for (key, value) in &s.env {
        let chart_value = chart
            .env
            .get(key)
            .map(|tpl| Chart::render(tpl, &t.name, &display_name, &domain, t.port));
        if chart_value.as_ref() == Some(value) {
            continue;
        }
        if looks_secret(key) || chart.sensitive_env.contains(key) {
            if value.contains(['\n', '\r']) {
                note(
                    Severity::Unmapped,
                    format!("the value of {key} spans lines, which an env file cannot hold"),
                );
                continue;
            }
            t.secrets.insert(key.clone(), value.clone());
        } else {
            t.env.insert(key.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::compose::{Mount, Port};
    use std::path::PathBuf;

    fn chart() -> Chart {
        Chart {
            image: "mai-production:latest".into(),
            container_port: 8080,
            restart: "unless-stopped".into(),
            stop_timeout_secs: 10,
            env: BTreeMap::from([
                ("WEBUI_NAME".into(), "mAI - {display_name}".into()),
                ("ENV".into(), "prod".into()),
            ]),
            volumes: BTreeMap::from([("data".into(), "/app/backend/data".into())]),
            memory: 4 << 30,
            ..Chart::default()
        }
    }

    fn service() -> Service {
        Service {
            file: PathBuf::from("/opt/clients/mai-abc/docker-compose.yml"),
            line: 3,
            name: "mai-abc".into(),
            image: Some("mai-production:latest".into()),
            container_name: Some("mai-abc".into()),
            ports: vec![Port {
                host_ip: String::new(),
                host_port: 8001,
                container_port: 8080,
            }],
            env: BTreeMap::from([
                ("WEBUI_NAME".into(), "mAI - Company ABC".into()),
                ("ENV".into(), "prod".into()),
                ("OPENROUTER_API_KEY".into(), "sk-1".into()),
                ("LOG_LEVEL".into(), "debug".into()),
            ]),
            mounts: vec![Mount {
                from: MountFrom::Bind("/opt/clients/mai-abc/data".into()),
                target: "/app/backend/data".into(),
            }],
            restart: Some("unless-stopped".into()),
            memory: Some("4G".into()),
            networks: vec!["mai-network".into()],
            ..Service::default()
        }
    }

    #[test]
    fn only_what_differs_from_the_chart_and_secrets_apart() {
        let site = Site {
            file: PathBuf::from("/etc/nginx/sites-available/mai"),
            line: 9,
            domain: "abc.example.com".into(),
            aliases: vec![],
            port: 8001,
            tls: None,
        };
        let mut findings = Vec::new();
        let fleet = map(&[service()], &[site], &chart(), "mai", &mut findings);
        assert!(
            findings.iter().all(|f| f.severity == Severity::Note),
            "{findings:?}"
        );
        assert_eq!(fleet.network, "mai-network");
        assert_eq!(fleet.host_ip, "0.0.0.0");
        let t = &fleet.tenants[0];
        assert_eq!(t.name, "abc");
        assert_eq!(t.display_name.as_deref(), Some("Company ABC"));
        assert_eq!(t.domain.as_deref(), Some("abc.example.com"));
        assert_eq!(
            t.env,
            BTreeMap::from([("LOG_LEVEL".into(), "debug".into())])
        );
        assert_eq!(t.secrets["OPENROUTER_API_KEY"], "sk-1");
        assert_eq!(t.volumes["data"], "/opt/clients/mai-abc/data");
        assert!(t.resources.is_empty() && t.restart.is_none() && t.image.is_none());
        assert_eq!(t.stop_timeout, None);
        let mut slow = service();
        slow.stop_grace_secs = Some(60);
        let fleet = map(&[slow], &[], &chart(), "mai", &mut findings);
        assert_eq!(fleet.tenants[0].stop_timeout, Some(60));
    }

    #[test]
    fn a_container_not_named_prefix_tenant_is_not_carried_over() {
        let mut s = service();
        s.container_name = Some("companyabc".into());
        let mut findings = Vec::new();
        let fleet = map(&[s], &[], &chart(), "mai", &mut findings);
        assert!(fleet.tenants.is_empty());
        assert!(findings
            .iter()
            .any(|f| f.severity == Severity::Unmapped && f.message.contains("mai-<tenant>")));
    }
}
