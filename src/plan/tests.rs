//! Plan table tests: a converged host, one difference, the exact plan.

use super::*;
use crate::desired::EnvEntry;
use crate::fixtures::{converged, desired_state};
use crate::kinds::{ContainerState, RestartPolicy};
use crate::observe::ObservedImage;

pub(super) fn one_tenant() -> (DesiredState, ObservedState) {
    let desired = desired_state(vec![
        DesiredTenant::test("acme", 8001),
        DesiredTenant::test("globex", 8002).with_image("globex-pinned:1"),
    ]);
    let observed = converged(&desired);
    (desired, observed)
}

pub(super) fn steps_of(plan: &Plan, tenant: &str) -> Vec<Step> {
    plan.tenants
        .iter()
        .find(|t| t.tenant == tenant)
        .unwrap()
        .steps
        .clone()
}

fn fields(step: &Step) -> Vec<String> {
    match step {
        Step::Recreate { changes, .. } | Step::Update { changes } => changes
            .iter()
            .map(|c| format!("{}: {} -> {}", c.field, c.from, c.to))
            .collect(),
        _ => vec![],
    }
}

#[test]
fn converged_host_gives_an_empty_plan() {
    let (desired, observed) = one_tenant();
    let plan = plan(&desired, &observed, true);
    assert!(plan.is_empty(), "{plan}");
    assert!(plan.tenants.iter().all(TenantPlan::in_sync));
}

#[test]
fn table_of_single_differences() {
    type Mutation = fn(&mut ObservedState);
    let cases: Vec<(&str, Mutation, Vec<&str>)> = vec![
        (
            "missing container",
            |o| {
                o.containers.remove("mai-acme");
            },
            vec!["create"],
        ),
        (
            "missing volume",
            |o| {
                o.volumes.remove("mai-acme-data");
            },
            vec!["create_volume"],
        ),
        (
            "stopped container",
            |o| o.containers.get_mut("mai-acme").unwrap().state = ContainerState::Exited,
            vec!["start"],
        ),
        (
            "crash-looping container is reported, not restarted",
            |o| o.containers.get_mut("mai-acme").unwrap().state = ContainerState::Restarting,
            vec![],
        ),
        (
            "env edited by hand",
            |o| {
                let d = o
                    .containers
                    .get_mut("mai-acme")
                    .unwrap()
                    .details
                    .as_mut()
                    .unwrap();
                d.env.insert("WEBUI_NAME".into(), "hacked".into());
            },
            vec!["recreate"],
        ),
        (
            "memory changed by docker update",
            |o| {
                let d = o
                    .containers
                    .get_mut("mai-acme")
                    .unwrap()
                    .details
                    .as_mut()
                    .unwrap();
                d.resources.memory = 1 << 30;
            },
            vec!["update"],
        ),
        (
            "restart policy changed",
            |o| {
                let d = o
                    .containers
                    .get_mut("mai-acme")
                    .unwrap()
                    .details
                    .as_mut()
                    .unwrap();
                d.restart = RestartPolicy::No;
            },
            vec!["update"],
        ),
        (
            "memory changed and stopped",
            |o| {
                let c = o.containers.get_mut("mai-acme").unwrap();
                c.state = ContainerState::Exited;
                c.details.as_mut().unwrap().resources.nano_cpus = 1;
            },
            vec!["update", "start"],
        ),
        (
            "network detached",
            |o| {
                let d = o
                    .containers
                    .get_mut("mai-acme")
                    .unwrap()
                    .details
                    .as_mut()
                    .unwrap();
                d.networks = ["bridge".to_string()].into();
            },
            vec!["recreate"],
        ),
        (
            "port binding differs",
            |o| {
                let d = o
                    .containers
                    .get_mut("mai-acme")
                    .unwrap()
                    .details
                    .as_mut()
                    .unwrap();
                d.ports = ["0.0.0.0:8001->8080/tcp".to_string()].into();
            },
            vec!["recreate"],
        ),
        (
            "mount differs",
            |o| {
                let d = o
                    .containers
                    .get_mut("mai-acme")
                    .unwrap()
                    .details
                    .as_mut()
                    .unwrap();
                d.mounts.clear();
            },
            vec!["recreate"],
        ),
        (
            "health check removed",
            |o| {
                let d = o
                    .containers
                    .get_mut("mai-acme")
                    .unwrap()
                    .details
                    .as_mut()
                    .unwrap();
                d.health = None;
            },
            vec!["recreate"],
        ),
        (
            "spec hash label differs",
            |o| {
                let c = o.containers.get_mut("mai-acme").unwrap();
                c.labels
                    .insert(crate::labels::SPEC_HASH_LABEL.into(), "old".into());
            },
            vec!["recreate"],
        ),
        (
            "tag points at a new image id",
            |o| {
                o.images.insert(
                    "mai-production:latest".into(),
                    Some(ObservedImage {
                        id: "sha256:2222".into(),
                        env: vec![],
                    }),
                );
            },
            vec!["recreate"],
        ),
        (
            "image not on this host",
            |o| {
                o.images.insert("mai-production:latest".into(), None);
            },
            vec!["recreate"],
        ),
    ];
    for (name, mutate, want) in cases {
        let (desired, mut observed) = one_tenant();
        mutate(&mut observed);
        let plan = plan(&desired, &observed, false);
        let got: Vec<&str> = steps_of(&plan, "acme").iter().map(Step::action).collect();
        assert_eq!(got, want, "{name}:\n{plan}");
        assert!(
            steps_of(&plan, "globex").is_empty(),
            "{name}: the other tenant is untouched"
        );
    }
}

