//! A service spec as the fields tenantctl sets, typed and sorted, so the
//! desired and the observed spec compare field by field (Swarm fills in
//! defaults of its own, and stores what it was given in another order).
//! A change names its field and shows both values, except a secret's.

use bollard::models::ServiceSpec;
use std::collections::BTreeMap;

/// Its `Debug` shows env keys only (values may be secrets).
#[derive(Clone, PartialEq, Default)]
pub struct Fields {
    pub image: String,
    pub env: BTreeMap<String, String>,
    /// The service's labels (extra ones set by hand are not compared).
    pub labels: BTreeMap<String, String>,
    pub replicas: i64,
    pub constraints: Vec<String>,
    pub cpus_limit: i64,
    pub memory_limit: i64,
    pub pids_limit: i64,
    pub cpus_reservation: i64,
    pub memory_reservation: i64,
    /// (published, target, mode)
    pub ports: Vec<(i64, i64, String)>,
    /// Network ids.
    pub networks: Vec<String>,
    /// (type, source, target)
    pub mounts: Vec<(String, String, String)>,
    pub restart: String,
    pub stop_grace: i64,
    pub hosts: Vec<String>,
    pub update: String,
    pub read_only: bool,
    pub capabilities: Vec<String>,
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fields")
            .field("image", &self.image)
            .field("env_keys", &self.env.keys().collect::<Vec<_>>())
            .field("constraints", &self.constraints)
            .field("replicas", &self.replicas)
            .finish_non_exhaustive()
    }
}

fn dbg_word<T: std::fmt::Debug>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|v| format!("{v:?}").to_lowercase())
        .unwrap_or_default()
}

impl Fields {
    pub fn of(spec: &ServiceSpec) -> Fields {
        let task = spec.task_template.clone().unwrap_or_default();
        let c = task.container_spec.clone().unwrap_or_default();
        let res = task.resources.clone().unwrap_or_default();
        let limits = res.limits.unwrap_or_default();
        let reservations = res.reservations.unwrap_or_default();
        let mut constraints = task
            .placement
            .and_then(|p| p.constraints)
            .unwrap_or_default();
        constraints.sort();
        let mut ports: Vec<(i64, i64, String)> = spec
            .endpoint_spec
            .as_ref()
            .and_then(|e| e.ports.clone())
            .unwrap_or_default()
            .iter()
            .map(|p| {
                (
                    p.published_port.unwrap_or(0),
                    p.target_port.unwrap_or(0),
                    dbg_word(&p.publish_mode),
                )
            })
            .collect();
        ports.sort();
        let mut networks: Vec<String> = task
            .networks
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| n.target)
            .collect();
        networks.sort();
        let mut mounts: Vec<(String, String, String)> = c
            .mounts
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|m| {
                (
                    dbg_word(&m.typ),
                    m.source.clone().unwrap_or_default(),
                    m.target.clone().unwrap_or_default(),
                )
            })
            .collect();
        mounts.sort();
        let update = spec
            .update_config
            .as_ref()
            .map(|u| {
                format!(
                    "{} on failure {}",
                    dbg_word(&u.order),
                    dbg_word(&u.failure_action)
                )
            })
            .unwrap_or_default();
        let mut capabilities: Vec<String> = c
            .capability_add
            .iter()
            .flatten()
            .map(|x| format!("+{x}"))
            .chain(c.capability_drop.iter().flatten().map(|x| format!("-{x}")))
            .collect();
        capabilities.sort();
        let mut hosts = c.hosts.clone().unwrap_or_default();
        hosts.sort();
        Fields {
            image: c.image.clone().unwrap_or_default(),
            env: c
                .env
                .iter()
                .flatten()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            labels: spec
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            replicas: spec
                .mode
                .as_ref()
                .and_then(|m| m.replicated.as_ref())
                .and_then(|r| r.replicas)
                .unwrap_or(0),
            constraints,
            cpus_limit: limits.nano_cpus.unwrap_or(0),
            memory_limit: limits.memory_bytes.unwrap_or(0),
            pids_limit: limits.pids.unwrap_or(0),
            cpus_reservation: reservations.nano_cpus.unwrap_or(0),
            memory_reservation: reservations.memory_bytes.unwrap_or(0),
            ports,
            networks,
            mounts,
            restart: task
                .restart_policy
                .as_ref()
                .map(|r| dbg_word(&r.condition))
                .unwrap_or_default(),
            stop_grace: c.stop_grace_period.unwrap_or(0),
            hosts,
            update,
            read_only: c.read_only.unwrap_or(false),
            capabilities,
        }
    }
}

