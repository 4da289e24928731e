//! Plan tests for ownership on a shared host (fleets, containers from
//! before the fleet label, removed secrets) and for the leftovers a crash
//! or a `docker rename` leaves (issue 10).

use super::tests::{one_tenant, steps_of};
use super::*;
use crate::kinds::ContainerState;

fn legacy(c: &mut ObservedContainer) {
    c.labels.remove(crate::labels::FLEET_LABEL);
    c.labels.remove(crate::labels::SECRET_ENV_LABEL);
}

#[test]
fn a_container_from_before_fleets_is_not_recreated_for_the_new_labels() {
    let (desired, mut observed) = one_tenant();
    for c in observed.containers.values_mut() {
        legacy(c);
    }
    let plan = plan(&desired, &observed, true);
    assert!(plan.is_empty(), "{plan}");
}

#[test]
fn a_legacy_container_whose_tenant_left_is_never_pruned() {
    let (desired, mut observed) = one_tenant();
    let mut gone = DesiredTenant::test("gone", 8003).matching_container();
    legacy(&mut gone);
    observed.containers.insert(gone.name.clone(), gone);
    assert!(plan(&desired, &observed, true).orphans.is_empty());
}

#[test]
fn a_container_of_another_fleet_with_the_tenants_name_is_a_conflict() {
    let (desired, mut observed) = one_tenant();
    let c = observed.containers.get_mut("mai-acme").unwrap();
    c.labels
        .insert(crate::labels::FLEET_LABEL.into(), "staging".into());
    let plan = plan(&desired, &observed, false);
    let acme = &plan.tenants[0];
    assert!(acme.steps.is_empty());
    assert!(
        acme.conflicts[0].message.contains("fleet `staging`"),
        "{plan}"
    );
}

#[test]
fn a_removed_secret_keeps_being_masked() {
    let (desired, mut observed) = one_tenant();
    let c = observed.containers.get_mut("mai-acme").unwrap();
    c.labels
        .insert(crate::labels::SECRET_ENV_LABEL.into(), "API_KEY".into());
    c.details
        .as_mut()
        .unwrap()
        .env
        .insert("API_KEY".into(), "hunter2".into());
    // A container older than the label: in doubt, masked too.
    let g = observed.containers.get_mut("mai-globex").unwrap();
    legacy(g);
    g.details
        .as_mut()
        .unwrap()
        .env
        .insert("OLD_TOKEN".into(), "s3cret".into());
    let plan = plan(&desired, &observed, false);
    let text = format!("{plan}{}", serde_json::to_string(&plan).unwrap());
    assert!(
        !text.contains("hunter2") && !text.contains("s3cret"),
        "{text}"
    );
    assert!(
        text.contains("env.API_KEY: (sensitive) -> (none)"),
        "{text}"
    );
    assert!(
        text.contains("env.OLD_TOKEN: (sensitive) -> (none)"),
        "{text}"
    );
}

#[test]
fn a_paused_container_is_unpaused() {
    let (desired, mut observed) = one_tenant();
    observed.containers.get_mut("mai-acme").unwrap().state = ContainerState::Paused;
    assert_eq!(
        steps_of(&plan(&desired, &observed, false), "acme"),
        vec![Step::Unpause]
    );
}

#[test]
fn an_image_docker_cannot_read_blocks_only_its_tenant() {
    let (desired, mut observed) = one_tenant();
    observed
        .image_errors
        .insert("globex-pinned:1".into(), "invalid reference format".into());
    let plan = plan(&desired, &observed, false);
    assert!(plan.tenants[0].in_sync());
    assert_eq!(plan.tenants[1].conflicts[0].resource, ConflictKind::Image);
}

#[test]
fn leftovers_of_a_replacement_are_finished_or_undone() {
    let (desired, observed) = one_tenant();
    let acme = &desired.tenants["acme"];
    let with = |names: &[(&str, &str)], keep_current: bool| {
        let mut o = observed.clone();
        let base = o.containers.remove("mai-acme").unwrap();
        if keep_current {
            o.containers.insert("mai-acme".into(), base.clone());
        }
        for (name, state) in names {
            let mut c = base.clone();
            c.name = name.to_string();
            c.state = ContainerState::parse(state);
            o.containers.insert(c.name.clone(), c);
        }
        steps_of(&plan(&desired, &o, false), "acme")
    };
    let recover = |rename: Option<&str>, remove: &[&str]| {
        vec![Step::Recover {
            rename: rename.map(str::to_string),
            remove: remove.iter().map(|s| s.to_string()).collect(),
        }]
    };
    // Crash after the new one was created: it is dropped.
    assert_eq!(
        with(&[("mai-acme--new", "created")], true),
        recover(None, &["mai-acme--new"])
    );
    // Crash after the old one was set aside, before the new one ran: undo.
    assert_eq!(
        with(
            &[("mai-acme--new", "created"), ("mai-acme--old", "exited")],
            false
        ),
        recover(Some("mai-acme--old"), &["mai-acme--new"])
    );
    // Crash after the new one ran: finish.
    assert_eq!(
        with(
            &[("mai-acme--new", "running"), ("mai-acme--old", "exited")],
            false
        ),
        recover(Some("mai-acme--new"), &["mai-acme--old"])
    );
    // `docker rename mai-acme other`: it gets its name back.
    assert_eq!(
        with(&[("other", "running")], false),
        recover(Some("other"), &[])
    );
    assert_eq!(acme.container_name, "mai-acme");
}
