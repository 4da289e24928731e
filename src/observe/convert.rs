//! Pure conversions from bollard's models to observed types.

use super::{ContainerDetails, ObservedContainer};
use crate::desired::{HealthCheck, Resources};
use bollard::models::{ContainerInspectResponse, ContainerSummary};
use std::collections::{BTreeMap, BTreeSet};

/// `127.0.0.1:8001->8080/tcp`: one spelling for desired and observed ports.
pub fn render_port(host_ip: &str, host_port: &str, container_port: &str) -> String {
    let container_port = if container_port.contains('/') {
        container_port.to_string()
    } else {
        format!("{container_port}/tcp")
    };
    let host_ip = if host_ip.is_empty() {
        "0.0.0.0"
    } else {
        host_ip
    };
    format!("{host_ip}:{host_port}->{container_port}")
}

/// [`render_port`] for numeric ports, in one allocation (plan() calls it
/// once per tenant).
pub fn render_port_numbers(host_ip: &str, host_port: u16, container_port: u16) -> String {
    let host_ip = if host_ip.is_empty() {
        "0.0.0.0"
    } else {
        host_ip
    };
    format!("{host_ip}:{host_port}->{container_port}/tcp")
}

/// `volume NAME -> /target` or `bind PATH -> /target` (`tmpfs …` etc. for
/// other kinds): one spelling for desired, inspected and listed mounts.
pub fn render_mount(m: &bollard::models::MountPoint) -> String {
    let target = m.destination.as_deref().unwrap_or_default();
    match m.typ.as_deref() {
        Some("volume") => format!(
            "volume {} -> {target}",
            m.name.as_deref().unwrap_or_default()
        ),
        other => format!(
            "{} {} -> {target}",
            other.unwrap_or("bind"),
            m.source.as_deref().unwrap_or_default()
        ),
    }
}

/// A listed container. `None` for entries without id or name (never seen,
/// but the API marks every field optional).
///
/// Takes the summary by value and moves its strings (id, names, labels)
/// into ours: a listing pass converts a thousand of them while Docker's
/// list is still in memory, and copying each doubled that peak.
pub fn container_from_summary(summary: ContainerSummary) -> Option<ObservedContainer> {
    let id = summary.id?;
    let name = summary
        .names?
        .into_iter()
        .map(|n| match n.trim_start_matches('/') {
            trimmed if trimmed.len() == n.len() => n,
            trimmed => trimmed.to_string(),
        })
        .find(|n| !n.contains('/'))?;
    let labels = summary.labels.unwrap_or_default().into_iter().collect();
    let state = crate::kinds::ContainerState::parse(
        &summary.state.map(|s| s.to_string()).unwrap_or_default(),
    );
    let published_ports = summary
        .ports
        .iter()
        .flatten()
        .filter_map(|p| p.public_port)
        .collect();
    let health = summary
        .health
        .as_ref()
        .and_then(|h| h.status)
        .and_then(|s| crate::kinds::Health::parse(s.as_ref()));
    Some(ObservedContainer {
        id,
        name,
        labels,
        state,
        health,
        image_id: summary.image_id.unwrap_or_default(),
        published_ports,
        mounts: summary.mounts.iter().flatten().map(render_mount).collect(),
        details: None,
    })
}

/// An inspected container as a list would show it (`details` not filled):
/// a reconcile inspects its own containers by name instead of listing
/// them, because Docker answers an inspect from its name index while
/// every list, filtered or not, walks all the host's containers (at 1,000
/// containers a label-filtered list took 40-120 ms of the daemon's time,
/// an inspect about 1 ms).
pub fn container_from_inspect(inspect: &ContainerInspectResponse) -> Option<ObservedContainer> {
    let id = inspect.id.clone()?;
    let name = inspect.name.as_deref()?.trim_start_matches('/').to_string();
    let config = inspect.config.as_ref();
    let labels = config
        .and_then(|c| c.labels.clone())
        .unwrap_or_default()
        .into_iter()
        .collect();
    let status = inspect.state.as_ref();
    let state = crate::kinds::ContainerState::parse(
        &status
            .and_then(|s| s.status)
            .map(|s| s.to_string())
            .unwrap_or_default(),
    );
    let health = status
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.status)
        .and_then(|s| crate::kinds::Health::parse(s.as_ref()));
    // What is bound right now (empty unless running), as a list shows it.
    let published_ports = inspect
        .network_settings
        .as_ref()
        .and_then(|n| n.ports.as_ref())
        .into_iter()
        .flat_map(|ports| ports.values())
        .flatten()
        .flatten()
        .filter_map(|b| b.host_port.as_deref()?.parse::<u16>().ok())
        .collect();
    Some(ObservedContainer {
        id,
        name,
        labels,
        state,
        health,
        image_id: inspect.image.clone().unwrap_or_default(),
        published_ports,
        mounts: inspect.mounts.iter().flatten().map(render_mount).collect(),
        details: None,
    })
}

