//! The pure Swarm core: the service a tenant becomes, the field diff
//! (secrets masked), and the plan's choices per tenant.

use super::fields::{diff, Fields};
use super::plan::{plan_swarm, Action};
use super::spec::service_spec;
use super::view::{NodeInfo, ObservedService, SwarmView, TaskInfo};
use crate::desired::{DesiredTenant, EnvEntry, NodeName};
use crate::drift::{Drift, Reason, Resource};
use crate::fixtures::desired_state;
use std::collections::BTreeMap;

const IMAGE_ID: &str = "sha256:abc";

fn node(name: &str, state: &str) -> NodeInfo {
    NodeInfo {
        id: format!("id-{name}"),
        hostname: name.into(),
        state: state.into(),
        availability: "active".into(),
        addr: format!("10.0.0.{}", name.as_bytes()[0]),
    }
}

fn tenant(name: &str, port: u16, on: Option<&str>) -> DesiredTenant {
    let mut t = DesiredTenant::test(name, port);
    t.node = on.map(|n| NodeName::parse(n).unwrap());
    t.env.insert(
        "API_KEY".into(),
        EnvEntry {
            value: "canary-swarm-s3cr3t".into(),
            sensitive: true,
        },
    );
    t
}

fn view(tenants: &[&DesiredTenant]) -> SwarmView {
    let mut v = SwarmView {
        nodes: vec![node("a", "ready"), node("b", "ready")],
        ..Default::default()
    };
    v.networks.insert("mai-network".into(), "net-id".into());
    for t in tenants {
        v.images.insert(t.image.clone(), Some(IMAGE_ID.into()));
    }
    v
}

/// `view` with each tenant's service exactly as desired and running.
fn converged(desired: &crate::desired::DesiredState, mut v: SwarmView) -> SwarmView {
    for t in desired.tenants.values() {
        let on = t.node.as_ref().map(|n| n.to_string()).unwrap_or("a".into());
        let spec = service_spec(desired, t, &on, IMAGE_ID, &["net-id".into()]);
        let id = format!("svc-{}", t.name);
        v.tasks.insert(
            id.clone(),
            vec![TaskInfo {
                node_id: Some(format!("id-{on}")),
                state: "running".into(),
                desired_state: "running".into(),
                message: String::new(),
                updated_at: "1".into(),
            }],
        );
        v.services.insert(
            t.container_name.clone(),
            ObservedService {
                id,
                version: 7,
                spec,
                update_state: None,
                update_message: None,
            },
        );
    }
    v
}

#[test]
fn a_tenant_is_one_pinned_replica_with_limits_reservations_and_rollback() {
    let mut t = tenant("acme", 8001, Some("a"));
    t.resources.nano_cpus_reservation = 1_000_000_000;
    let desired = desired_state(vec![t.clone()]);
    let spec = service_spec(&desired, &t, "a", IMAGE_ID, &["net-id".into()]);
    let f = Fields::of(&spec);
    assert_eq!(spec.name.as_deref(), Some("mai-acme"));
    assert_eq!(f.replicas, 1);
    assert_eq!(f.image, IMAGE_ID);
    assert_eq!(f.constraints, ["node.hostname==a"]);
    assert_eq!(f.cpus_reservation, 1_000_000_000);
    assert_eq!(f.memory_reservation, 2 << 30);
    assert_eq!(f.memory_limit, 4 << 30);
    assert_eq!(f.ports, [(8001, 8080, "host".to_string())]);
    assert_eq!(f.networks, ["net-id"]);
    assert_eq!(f.update, "stop_first on failure rollback");
    let labels = spec.labels.unwrap();
    assert_eq!(labels["tenantctl.tenant"], "acme");
    assert!(labels.contains_key(super::spec::HEALTH_LABEL));
}

#[test]
fn a_changed_secret_is_named_never_shown() {
    let t = tenant("acme", 8001, Some("a"));
    let desired = desired_state(vec![t.clone()]);
    let want = Fields::of(&service_spec(&desired, &t, "a", IMAGE_ID, &[]));
    let mut have = want.clone();
    have.env
        .insert("API_KEY".into(), "canary-old-s3cr3t".into());
    have.env.insert("HAND".into(), "1".into());
    let secret = |k: &str| k == "API_KEY" || k == "HAND";
    let changes = diff(&have, &want, &secret);
    let text: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        text,
        [
            "env.API_KEY: (sensitive) -> (sensitive, changed)",
            "env.HAND: (sensitive) -> (unset)"
        ]
    );
    assert!(diff(&want, &want, &secret).is_empty());
}

