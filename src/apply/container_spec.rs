//! The Docker create and update bodies for a desired tenant. Pure, so the
//! exact request can be checked in unit tests.

use crate::desired::{DesiredTenant, MountSource, Resources};
use bollard::models::{
    ContainerCreateBody, ContainerUpdateBody, HealthConfig, HostConfig, HostConfigLogConfig, Mount,
    MountType, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use std::collections::HashMap;

pub fn restart_policy(policy: crate::kinds::RestartPolicy) -> RestartPolicy {
    use crate::kinds::RestartPolicy as P;
    let name = match policy {
        P::Always => RestartPolicyNameEnum::ALWAYS,
        P::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
        P::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
        P::No => RestartPolicyNameEnum::NO,
    };
    RestartPolicy {
        name: Some(name),
        maximum_retry_count: None,
    }
}

/// Swap is pinned to the memory limit (no swap): a tenant that outgrows its
/// limit is OOM-killed and restarted, instead of slowing the whole host.
fn memory_swap(resources: &Resources) -> Option<i64> {
    (resources.memory > 0).then_some(resources.memory)
}

fn nonzero(value: i64) -> Option<i64> {
    (value > 0).then_some(value)
}

/// Docker's mount for one of the tenant's (a container's or a Swarm task's).
pub fn mount(m: &crate::desired::DesiredMount) -> Mount {
    let (typ, source) = match &m.source {
        MountSource::Volume(name) | MountSource::Named(name) => (MountType::VOLUME, name),
        MountSource::Bind(path) => (MountType::BIND, path),
    };
    Mount {
        typ: Some(typ),
        source: Some(source.clone()),
        target: Some(m.target.clone()),
        ..Default::default()
    }
}

/// Docker's health check for the tenant (a container's or a Swarm
/// task's); `None` keeps the image's own.
pub fn health_config(t: &DesiredTenant) -> Option<HealthConfig> {
    (!t.health.command.is_empty()).then(|| HealthConfig {
        test: Some(
            std::iter::once("CMD".to_string())
                .chain(t.health.command.iter().cloned())
                .collect(),
        ),
        interval: nonzero(t.health.interval_ns),
        timeout: nonzero(t.health.timeout_ns),
        retries: Some(t.health.retries),
        start_period: nonzero(t.health.start_period_ns),
        ..Default::default()
    })
}

pub fn create_body(t: &DesiredTenant) -> ContainerCreateBody {
    let container_port = format!("{}/tcp", t.container_port);
    let h = &t.hardening;
    let port_bindings = HashMap::from([(
        container_port.clone(),
        Some(vec![PortBinding {
            host_ip: Some(t.host_ip.clone()),
            host_port: Some(t.port.to_string()),
        }]),
    )]);
    let mounts = t.mounts.iter().map(mount).collect();
    let healthcheck = health_config(t);
    ContainerCreateBody {
        // A rollout's pinned id, so a tag moved meanwhile changes nothing.
        image: Some(t.image_pin.clone().unwrap_or_else(|| t.image.clone())),
        env: Some(t.env_lines()),
        labels: Some(t.labels.clone().into_iter().collect()),
        exposed_ports: Some(vec![container_port]),
        healthcheck,
        stop_timeout: Some(t.stop_timeout_secs),
        host_config: Some(HostConfig {
            port_bindings: Some(port_bindings),
            mounts: Some(mounts),
            restart_policy: Some(restart_policy(t.restart)),
            memory: nonzero(t.resources.memory),
            memory_swap: memory_swap(&t.resources),
            memory_reservation: nonzero(t.resources.memory_reservation),
            nano_cpus: nonzero(t.resources.nano_cpus),
            network_mode: Some(t.network.clone()),
            extra_hosts: (!t.extra_hosts.is_empty()).then(|| t.extra_hosts.clone()),
            security_opt: h
                .no_new_privileges
                .then(|| vec!["no-new-privileges:true".to_string()]),
            cap_drop: (!h.cap_drop.is_empty()).then(|| h.cap_drop.clone()),
            cap_add: (!h.cap_add.is_empty()).then(|| h.cap_add.clone()),
            pids_limit: nonzero(h.pids_limit),
            readonly_rootfs: h.read_only.then_some(true),
            tmpfs: (!h.tmpfs.is_empty())
                .then(|| h.tmpfs.iter().map(|p| (p.clone(), String::new())).collect()),
            log_config: h.log_options().map(|opts| HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some(opts.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn update_body(t: &DesiredTenant) -> ContainerUpdateBody {
    ContainerUpdateBody {
        memory: nonzero(t.resources.memory),
        memory_swap: memory_swap(&t.resources),
        memory_reservation: nonzero(t.resources.memory_reservation),
        nano_cpus: nonzero(t.resources.nano_cpus),
        restart_policy: Some(restart_policy(t.restart)),
        ..Default::default()
    }
}