/// The managed fields of an inspected container. `image_env` is the env of
/// the container's image: entries equal to it are the image's, not ours.
pub fn details_from_inspect(
    inspect: &ContainerInspectResponse,
    image_env: &[String],
) -> ContainerDetails {
    let config = inspect.config.clone().unwrap_or_default();
    let host = inspect.host_config.clone().unwrap_or_default();
    let image_env: BTreeSet<&str> = image_env.iter().map(String::as_str).collect();
    let env = config
        .env
        .iter()
        .flatten()
        .filter(|line| !image_env.contains(line.as_str()))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let ports = host
        .port_bindings
        .iter()
        .flatten()
        .flat_map(|(container_port, bindings)| {
            bindings.iter().flatten().map(move |b| {
                render_port(
                    b.host_ip.as_deref().unwrap_or(""),
                    b.host_port.as_deref().unwrap_or(""),
                    container_port,
                )
            })
        })
        .collect();
    let mounts = inspect.mounts.iter().flatten().map(render_mount).collect();
    let networks = inspect
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    let restart = host
        .restart_policy
        .as_ref()
        .and_then(|r| r.name)
        .and_then(|n| crate::kinds::RestartPolicy::parse(n.as_ref()))
        .unwrap_or(crate::kinds::RestartPolicy::No);
    let health = config.healthcheck.as_ref().and_then(|h| {
        let test = h.test.clone().unwrap_or_default();
        match test.first().map(String::as_str) {
            Some("CMD") => Some(HealthCheck {
                path: String::new(),
                command: test[1..].to_vec(),
                interval_ns: h.interval.unwrap_or(0),
                timeout_ns: h.timeout.unwrap_or(0),
                start_period_ns: h.start_period.unwrap_or(0),
                retries: h.retries.unwrap_or(0),
            }),
            Some("CMD-SHELL") => Some(HealthCheck {
                command: vec!["sh".into(), "-c".into(), test[1..].join(" ")],
                ..HealthCheck::default()
            }),
            _ => None,
        }
    });
    ContainerDetails {
        env,
        ports,
        mounts,
        networks,
        extra_hosts: host.extra_hosts.iter().flatten().cloned().collect(),
        restart,
        resources: Resources {
            nano_cpus: host.nano_cpus.unwrap_or(0),
            memory: host.memory.unwrap_or(0),
            memory_reservation: host.memory_reservation.unwrap_or(0),
            // A container has none (a Swarm service's); never compared.
            nano_cpus_reservation: 0,
        },
        health,
        stop_timeout_secs: config.stop_timeout,
        restart_count: inspect.restart_count.unwrap_or(0),
        hardening: hardening(&host),
    }
}

/// The `[hardening]` settings as Docker reports them. Log options may be
/// the daemon's defaults (daemon.json's `log-opts` are copied into every
/// container): the plan only compares them when the file sets them.
fn hardening(host: &bollard::models::HostConfig) -> crate::desired::Hardening {
    let caps = |list: &Option<Vec<String>>| {
        let mut out: Vec<String> = list
            .iter()
            .flatten()
            .filter_map(|c| crate::desired::capability(c))
            .collect();
        out.sort();
        out.dedup();
        out
    };
    let log = host
        .log_config
        .as_ref()
        .filter(|l| l.typ.as_deref().is_none_or(|t| t == "json-file"));
    let log_opt = |key: &str| log.and_then(|l| l.config.as_ref()?.get(key).cloned());
    let mut tmpfs: Vec<String> = host
        .tmpfs
        .iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    tmpfs.sort();
    crate::desired::Hardening {
        no_new_privileges: host.security_opt.iter().flatten().any(|o| {
            matches!(
                o.as_str(),
                "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
            )
        }),
        cap_drop: caps(&host.cap_drop),
        cap_add: caps(&host.cap_add),
        pids_limit: host.pids_limit.filter(|p| *p > 0).unwrap_or(0),
        read_only: host.readonly_rootfs.unwrap_or(false),
        tmpfs,
        log_max_size: log_opt("max-size")
            .and_then(|s| crate::quantity::parse_memory(&s).ok())
            .unwrap_or(0),
        log_max_files: log_opt("max-file")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
    }
}

/// Labels as a sorted map, for objects whose labels may be absent.
pub(super) fn labels_of(
    labels: Option<std::collections::HashMap<String, String>>,
) -> BTreeMap<String, String> {
    labels.map(|l| l.into_iter().collect()).unwrap_or_default()
}

