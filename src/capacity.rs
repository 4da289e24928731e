//! What the host can hold, and what the fleet left on it: warnings for
//! humans and a metric, never errors (a host may be meant to overcommit,
//! and leftover data is kept on purpose). Pure.

use crate::desired::DesiredState;
use crate::labels::Owner;
use crate::observe::ObservedState;
use std::collections::BTreeMap;

/// A warning when the tenants' memory reservations add up to more than the
/// Docker host has (`docker info`'s MemTotal): under memory pressure the
/// kernel cannot give every tenant what it was promised. CPU has no
/// reservation outside Swarm (`cpus` is a limit, overcommitted by design).
pub fn memory_warning(desired: &DesiredState, host_memory: i64) -> Option<String> {
    let reserved: i64 = desired
        .tenants
        .values()
        .filter(|t| !t.paused)
        .map(|t| t.resources.memory_reservation)
        .sum();
    (host_memory > 0 && reserved > host_memory).then(|| {
        format!(
            "the tenants' memory reservations add up to {} but the Docker host has {}: under pressure not every tenant gets what it reserves",
            crate::quantity::format_memory(reserved),
            crate::quantity::format_memory(host_memory)
        )
    })
}

/// Volumes of this fleet whose tenant is no longer in the file, by tenant:
/// kept (reconcile never deletes data) until `tenantctl purge` takes a
/// final backup and removes them. Only volumes stamped with this fleet
/// count: a legacy one could be another file's.
pub fn leftover_volumes(
    desired: &DesiredState,
    observed: &ObservedState,
) -> BTreeMap<String, Vec<String>> {
    let mut left: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, labels) in &observed.volumes {
        if let Owner::Fleet { tenant } = labels.owner(&desired.fleet) {
            if labels.stamped(&desired.fleet) && !desired.tenants.contains_key(tenant) {
                left.entry(tenant.to_string())
                    .or_default()
                    .push(name.clone());
            }
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::DesiredTenant;

    #[test]
    fn reservations_beyond_the_host_warn_and_paused_tenants_do_not_count() {
        let mut a = DesiredTenant::test("a", 8001);
        a.resources.memory_reservation = 3 << 30;
        let mut b = DesiredTenant::test("b", 8002);
        b.resources.memory_reservation = 3 << 30;
        let d = crate::fixtures::desired_state(vec![a, b.clone()]);
        assert!(memory_warning(&d, 8 << 30).is_none());
        let warning = memory_warning(&d, 4 << 30).unwrap();
        assert!(
            warning.contains("6G") && warning.contains("4G"),
            "{warning}"
        );
        b.paused = true;
        let d = crate::fixtures::desired_state(vec![DesiredTenant::clone(&d.tenants["a"]), b]);
        assert!(memory_warning(&d, 4 << 30).is_none());
    }

    #[test]
    fn only_stamped_volumes_of_departed_tenants_are_leftovers() {
        let d = crate::fixtures::desired_state(vec![DesiredTenant::test("a", 8001)]);
        let mut o = crate::fixtures::converged(&d);
        let label = |tenant: &str, fleet: Option<&str>| {
            let mut l = BTreeMap::from([("tenantctl.tenant".to_string(), tenant.to_string())]);
            if let Some(f) = fleet {
                l.insert("tenantctl.fleet".into(), f.into());
            }
            crate::labels::OwnerLabels::of(&l)
        };
        o.volumes
            .insert("mai-gone-data".into(), label("gone", Some("mai")));
        o.volumes.insert("legacy-data".into(), label("old", None));
        o.volumes
            .insert("other-data".into(), label("x", Some("other")));
        let left = leftover_volumes(&d, &o);
        assert_eq!(
            left,
            BTreeMap::from([("gone".to_string(), vec!["mai-gone-data".to_string()])])
        );
    }
}
