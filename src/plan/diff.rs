//! Field-by-field comparison of one desired tenant with its container.
//! Split in two: changes that need a recreate, and changes Docker applies
//! in place (`docker update`: limits and restart policy).

use super::FieldChange;
use crate::desired::{DesiredMount, DesiredTenant, MountSource, Resources};
use crate::labels::{BOOKKEEPING_LABELS, SECRET_ENV_LABEL, SPEC_HASH_LABEL};
use crate::observe::{render_port_numbers, ObservedContainer, ObservedState};
use crate::quantity::{format_cpus, format_memory};
use std::collections::BTreeSet;

const NONE: &str = "(none)";

/// Whether `c`, its inspect details read, plans any change at all: the
/// controller's verify pass keeps a container's details only then
/// (`observe_keeping`). Exact by construction: without details
/// [`container_changes`] stops before the comparisons that read them, so
/// a container that plans no change with them plans none without them.
pub fn details_matter(
    tenant: &DesiredTenant,
    c: &ObservedContainer,
    observed: &ObservedState,
) -> bool {
    let (recreate, update) = container_changes(tenant, c, observed);
    !recreate.is_empty() || !update.is_empty()
}

/// `(recreate, in_place)` changes. Without inspect details only the spec
/// hash, image and state can be compared; that is the cheap resync path.
pub fn container_changes(
    tenant: &DesiredTenant,
    c: &ObservedContainer,
    observed: &ObservedState,
) -> (Vec<FieldChange>, Vec<FieldChange>) {
    let mut recreate = Vec::new();
    let mut update = Vec::new();
    let push = |list: &mut Vec<FieldChange>, field: &str, from: String, to: String| {
        list.push(FieldChange {
            field: field.to_string(),
            from,
            to,
        });
    };

    let wanted_image = observed.images.get(&tenant.image).cloned().flatten();
    match &wanted_image {
        Some(image) if image.id != c.image_id => push(
            &mut recreate,
            "image",
            short_id(&c.image_id),
            format!("{} ({})", tenant.image, short_id(&image.id)),
        ),
        Some(_) => {}
        None => push(
            &mut recreate,
            "image",
            short_id(&c.image_id),
            format!("{} (not on this host: will be pulled)", tenant.image),
        ),
    }
    for (key, value) in &tenant.labels {
        let current = c.labels.get(key);
        // A container from before a bookkeeping label existed is not
        // recreated for it (upgrading tenantctl changes nothing).
        if current.is_none() && BOOKKEEPING_LABELS.contains(&key.as_str()) {
            continue;
        }
        if current != Some(value) {
            let shown =
                |v: Option<&String>| v.map(|v| format!("{v:?}")).unwrap_or_else(|| NONE.into());
            let (from, to) = if key == SPEC_HASH_LABEL {
                (
                    current.map(|h| short_id(h)).unwrap_or_else(|| NONE.into()),
                    short_id(value),
                )
            } else {
                (shown(current), shown(Some(value)))
            };
            push(&mut recreate, &format!("labels.{key}"), from, to);
        }
    }

    let Some(d) = &c.details else {
        return (recreate, update);
    };
    // Both maps are sorted; only when they differ is the union walked.
    let env_equal = tenant.env.len() == d.env.len()
        && tenant
            .env
            .iter()
            .zip(&d.env)
            .all(|((k1, e), (k2, v))| k1 == k2 && &e.value == v);
    let env_keys: BTreeSet<&String> = if env_equal {
        BTreeSet::new()
    } else {
        tenant.env.keys().chain(d.env.keys()).collect()
    };
    for key in env_keys {
        let want = tenant.env.get(key);
        let have = d.env.get(key);
        if want.map(|e| &e.value) == have {
            continue;
        }
        // A removed key is as secret as it was when the container was made;
        // a container that does not say (older than the label) is in doubt.
        let sensitive = match want {
            Some(e) => e.sensitive,
            None => was_secret(c, key),
        };
        let show = |v: Option<&String>| match v {
            None => NONE.to_string(),
            Some(_) if sensitive => "(sensitive)".to_string(),
            Some(v) => format!("{v:?}"),
        };
        push(
            &mut recreate,
            &format!("env.{key}"),
            show(have),
            show(want.map(|e| &e.value)),
        );
    }
    let want_ports = BTreeSet::from([render_port_numbers(
        &tenant.host_ip,
        tenant.port,
        tenant.container_port,
    )]);
    set_change(&mut recreate, "ports", &d.ports, &want_ports);
    let mounts_equal = d.mounts.len() == tenant.mounts.len()
        && tenant
            .mounts
            .iter()
            .all(|m| d.mounts.iter().any(|have| mount_matches(have, m)));
    if !mounts_equal {
        let want_mounts: BTreeSet<String> = tenant.mounts.iter().map(|m| m.to_string()).collect();
        set_change(&mut recreate, "mounts", &d.mounts, &want_mounts);
    }
    // Membership only: other networks a human attached are left alone,
    // but ours must be there.
    if !d.networks.contains(&tenant.network) {
        let have = d.networks.iter().cloned().collect::<Vec<_>>().join(", ");
        push(
            &mut recreate,
            "network",
            if have.is_empty() { NONE.into() } else { have },
            tenant.network.clone(),
        );
    }
    for extra in &tenant.extra_networks {
        if !d.networks.contains(extra) {
            let have = d.networks.iter().cloned().collect::<Vec<_>>().join(", ");
            push(
                &mut recreate,
                "networks",
                if have.is_empty() { NONE.into() } else { have },
                format!("joins {extra}"),
            );
        }
    }
    if d.extra_hosts.len() != tenant.extra_hosts.len()
        || !tenant.extra_hosts.iter().all(|h| d.extra_hosts.contains(h))
    {
        let want: BTreeSet<String> = tenant.extra_hosts.iter().cloned().collect();
        set_change(&mut recreate, "extra_hosts", &d.extra_hosts, &want);
    }
    let health_equal = d.health.as_ref().is_some_and(|h| {
        h.command == tenant.health.command
            && h.interval_ns == tenant.health.interval_ns
            && h.timeout_ns == tenant.health.timeout_ns
            && h.retries == tenant.health.retries
            && h.start_period_ns == tenant.health.start_period_ns
    });
    if !tenant.health.command.is_empty() && !health_equal {
        let want = (
            tenant.health.command.clone(),
            tenant.health.interval_ns,
            tenant.health.timeout_ns,
            tenant.health.retries,
            tenant.health.start_period_ns,
        );
        let have = d.health.as_ref().map(|h| {
            (
                h.command.clone(),
                h.interval_ns,
                h.timeout_ns,
                h.retries,
                h.start_period_ns,
            )
        });
        if have.as_ref() != Some(&want) {
            let show = |h: Option<&(Vec<String>, i64, i64, i64, i64)>| match h {
                None => NONE.to_string(),
                Some((cmd, interval, timeout, retries, _)) => format!(
                    "{:?} every {}s, timeout {}s, {} retries",
                    cmd.join(" "),
                    interval / 1_000_000_000,
                    timeout / 1_000_000_000,
                    retries
                ),
            };
            push(
                &mut recreate,
                "health",
                show(have.as_ref()),
                show(Some(&want)),
            );
        }
    }
    let hardening = tenant.hardening.comparable(&d.hardening);
    if hardening != tenant.hardening {
        push(
            &mut recreate,
            "hardening",
            hardening.to_string(),
            tenant.hardening.to_string(),
        );
    }
    if d.restart != tenant.restart {
        push(
            &mut update,
            "restart",
            d.restart.to_string(),
            tenant.restart.to_string(),
        );
    }
    resource_changes(&mut recreate, &mut update, &d.resources, &tenant.resources);
    (recreate, update)
}