#[test]
fn missing_services_are_created_and_equal_ones_left_alone() {
    let t = tenant("acme", 8001, Some("a"));
    let desired = desired_state(vec![t.clone()]);
    let plan = plan_swarm(&desired, &view(&[&t]), &BTreeMap::new());
    assert!(matches!(plan.tenants[0].action, Action::Create(_)));
    assert!(!plan.create_network);
    let plan = plan_swarm(
        &desired,
        &converged(&desired, view(&[&t])),
        &BTreeMap::new(),
    );
    assert!(plan.is_empty(), "{:?}", plan.tenants[0].changes);
    assert!(plan.tenants[0].drift.is_empty());
    assert!(plan.tenants[0].running());
}

#[test]
fn a_scaled_or_edited_service_is_drift_and_updated_at_its_version() {
    let t = tenant("acme", 8001, Some("a"));
    let desired = desired_state(vec![t.clone()]);
    let mut v = converged(&desired, view(&[&t]));
    let s = v.services.get_mut("mai-acme").unwrap();
    s.spec
        .mode
        .as_mut()
        .unwrap()
        .replicated
        .as_mut()
        .unwrap()
        .replicas = Some(0);
    let plan = plan_swarm(&desired, &v, &BTreeMap::new());
    let p = &plan.tenants[0];
    assert!(p
        .drift
        .contains(&Drift::new(Resource::Service, Reason::Scaled)));
    assert!(matches!(p.action, Action::Update { version: 7, .. }));
    assert_eq!(p.changes.last().unwrap().to_string(), "replicas: 0 -> 1");
}

#[test]
fn a_foreign_service_an_unknown_node_or_a_missing_image_block_only_their_tenant() {
    let ok = tenant("ok", 8001, Some("a"));
    let foreign = tenant("foreign", 8002, Some("a"));
    let lost = tenant("lost", 8003, Some("zz"));
    let desired = desired_state(vec![ok.clone(), foreign.clone(), lost.clone()]);
    let mut v = view(&[&ok, &foreign, &lost]);
    let mut squatter = converged(&desired_state(vec![foreign.clone()]), view(&[&foreign]));
    let mut s = squatter.services.remove("mai-foreign").unwrap();
    s.spec.labels = None;
    v.services.insert("mai-foreign".into(), s);
    let plan = plan_swarm(&desired, &v, &BTreeMap::new());
    let by = |n: &str| plan.tenants.iter().find(|p| p.tenant == n).unwrap();
    assert!(matches!(by("ok").action, Action::Create(_)));
    assert!(
        matches!(&by("foreign").action, Action::Blocked(why) if why.contains("did not create"))
    );
    assert!(
        matches!(&by("lost").action, Action::Blocked(why) if why.contains("node `zz` is not in the swarm (its nodes: a, b)"))
    );
    v.images.insert(ok.image.clone(), None);
    let plan = plan_swarm(&desired, &v, &BTreeMap::new());
    let p = plan.tenants.iter().find(|p| p.tenant == "ok").unwrap();
    assert!(matches!(&p.action, Action::Blocked(why) if why.contains("is not on the manager")));
}

#[test]
fn a_tenant_on_a_down_node_is_reported_not_moved() {
    let t = tenant("acme", 8001, Some("b"));
    let desired = desired_state(vec![t.clone()]);
    let mut v = converged(&desired, view(&[&t]));
    v.nodes[1].state = "down".into();
    let plan = plan_swarm(&desired, &v, &BTreeMap::new());
    let p = &plan.tenants[0];
    assert!(p.node_down);
    assert_eq!(
        p.drift.iter().copied().collect::<Vec<_>>(),
        [Drift::new(Resource::Service, Reason::NodeDown)]
    );
    assert!(plan.is_empty(), "its placement stays: the data is on b");
}