/// The bridge driver's switch for traffic between containers on one
/// network. Off, a tenant cannot open a connection to another tenant's
/// container (by name or IP); host-published ports still answer, through
/// the host, as they do for the proxy.
pub const ICC_OPTION: &str = "com.docker.network.bridge.enable_icc";

/// Whether a network keeps its containers apart (`enable_icc=false`).
pub fn is_isolated(network: &bollard::models::Network) -> bool {
    network
        .options
        .as_ref()
        .and_then(|o| o.get(ICC_OPTION))
        .is_some_and(|v| v == "false")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ContainerConfig, ContainerSummaryStateEnum, HostConfig, MountPoint, PortBinding,
        PortSummary, RestartPolicy, RestartPolicyNameEnum,
    };
    use std::collections::HashMap;

    #[test]
    fn summary_keeps_name_state_labels_and_published_ports() {
        let summary = ContainerSummary {
            id: Some("abc".into()),
            names: Some(vec!["/mai-acme".into()]),
            image_id: Some("sha256:1".into()),
            state: Some(ContainerSummaryStateEnum::RUNNING),
            labels: Some(HashMap::from([("tenantctl.tenant".into(), "acme".into())])),
            ports: Some(vec![PortSummary {
                private_port: 8080,
                public_port: Some(8001),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let c = container_from_summary(summary).unwrap();
        assert_eq!(c.name, "mai-acme");
        assert_eq!(c.tenant_label(), Some("acme"));
        assert!(c.is_running());
        assert_eq!(c.published_ports, BTreeSet::from([8001]));
    }

    #[test]
    fn an_inspect_reads_as_the_list_would_show_the_container() {
        use bollard::models::{ContainerState as State, ContainerStateStatusEnum, NetworkSettings};
        let inspect = ContainerInspectResponse {
            id: Some("abc".into()),
            name: Some("/mai-acme".into()),
            image: Some("sha256:1".into()),
            config: Some(ContainerConfig {
                labels: Some(HashMap::from([("tenantctl.tenant".into(), "acme".into())])),
                ..Default::default()
            }),
            state: Some(State {
                status: Some(ContainerStateStatusEnum::RUNNING),
                ..Default::default()
            }),
            network_settings: Some(NetworkSettings {
                ports: Some(HashMap::from([(
                    "8080/tcp".into(),
                    Some(vec![
                        PortBinding {
                            host_ip: Some("0.0.0.0".into()),
                            host_port: Some("8001".into()),
                        },
                        PortBinding {
                            host_ip: Some("::".into()),
                            host_port: Some("8001".into()),
                        },
                    ]),
                )])),
                ..Default::default()
            }),
            mounts: Some(vec![MountPoint {
                typ: Some("volume".into()),
                name: Some("mai-acme-data".into()),
                destination: Some("/app/backend/data".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let c = container_from_inspect(&inspect).unwrap();
        assert_eq!((c.id.as_str(), c.name.as_str()), ("abc", "mai-acme"));
        assert_eq!(c.tenant_label(), Some("acme"));
        assert!(c.is_running());
        assert_eq!(c.image_id, "sha256:1");
        assert_eq!(c.published_ports, BTreeSet::from([8001]));
        assert_eq!(
            c.mounts,
            BTreeSet::from(["volume mai-acme-data -> /app/backend/data".to_string()])
        );
        assert!(c.details.is_none());
    }

    #[test]
    fn inspect_drops_image_env_and_renders_ports_and_mounts() {
        let inspect = ContainerInspectResponse {
            config: Some(ContainerConfig {
                env: Some(vec!["PATH=/bin".into(), "ENV=prod".into()]),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(
                    "8080/tcp".into(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some("8001".into()),
                    }]),
                )])),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                memory: Some(1 << 30),
                ..Default::default()
            }),
            mounts: Some(vec![MountPoint {
                typ: Some("volume".into()),
                name: Some("mai-acme-data".into()),
                destination: Some("/app/backend/data".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let d = details_from_inspect(&inspect, &["PATH=/bin".into()]);
        assert_eq!(d.env, BTreeMap::from([("ENV".into(), "prod".into())]));
        assert_eq!(
            d.ports,
            BTreeSet::from(["127.0.0.1:8001->8080/tcp".to_string()])
        );
        assert_eq!(
            d.mounts,
            BTreeSet::from(["volume mai-acme-data -> /app/backend/data".to_string()])
        );
        assert_eq!(d.restart, crate::kinds::RestartPolicy::UnlessStopped);
        assert_eq!(d.resources.memory, 1 << 30);
        assert!(d.health.is_none());
    }
}