/// Whether `key` was secret when container `c` was created, by its
/// `tenantctl.secret-env` label (key names only); `true` without the label.
fn was_secret(c: &ObservedContainer, key: &str) -> bool {
    match c.labels.get(SECRET_ENV_LABEL) {
        None => true,
        Some(keys) => keys.split(',').any(|k| k == key),
    }
}

/// Whether an observed `volume NAME -> /target` (or `bind PATH -> /target`)
/// is the desired mount; compared in place, without formatting one.
fn mount_matches(have: &str, want: &DesiredMount) -> bool {
    let (kind, source) = match &want.source {
        MountSource::Volume(name) | MountSource::Named(name) => ("volume ", name.as_str()),
        MountSource::Bind(path) => ("bind ", path.as_str()),
    };
    have.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(source))
        .and_then(|rest| rest.strip_prefix(" -> "))
        == Some(want.target.as_str())
}

/// Name, observed, desired, and how to show a value.
type ResourceField = (&'static str, i64, i64, fn(i64) -> String);

/// Docker's update API treats 0 as "leave unchanged", so going back to
/// unlimited (0) can only be done by recreating the container.
fn resource_changes(
    recreate: &mut Vec<FieldChange>,
    update: &mut Vec<FieldChange>,
    have: &Resources,
    want: &Resources,
) {
    let fields: [ResourceField; 3] = [
        (
            "resources.cpus",
            have.nano_cpus,
            want.nano_cpus,
            format_cpus,
        ),
        ("resources.memory", have.memory, want.memory, format_memory),
        (
            "resources.memory_reservation",
            have.memory_reservation,
            want.memory_reservation,
            format_memory,
        ),
    ];
    for (field, have, want, format) in fields {
        if have == want {
            continue;
        }
        let show = |v: i64| {
            if v == 0 {
                "unlimited".to_string()
            } else {
                format(v)
            }
        };
        let change = FieldChange {
            field: field.into(),
            from: show(have),
            to: show(want),
        };
        if want == 0 {
            recreate.push(change);
        } else {
            update.push(change);
        }
    }
}

fn set_change(
    list: &mut Vec<FieldChange>,
    field: &str,
    have: &BTreeSet<String>,
    want: &BTreeSet<String>,
) {
    if have != want {
        let show = |s: &BTreeSet<String>| {
            if s.is_empty() {
                NONE.to_string()
            } else {
                s.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        };
        list.push(FieldChange {
            field: field.into(),
            from: show(have),
            to: show(want),
        });
    }
}

/// `sha256:0123456789ab…` → `0123456789ab`.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    if id.is_empty() {
        NONE.to_string()
    } else {
        id.chars().take(12).collect()
    }
}
