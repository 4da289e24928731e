//! Which tenants a rollout updates, and in what order. Pure.

use crate::desired::DesiredState;
use crate::plan::{FieldChange, Plan, Step, TenantPlan};

/// Whether the tenant's plan recreates its container: such a change goes
/// through a rollout. Creates, in-place updates and recoveries do not.
pub fn is_member(plan: &TenantPlan) -> bool {
    plan.actionable()
        .iter()
        .any(|s| matches!(s, Step::Recreate { .. }))
}

/// What of a member's change can be made now, in place (its limits and
/// restart policy, as a `Step::Update`), so that it does not wait for the
/// rollout to reach the tenant — or for ever, when the rollout halts.
pub fn in_place_part(plan: &TenantPlan) -> Option<TenantPlan> {
    let changes: Vec<FieldChange> = plan
        .actionable()
        .iter()
        .filter_map(|s| match s {
            Step::Recreate { in_place, .. } => Some(in_place),
            _ => None,
        })
        .flatten()
        .cloned()
        .collect();
    (!changes.is_empty()).then(|| TenantPlan {
        steps: vec![Step::Update { changes }],
        ..plan.clone()
    })
}

/// The tenants of `plan` a rollout must update.
pub fn members(plan: &Plan) -> Vec<String> {
    plan.tenants
        .iter()
        .filter(|t| is_member(t))
        .map(|t| t.tenant.clone())
        .collect()
}

/// `members` in update order: one group after the other as
/// `[rollout] groups` lists them, tenants without a group last, each group
/// cut into batches of at most `max_unavailable` (a batch never mixes two
/// groups: the canaries are proven before anyone else is touched).
pub fn batches(desired: &DesiredState, members: &[String]) -> Vec<Vec<String>> {
    let groups = &desired.rollout.groups;
    let rank = |name: &String| {
        desired
            .tenants
            .get(name)
            .and_then(|t| t.rollout_group.as_ref())
            .and_then(|g| groups.iter().position(|x| x == g))
            .unwrap_or(groups.len())
    };
    let mut sorted: Vec<&String> = members.iter().collect();
    sorted.sort_by(|a, b| (rank(a), *a).cmp(&(rank(b), *b)));
    sorted.dedup();
    let size = desired.rollout.max_unavailable.max(1);
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut last_rank = None;
    for name in sorted {
        let r = rank(name);
        match out.last_mut() {
            Some(batch) if last_rank == Some(r) && batch.len() < size => batch.push(name.clone()),
            _ => out.push(vec![name.clone()]),
        }
        last_rank = Some(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::DesiredTenant;

    fn fleet(groups: &[&str], max: usize, tenants: &[(&str, Option<&str>)]) -> DesiredState {
        let mut d = crate::fixtures::desired_state(vec![]);
        d.rollout.groups = groups.iter().map(|g| g.to_string()).collect();
        d.rollout.max_unavailable = max;
        for (i, (name, group)) in tenants.iter().enumerate() {
            let mut t = DesiredTenant::test(name, 8000 + i as u16);
            t.rollout_group = group.map(str::to_string);
            d.tenants.insert(name.to_string(), std::sync::Arc::new(t));
        }
        d
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn canaries_go_first_each_group_on_its_own_then_the_rest_in_batches() {
        let d = fleet(
            &["canary", "early"],
            2,
            &[
                ("a", None),
                ("b", Some("early")),
                ("c", None),
                ("d", Some("canary")),
                ("e", None),
                ("f", Some("early")),
                ("g", Some("early")),
            ],
        );
        let all = names(&["a", "b", "c", "d", "e", "f", "g"]);
        assert_eq!(
            batches(&d, &all),
            vec![
                names(&["d"]),
                names(&["b", "f"]),
                names(&["g"]),
                names(&["a", "c"]),
                names(&["e"]),
            ]
        );
    }

    #[test]
    fn only_what_docker_updates_in_place_is_taken_ahead_of_the_rollout() {
        let change = |field: &str| FieldChange {
            field: field.into(),
            from: "a".into(),
            to: "b".into(),
        };
        let plan = TenantPlan {
            tenant: "a".into(),
            container: "mai-a".into(),
            paused: false,
            steps: vec![Step::Recreate {
                changes: vec![change("image"), change("resources.cpus")],
                in_place: vec![change("resources.cpus")],
            }],
            conflicts: vec![],
            image_present: true,
        };
        let now = in_place_part(&plan).expect("a limit changed");
        assert_eq!(
            now.steps,
            vec![Step::Update {
                changes: vec![change("resources.cpus")]
            }]
        );
        let image_only = TenantPlan {
            steps: vec![Step::Recreate {
                changes: vec![change("image")],
                in_place: vec![],
            }],
            ..plan
        };
        assert!(in_place_part(&image_only).is_none());
    }

    #[test]
    fn without_groups_tenants_go_one_at_a_time_by_name() {
        let d = fleet(&[], 1, &[("b", None), ("a", None)]);
        assert_eq!(
            batches(&d, &names(&["b", "a"])),
            vec![names(&["a"]), names(&["b"])]
        );
    }
}