#[test]
fn in_place_changes_are_listed_per_field() {
    let (desired, mut observed) = one_tenant();
    let d = observed
        .containers
        .get_mut("mai-acme")
        .unwrap()
        .details
        .as_mut()
        .unwrap();
    d.resources.memory = 1 << 30;
    d.restart = RestartPolicy::Always;
    let plan = plan(&desired, &observed, false);
    assert_eq!(
        fields(&steps_of(&plan, "acme")[0]),
        vec![
            "restart: always -> unless-stopped",
            "resources.memory: 1G -> 4G"
        ]
    );
}

#[test]
fn going_back_to_unlimited_memory_needs_a_recreate() {
    let (mut desired, observed) = one_tenant();
    let t = std::sync::Arc::make_mut(desired.tenants.get_mut("acme").unwrap());
    t.resources.memory = 0;
    t.resources.memory_reservation = 0;
    let plan = plan(&desired, &observed, false);
    assert_eq!(steps_of(&plan, "acme")[0].action(), "recreate");
}

#[test]
fn sensitive_env_is_masked_in_field_changes() {
    let (mut desired, mut observed) = one_tenant();
    std::sync::Arc::make_mut(desired.tenants.get_mut("acme").unwrap())
        .env
        .insert(
            "API_KEY".into(),
            EnvEntry {
                value: "new-secret".into(),
                sensitive: true,
            },
        );
    let d = observed
        .containers
        .get_mut("mai-acme")
        .unwrap()
        .details
        .as_mut()
        .unwrap();
    d.env.insert("API_KEY".into(), "old-secret".into());
    let plan = plan(&desired, &observed, false);
    let shown = format!("{plan}\n{}", serde_json::to_string(&plan).unwrap());
    assert!(
        shown.contains("env.API_KEY: (sensitive) -> (sensitive)"),
        "{shown}"
    );
    assert!(!shown.contains("secret\""), "{shown}");
}

#[test]
fn foreign_objects_are_conflicts_that_block_only_their_tenant() {
    let (desired, mut observed) = one_tenant();
    let c = observed.containers.get_mut("mai-acme").unwrap();
    c.labels.clear();
    // Someone else's (it carries their label).
    observed.volumes.insert(
        "mai-globex-data".into(),
        crate::labels::OwnerLabels::of(&crate::observe::Labels::from([(
            "owner".to_string(),
            "someone".to_string(),
        )])),
    );
    let plan = plan(&desired, &observed, false);
    let acme = &plan.tenants[0];
    assert_eq!(acme.conflicts[0].resource, ConflictKind::Container);
    assert!(acme.actionable().is_empty());
    let globex = &plan.tenants[1];
    assert_eq!(globex.conflicts[0].resource, ConflictKind::Volume);
    assert!(!plan.is_empty(), "conflicts are pending work");
}

#[test]
fn a_port_published_by_another_container_is_a_conflict() {
    let (desired, mut observed) = one_tenant();
    observed.containers.remove("mai-acme");
    let mut squatter = desired.tenants["globex"].matching_container();
    squatter.name = "squatter".into();
    squatter.labels.clear();
    squatter.published_ports = [8001].into();
    observed.containers.insert("squatter".into(), squatter);
    let plan = plan(&desired, &observed, false);
    assert_eq!(plan.tenants[0].conflicts[0].resource, ConflictKind::Port);
}

