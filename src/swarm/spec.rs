//! The Swarm service a desired tenant becomes: one replica of its image,
//! its env, volumes, limits and reservations, health check, restart
//! policy, published port, the fleet's overlay network, pinned to one node
//! (named volumes are node-local: a tenant whose task moved would start on
//! empty data), and an update policy that stops the old task first, watches
//! the new one and rolls back by itself. Pure, so the exact request is
//! checked in unit tests.

use crate::desired::{DesiredState, DesiredTenant, MountSource};
use crate::kinds::{PublishMode, RestartPolicy, Strategy};
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, Limit, Mount, MountType, MountVolumeOptions, NetworkAttachmentConfig,
    ResourceObject, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecRollbackConfig, ServiceSpecRollbackConfigFailureActionEnum,
    ServiceSpecRollbackConfigOrderEnum, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum, TaskSpec,
    TaskSpecContainerSpec, TaskSpecLogDriver, TaskSpecPlacement, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use std::collections::HashMap;

/// The placement constraint that keeps a tenant on `node` (its hostname
/// as Swarm reports it).
pub fn constraint(node: &str) -> String {
    format!("node.hostname=={node}")
}

/// The node a constraint names, when it is one of ours.
pub fn constrained_node(constraint: &str) -> Option<&str> {
    constraint
        .strip_prefix("node.hostname==")
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

/// The service label holding [`health_digest`].
pub const HEALTH_LABEL: &str = "tenantctl.health";

/// A short digest of the tenant's health check (command and timings).
pub fn health_digest(t: &DesiredTenant) -> String {
    let h = &t.health;
    let text = format!(
        "{:?} {} {} {} {}",
        h.command, h.interval_ns, h.timeout_ns, h.start_period_ns, h.retries
    );
    crate::desired::sha256_hex(text.as_bytes())[..12].to_string()
}

fn nonzero(value: i64) -> Option<i64> {
    (value > 0).then_some(value)
}

/// `image`: what the tenant's reference resolved to on the manager (an
/// image id), so every node runs the same bytes and a moved tag is a
/// visible change, not a silent one. `network_id`: the fleet network's id
/// (Swarm stores attachments by id).
pub fn service_spec(
    desired: &DesiredState,
    t: &DesiredTenant,
    node: &str,
    image: &str,
    network_ids: &[String],
) -> ServiceSpec {
    let h = &t.hardening;
    let volume_labels: HashMap<String, String> =
        crate::labels::volume_labels(&t.labels, &t.own_labels)
            .into_iter()
            .collect();
    let mut mounts: Vec<Mount> = t
        .mounts
        .iter()
        .map(|m| {
            let mut mount = crate::apply::container_spec::mount(m);
            // Created on the node by Swarm: labelled as ours there.
            if matches!(m.source, MountSource::Volume(_)) {
                mount.volume_options = Some(MountVolumeOptions {
                    labels: Some(volume_labels.clone()),
                    ..Default::default()
                });
            }
            mount
        })
        .collect();
    mounts.extend(h.tmpfs.iter().map(|path| Mount {
        typ: Some(MountType::TMPFS),
        target: Some(path.clone()),
        ..Default::default()
    }));
    let health_check = crate::apply::container_spec::health_config(t);
    let condition = match t.restart {
        RestartPolicy::Always | RestartPolicy::UnlessStopped => {
            TaskSpecRestartPolicyConditionEnum::ANY
        }
        RestartPolicy::OnFailure => TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
        RestartPolicy::No => TaskSpecRestartPolicyConditionEnum::NONE,
    };
    let publish_mode = match desired.publish_mode {
        PublishMode::Host => EndpointPortConfigPublishModeEnum::HOST,
        PublishMode::Ingress => EndpointPortConfigPublishModeEnum::INGRESS,
    };
    let (update_order, rollback_order) = match t.strategy {
        Strategy::StopFirst => (
            ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
            ServiceSpecRollbackConfigOrderEnum::STOP_FIRST,
        ),
        Strategy::StartFirst => (
            ServiceSpecUpdateConfigOrderEnum::START_FIRST,
            ServiceSpecRollbackConfigOrderEnum::START_FIRST,
        ),
    };
    // Swarm watches a new task this long before it calls the update done;
    // a task that fails (or turns unhealthy) meanwhile is rolled back.
    let monitor = (desired.rollout.min_ready.as_nanos() as i64).max(5_000_000_000);
    let labels: HashMap<String, String> = t.labels.clone().into_iter().collect();
    // Docker 20.10 returns the health check as `Healthcheck`, which the
    // client does not read back: its digest rides in a service label, so
    // a changed check is still seen (and shown as such).
    let mut service_labels = labels.clone();
    service_labels.insert(HEALTH_LABEL.into(), health_digest(t));
    ServiceSpec {
        name: Some(t.container_name.clone()),
        labels: Some(service_labels),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image.to_string()),
                labels: Some(labels),
                env: Some(t.env_lines()),
                mounts: Some(mounts),
                health_check,
                stop_grace_period: Some(t.stop_timeout_secs * 1_000_000_000),
                // Swarm writes /etc/hosts lines as "IP host".
                hosts: (!t.extra_hosts.is_empty()).then(|| {
                    t.extra_hosts
                        .iter()
                        .filter_map(|line| line.split_once(':'))
                        .map(|(host, ip)| format!("{ip} {host}"))
                        .collect()
                }),
                read_only: h.read_only.then_some(true),
                capability_add: (!h.cap_add.is_empty()).then(|| h.cap_add.clone()),
                capability_drop: (!h.cap_drop.is_empty()).then(|| h.cap_drop.clone()),
                ..Default::default()
            }),
            resources: Some(TaskSpecResources {
                limits: Some(Limit {
                    nano_cpus: nonzero(t.resources.nano_cpus),
                    memory_bytes: nonzero(t.resources.memory),
                    pids: nonzero(h.pids_limit),
                }),
                reservations: Some(ResourceObject {
                    nano_cpus: nonzero(t.resources.nano_cpus_reservation),
                    memory_bytes: nonzero(t.resources.memory_reservation),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(condition),
                delay: Some(5_000_000_000),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(vec![constraint(node)]),
                ..Default::default()
            }),
            networks: Some(
                network_ids
                    .iter()
                    .map(|id| NetworkAttachmentConfig {
                        target: Some(id.clone()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            log_driver: h.log_options().map(|opts| TaskSpecLogDriver {
                name: Some("json-file".into()),
                options: Some(opts.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
            }),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(1),
            failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
            monitor: Some(monitor),
            max_failure_ratio: Some(0.0),
            order: Some(update_order),
            ..Default::default()
        }),
        rollback_config: Some(ServiceSpecRollbackConfig {
            parallelism: Some(1),
            failure_action: Some(ServiceSpecRollbackConfigFailureActionEnum::PAUSE),
            monitor: Some(monitor),
            max_failure_ratio: Some(0.0),
            order: Some(rollback_order),
            ..Default::default()
        }),
        endpoint_spec: Some(EndpointSpec {
            ports: Some(vec![EndpointPortConfig {
                protocol: Some(EndpointPortConfigProtocolEnum::TCP),
                target_port: Some(i64::from(t.container_port)),
                published_port: Some(i64::from(t.port)),
                publish_mode: Some(publish_mode),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}