#[test]
fn an_unplaced_tenant_goes_to_the_least_loaded_node_and_stays_there() {
    let a1 = tenant("a1", 8001, Some("a"));
    let free = tenant("free", 8002, None);
    let desired = desired_state(vec![a1.clone(), free.clone()]);
    let plan = plan_swarm(&desired, &view(&[&a1, &free]), &BTreeMap::new());
    let p = plan.tenants.iter().find(|p| p.tenant == "free").unwrap();
    assert_eq!(p.node.as_deref(), Some("b"));
    assert!(p.placed_by_us);
    // Once created, its recorded node wins over the load.
    let mut v = view(&[&a1, &free]);
    let spec = service_spec(
        &desired,
        &desired.tenants["free"],
        "a",
        IMAGE_ID,
        &["net-id".into()],
    );
    v.services.insert(
        "mai-free".into(),
        ObservedService {
            id: "svc-free".into(),
            version: 1,
            spec,
            update_state: None,
            update_message: None,
        },
    );
    let plan = plan_swarm(&desired, &v, &BTreeMap::new());
    let p = plan.tenants.iter().find(|p| p.tenant == "free").unwrap();
    assert_eq!(p.node.as_deref(), Some("a"));
    assert!(p.changes.is_empty(), "{:?}", p.changes);
}

#[test]
fn an_update_swarm_rolled_back_is_held_until_the_file_changes_it() {
    let mut t = tenant("acme", 8001, Some("a"));
    let desired = desired_state(vec![t.clone()]);
    let mut v = converged(&desired, view(&[&t]));
    t.image = "mai:broken".into();
    v.images
        .insert("mai:broken".into(), Some("sha256:bad".into()));
    let next = desired_state(vec![t.clone()]);
    let s = v.services.get_mut("mai-acme").unwrap();
    s.update_state = Some("rollback_completed".into());
    let pushed = Fields::of(&service_spec(
        &next,
        &t,
        "a",
        "sha256:bad",
        &["net-id".into()],
    ));
    let held = BTreeMap::from([("acme".to_string(), pushed)]);
    let plan = plan_swarm(&next, &v, &held);
    let p = &plan.tenants[0];
    assert!(matches!(&p.action, Action::Blocked(why) if why.contains("rolled this update back")));
    assert!(p
        .drift
        .contains(&Drift::new(Resource::Service, Reason::RolledBack)));
    assert!(p.rolled_back.is_some());
    // Another image in the file: pushed again.
    t.image = "mai:fixed".into();
    v.images
        .insert("mai:fixed".into(), Some("sha256:fixed".into()));
    let fixed = desired_state(vec![t]);
    let plan = plan_swarm(&fixed, &v, &held);
    assert!(matches!(plan.tenants[0].action, Action::Update { .. }));
}

#[test]
fn secrets_never_reach_a_plan_debug_or_change() {
    let t = tenant("acme", 8001, Some("a"));
    let desired = desired_state(vec![t.clone()]);
    let plan = plan_swarm(&desired, &view(&[&t]), &BTreeMap::new());
    let v = converged(&desired, view(&[&t]));
    let fields = Fields::of(&v.services["mai-acme"].spec);
    let shown = format!("{plan:?} {plan:#?} {v:?} {fields:?}");
    assert!(!shown.contains("canary-swarm-s3cr3t"));
}

#[test]
fn the_proxy_reaches_each_tenant_on_its_nodes_address() {
    let a1 = tenant("a1", 8001, Some("a"));
    let b1 = tenant("b1", 8001, Some("b"));
    let desired = desired_state(vec![a1.clone(), b1.clone()]);
    let v = converged(&desired, view(&[&a1, &b1]));
    let plan = plan_swarm(&desired, &v, &BTreeMap::new());
    let routed = super::proxy::with_node_addresses(&desired, &plan, &v);
    assert_eq!(
        routed.tenants["a1"].host_ip,
        v.node_named("a").unwrap().addr
    );
    assert_eq!(
        routed.tenants["b1"].host_ip,
        v.node_named("b").unwrap().addr
    );
    assert_ne!(routed.tenants["a1"].host_ip, routed.tenants["b1"].host_ip);
}
