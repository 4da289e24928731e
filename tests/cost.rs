//! What one tenant's reconcile costs in Docker calls: it must not grow with
//! the fleet (a cold start of 200 tenants used to make 111 container
//! inspects per tenant, because each reconcile read the whole host).

mod common;

use common::{free_port, Fleet};

/// Docker calls made by one `reconcile_tenant` of `tenant` on a converged host.
fn calls_for_one_reconcile(
    fleet: &Fleet,
    tenant: &str,
) -> (u64, std::collections::BTreeMap<&'static str, u64>) {
    let (runtime, desired, docker) = fleet.library_session();
    runtime.block_on(async {
        // As the controller does: a pass fills the host view, then each
        // reconcile reads it and looks only at its own objects.
        let view = tenantctl::controller::pass(
            &docker,
            &desired,
            tenantctl::observe::Detail::ListOnly,
            Default::default(),
            false,
        )
        .await
        .expect("pass")
        .view
        .expect("a listing pass");
        let before = docker.requests().snapshot();
        let r = tenantctl::controller::reconcile_tenant(
            &docker,
            &desired,
            tenant,
            Some(&view),
            Default::default(),
        )
        .await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert!(
            r.done.is_empty(),
            "converged: nothing to do, did {:?}",
            r.done
        );
        let after = docker.requests().snapshot();
        let delta: std::collections::BTreeMap<&'static str, u64> = after
            .iter()
            .map(|(op, n)| (*op, n - before.get(op).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect();
        (delta.values().sum(), delta)
    })
}

#[test]
fn a_tenant_reconcile_costs_the_same_docker_calls_with_2_or_12_tenants() {
    let fleet = Fleet::new();
    let mut tenants: Vec<(String, u16)> = (0..12).map(|i| (format!("t{i}"), free_port())).collect();
    let write = |n: usize| {
        let list: Vec<(&str, u16, &str)> = tenants[..n]
            .iter()
            .map(|(t, p)| (t.as_str(), *p, ""))
            .collect();
        fleet.write(&list);
    };
    write(2);
    fleet.apply();
    let (small, small_ops) = calls_for_one_reconcile(&fleet, "t0");
    write(12);
    fleet.apply();
    let (large, large_ops) = calls_for_one_reconcile(&fleet, "t0");
    eprintln!(
        "one reconcile: {small} calls with 2 tenants {small_ops:?}, {large} with 12 {large_ops:?}"
    );
    assert_eq!(small, large, "{small_ops:?} vs {large_ops:?}");
    assert!(large <= 5, "{large_ops:?}");
    tenants.clear();
}