/// One field that differs: `have` → `want`, as shown to a human.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub field: String,
    pub have: String,
    pub want: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} -> {}", self.field, self.have, self.want)
    }
}

/// The fields of `have` that differ from `want`, replicas aside (a
/// scaled service is its own drift). `secret`: env keys whose values are
/// never shown.
pub fn diff(have: &Fields, want: &Fields, secret: &dyn Fn(&str) -> bool) -> Vec<Change> {
    let mut out = Vec::new();
    let mut push = |field: &str, have: String, want: String| {
        if have != want {
            out.push(Change {
                field: field.to_string(),
                have,
                want,
            });
        }
    };
    push("image", have.image.clone(), want.image.clone());
    let keys: std::collections::BTreeSet<&String> =
        have.env.keys().chain(want.env.keys()).collect();
    for k in keys {
        let show = |v: Option<&String>| match v {
            None => "(unset)".to_string(),
            Some(_) if secret(k) => "(sensitive)".to_string(),
            Some(v) => format!("{v:?}"),
        };
        let (h, w) = (have.env.get(k), want.env.get(k));
        if h != w {
            let (hs, ws) = (show(h), show(w));
            // Both secret and both set: say it changed without showing it.
            let (hs, ws) = if hs == ws {
                (
                    "(sensitive)".to_string(),
                    "(sensitive, changed)".to_string(),
                )
            } else {
                (hs, ws)
            };
            push(&format!("env.{k}"), hs, ws);
        }
    }
    for (k, v) in &want.labels {
        let field = if k == super::spec::HEALTH_LABEL {
            "health (digest)".to_string()
        } else {
            format!("label {k}")
        };
        push(
            &field,
            have.labels
                .get(k)
                .cloned()
                .unwrap_or_else(|| "(unset)".into()),
            v.clone(),
        );
    }
    let list = |v: &[String]| v.join(",");
    push(
        "placement",
        list(&have.constraints),
        list(&want.constraints),
    );
    push(
        "resources.cpus",
        have.cpus_limit.to_string(),
        want.cpus_limit.to_string(),
    );
    push(
        "resources.memory",
        have.memory_limit.to_string(),
        want.memory_limit.to_string(),
    );
    push(
        "resources.pids",
        have.pids_limit.to_string(),
        want.pids_limit.to_string(),
    );
    push(
        "reservations.cpus",
        have.cpus_reservation.to_string(),
        want.cpus_reservation.to_string(),
    );
    push(
        "reservations.memory",
        have.memory_reservation.to_string(),
        want.memory_reservation.to_string(),
    );
    let ports = |v: &[(i64, i64, String)]| {
        v.iter()
            .map(|(p, t, m)| format!("{p}:{t}/{m}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    push("ports", ports(&have.ports), ports(&want.ports));
    push("networks", list(&have.networks), list(&want.networks));
    let mounts = |v: &[(String, String, String)]| {
        v.iter()
            .map(|(t, s, d)| format!("{t} {s}->{d}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    push("mounts", mounts(&have.mounts), mounts(&want.mounts));
    push("restart", have.restart.clone(), want.restart.clone());
    push(
        "stop_grace",
        have.stop_grace.to_string(),
        want.stop_grace.to_string(),
    );
    push("hosts", list(&have.hosts), list(&want.hosts));
    push("update", have.update.clone(), want.update.clone());
    push(
        "read_only",
        have.read_only.to_string(),
        want.read_only.to_string(),
    );
    push(
        "capabilities",
        list(&have.capabilities),
        list(&want.capabilities),
    );
    out
}