#[test]
fn orphans_are_reported_and_removed_only_with_prune() {
    let (desired, mut observed) = one_tenant();
    let gone = DesiredTenant::test("gone", 8003).matching_container();
    observed.containers.insert(gone.name.clone(), gone);
    let mut other_fleet = DesiredTenant::test("other", 8004).matching_container();
    other_fleet.name = "mai-other".into();
    other_fleet
        .labels
        .insert(crate::labels::FLEET_LABEL.into(), "staging".into());
    observed
        .containers
        .insert(other_fleet.name.clone(), other_fleet);

    let kept = plan(&desired, &observed, false);
    assert_eq!(
        kept.orphans,
        vec![Orphan {
            moved_to: None,
            tenant: "gone".into(),
            container: "mai-gone".into()
        }]
    );
    assert!(kept.is_empty(), "unpruned orphans are not pending changes");
    let pruned = plan(&desired, &observed, true);
    assert!(!pruned.is_empty());
}

#[test]
fn a_tenant_moved_to_another_server_is_reported_and_never_pruned() {
    let (mut desired, mut observed) = one_tenant();
    let moved = DesiredTenant::test("moved", 8003).matching_container();
    observed.containers.insert(moved.name.clone(), moved);
    let b = crate::desired::NodeName::parse("b").unwrap();
    desired.elsewhere.insert("moved".into(), b.clone());
    let pruned = plan(&desired, &observed, true);
    assert_eq!(pruned.orphans[0].moved_to, Some(b));
    assert!(!pruned.orphans[0].prunable());
    assert!(pruned.is_empty(), "nothing to do: its data is here");
    let text = pruned.to_string();
    assert!(
        text.contains(
            "tenant moved is placed on node `b` now): kept, with its data on this server"
        ),
        "{text}"
    );
}

#[test]
fn paused_tenants_are_reported_but_never_changed() {
    let (mut desired, mut observed) = one_tenant();
    std::sync::Arc::make_mut(desired.tenants.get_mut("acme").unwrap()).paused = true;
    observed.containers.get_mut("mai-acme").unwrap().state = ContainerState::Exited;
    let plan = plan(&desired, &observed, false);
    assert_eq!(plan.tenants[0].steps.len(), 1);
    assert!(plan.tenants[0].actionable().is_empty());
    assert!(plan.is_empty());
}

#[test]
fn a_missing_network_is_created_first() {
    let (desired, mut observed) = one_tenant();
    observed.networks.clear();
    assert_eq!(
        plan(&desired, &observed, false).create_network.as_deref(),
        Some("mai-network")
    );
}

#[test]
fn list_only_observation_still_sees_hash_image_and_state() {
    let (desired, mut observed) = one_tenant();
    for c in observed.containers.values_mut() {
        c.details = None;
    }
    assert!(plan(&desired, &observed, false).is_empty());
    observed
        .containers
        .get_mut("mai-acme")
        .unwrap()
        .labels
        .insert(crate::labels::SPEC_HASH_LABEL.into(), "x".into());
    assert_eq!(
        steps_of(&plan(&desired, &observed, false), "acme")[0].action(),
        "recreate"
    );
}

#[test]
fn builders_state_only_what_differs() {
    let paused = DesiredTenant::test("acme", 8001)
        .paused()
        .with_env("OPENAI_API_KEY", "sk-1", true)
        .with_restart(RestartPolicy::Always);
    let desired = desired_state(vec![paused.clone()]);
    let mut observed = converged(&desired);
    let stopped = paused
        .matching_container()
        .with_state(ContainerState::Exited)
        .with_health(None);
    observed.containers.insert(stopped.name.clone(), stopped);
    let plan = plan(&desired, &observed, false);
    assert_eq!(
        steps_of(&plan, "acme"),
        vec![Step::Start {
            state: ContainerState::Exited
        }],
        "the drift is reported"
    );
    assert!(plan.is_empty(), "but a paused tenant is never changed");
}

#[test]
fn details_that_show_no_change_can_be_dropped_without_changing_the_plan() {
    let (desired, mut observed) = one_tenant();
    let acme = observed.containers.get_mut("mai-acme").unwrap();
    acme.details
        .as_mut()
        .unwrap()
        .env
        .insert("ENV".into(), "dev".into());
    let full = plan(&desired, &observed, false);
    let mut kept = observed.clone();
    for t in desired.tenants.values() {
        let c = &observed.containers[&t.container_name];
        if !details_matter(t, c, &observed) {
            kept.containers.get_mut(&t.container_name).unwrap().details = None;
        }
    }
    assert!(
        kept.containers["mai-acme"].details.is_some(),
        "acme differs"
    );
    assert!(
        kept.containers["mai-globex"].details.is_none(),
        "globex does not"
    );
    assert_eq!(full, plan(&desired, &kept, false));
    assert!(!full.is_empty(), "acme's env change is planned: {full}");
}
