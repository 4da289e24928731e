//! Plan tests for taking over containers tenantctl did not create
//! (`--adopt`, issue 12) and for the keys the seed's other deployments
//! need (extra hosts, extra networks, named volumes).

use super::tests::{one_tenant, steps_of};
use super::*;
use crate::labels::OwnerLabels;
use crate::observe::Labels;

/// The seed's compose container for `acme`: our name and mounts, no labels.
fn compose_container(observed: &mut ObservedState) {
    let c = observed.containers.get_mut("mai-acme").unwrap();
    c.labels = BTreeMap::from([(
        "com.docker.compose.project".to_string(),
        "mai-acme".to_string(),
    )]);
    c.details = None;
}

#[test]
fn without_adopt_a_compose_container_is_a_conflict_that_names_the_way_out() {
    let (desired, mut observed) = one_tenant();
    compose_container(&mut observed);
    let plan = plan(&desired, &observed, false);
    let acme = &plan.tenants[0];
    assert!(acme.steps.is_empty(), "{plan}");
    assert!(acme.conflicts[0].message.contains("--adopt"), "{plan}");
}

#[test]
fn with_adopt_the_same_name_and_mounts_is_one_adoption_and_nothing_else() {
    let (desired, mut observed) = one_tenant();
    compose_container(&mut observed);
    let adoption = Adoption {
        keep_old: true,
        deadline_secs: 30,
    };
    let plan = plan_adopting(&desired, &observed, false, Some(adoption));
    let acme = &plan.tenants[0];
    assert!(acme.conflicts.is_empty(), "{plan}");
    match &steps_of(&plan, "acme")[..] {
        [Step::Adopt {
            mounts,
            adoption: a,
            ..
        }] => {
            assert_eq!(mounts, &["volume mai-acme-data -> /app/backend/data"]);
            assert_eq!(*a, adoption);
        }
        other => panic!("{other:?}"),
    }
    assert!(plan.to_string().contains("1 to adopt"), "{plan}");
    assert!(plan.to_string().contains("mai-acme-pre-adopt"), "{plan}");
}

#[test]
fn the_compose_volume_of_an_adopted_container_is_not_a_conflict() {
    let (desired, mut observed) = one_tenant();
    compose_container(&mut observed);
    observed
        .volumes
        .insert("mai-acme-data".into(), OwnerLabels::default());
    let without = plan(&desired, &observed, false);
    assert!(!without.tenants[0].conflicts.is_empty());
    let with = plan_adopting(&desired, &observed, false, Some(Adoption::default()));
    assert!(with.tenants[0].conflicts.is_empty(), "{with}");
}

#[test]
fn other_mounts_are_never_adopted() {
    let (desired, mut observed) = one_tenant();
    compose_container(&mut observed);
    let c = observed.containers.get_mut("mai-acme").unwrap();
    c.mounts = BTreeSet::from(["bind /srv/other -> /app/backend/data".to_string()]);
    let plan = plan_adopting(&desired, &observed, false, Some(Adoption::default()));
    let acme = &plan.tenants[0];
    assert!(acme.steps.is_empty(), "{plan}");
    assert!(
        acme.conflicts[0].message.contains("not adopted")
            && acme.conflicts[0].message.contains("/srv/other"),
        "{plan}"
    );
    // An extra mount the new container would drop is no match either.
    let c = observed.containers.get_mut("mai-acme").unwrap();
    c.mounts = BTreeSet::from([
        "volume mai-acme-data -> /app/backend/data".to_string(),
        "bind /srv/x -> /x".to_string(),
    ]);
    let plan = plan_adopting(&desired, &observed, false, Some(Adoption::default()));
    assert!(plan.tenants[0].steps.is_empty(), "{plan}");
}

#[test]
fn a_container_of_ours_is_never_adopted_again() {
    let (desired, observed) = one_tenant();
    let plan = plan_adopting(&desired, &observed, false, Some(Adoption::default()));
    assert!(plan.is_empty(), "{plan}");
}

#[test]
fn a_named_volume_without_labels_is_used_not_a_conflict() {
    let (mut desired, mut observed) = one_tenant();
    let acme = std::sync::Arc::make_mut(desired.tenants.get_mut("acme").unwrap());
    acme.mounts[0].source = crate::desired::MountSource::Named("mai_dev_data".into());
    observed
        .volumes
        .insert("mai_dev_data".into(), OwnerLabels::default());
    let used = plan(&desired, &observed, false);
    assert!(used.tenants[0].conflicts.is_empty(), "{used}");
    // Missing, it is created like any volume.
    observed.volumes.remove("mai_dev_data");
    let created = plan(&desired, &observed, false);
    assert!(
        steps_of(&created, "acme").contains(&Step::CreateVolume {
            name: "mai_dev_data".into(),
            reclaim: false,
        }),
        "{created}"
    );
}

#[test]
fn extra_hosts_and_networks_are_diffed_and_recreate() {
    let (mut desired, observed) = one_tenant();
    let acme = std::sync::Arc::make_mut(desired.tenants.get_mut("acme").unwrap());
    acme.extra_hosts = vec!["host.docker.internal:host-gateway".into()];
    acme.extra_networks = vec!["web".into()];
    let plan = plan(&desired, &observed, false);
    let Step::Recreate { changes, .. } = &steps_of(&plan, "acme")[0] else {
        panic!("{plan}");
    };
    let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    assert!(fields.contains(&"extra_hosts"), "{plan}");
    assert!(fields.contains(&"networks"), "{plan}");
}

#[test]
fn an_unlabeled_volume_with_our_generated_name_is_made_again_a_labeled_one_is_a_conflict() {
    let (desired, mut observed) = one_tenant();
    // A daemon crash between the volume's folder and its labels.
    observed
        .volumes
        .insert("mai-acme-data".into(), OwnerLabels::default());
    let lost = plan(&desired, &observed, false);
    assert!(lost.tenants[0].conflicts.is_empty(), "{lost}");
    assert!(
        steps_of(&lost, "acme").contains(&Step::CreateVolume {
            name: "mai-acme-data".into(),
            reclaim: true,
        }),
        "{lost}"
    );
    assert!(
        lost.to_string().contains("made again only if it is empty"),
        "{lost}"
    );
    // Anyone who labels (compose does) owns it: a conflict, untouched.
    observed.volumes.insert(
        "mai-acme-data".into(),
        OwnerLabels::of(&Labels::from([(
            "com.docker.compose.project".to_string(),
            "x".to_string(),
        )])),
    );
    let owned = plan(&desired, &observed, false);
    assert_eq!(owned.tenants[0].conflicts.len(), 1, "{owned}");
}
