//! In-process measurements: the no-op resync path and `plan()` at scale.

use bollard::query_parameters::ListContainersOptions;
use std::path::Path;
use std::time::{Duration, Instant};
use tenantctl::desired::DesiredTenant;
use tenantctl::docker::DockerClient;
use tenantctl::fixtures::{converged, desired_state};
use tenantctl::observe::Detail;

/// The no-op measurements, medians of `iterations` each.
pub struct NoOp {
    /// A resync: list-only observe + plan + the fleet-level part.
    pub listed: Duration,
    pub listed_calls: u64,
    /// A pass read from the host view (what the controller runs after its
    /// own changes).
    pub cached: Duration,
    pub cached_calls: u64,
    /// Docker's own `GET /containers/json?all=1` (the resync's first list,
    /// the one that grows with the host): the floor a listing pass stands on.
    pub engine_list: Duration,
}

/// Measures [`NoOp`] over the converged fleet in `file`.
pub fn noop_resync(file: &Path, iterations: usize) -> NoOp {
    let desired = tenantctl::load::load_desired(file).expect("bench fleet is valid");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let docker = DockerClient::connect(Duration::from_secs(30))
            .await
            .expect("docker");
        let mode = tenantctl::controller::Mode {
            prune: true,
            ..Default::default()
        };
        let mut listed = Vec::new();
        let before = docker.requests().total();
        let mut view = None;
        for _ in 0..iterations {
            let start = Instant::now();
            // Exactly the controller's resync pass: observe, plan, execute
            // the fleet-level part (nothing to do here).
            let done =
                tenantctl::controller::pass(&docker, &desired, Detail::ListOnly, mode, false)
                    .await
                    .expect("pass");
            listed.push(start.elapsed());
            assert!(
                done.plan.is_empty(),
                "the fleet must be in sync for S2:\n{}",
                done.plan
            );
            view = done.view;
        }
        let listed_calls = (docker.requests().total() - before) / iterations as u64;
        let view = view.expect("a listing pass has a view");
        let mut cached = Vec::new();
        let before = docker.requests().total();
        for _ in 0..iterations {
            let start = Instant::now();
            let done = tenantctl::controller::pass_cached(
                &docker,
                &desired,
                std::sync::Arc::new(view.clone()),
                mode,
                false,
            )
            .await
            .expect("pass");
            cached.push(start.elapsed());
            assert!(
                done.plan.is_empty(),
                "in sync from the view too:\n{}",
                done.plan
            );
        }
        let cached_calls = (docker.requests().total() - before) / iterations as u64;
        let mut engine = Vec::new();
        for _ in 0..iterations {
            let start = Instant::now();
            docker
                .call("list_containers", |d| async move {
                    d.list_containers(Some(ListContainersOptions {
                        all: true,
                        ..Default::default()
                    }))
                    .await
                })
                .await
                .expect("list containers");
            engine.push(start.elapsed());
        }
        let median = |mut v: Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        NoOp {
            listed: median(listed),
            listed_calls,
            cached: median(cached),
            cached_calls,
            engine_list: median(engine),
        }
    })
}

/// `plan()` over `n` tenants on a converged host, against a baseline of
/// just cloning the desired state (the cheapest pass over the same data).
pub fn plan_benchmark(n: usize) -> String {
    let tenants = (0..n)
        .map(|i| DesiredTenant::test(&format!("t{i}"), 1024 + (i % 60000) as u16))
        .collect();
    let desired = desired_state(tenants);
    let observed = converged(&desired);
    let mut plan_times = Vec::new();
    let mut clone_times = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let copy = desired.clone();
        clone_times.push(start.elapsed());
        drop(copy);
        let start = Instant::now();
        let plan = tenantctl::plan::plan(&desired, &observed, false);
        plan_times.push(start.elapsed());
        assert!(plan.is_empty());
    }
    plan_times.sort();
    clone_times.sort();
    let (p, c) = (plan_times[3], clone_times[3]);
    format!(
        "### plan() micro-benchmark\n\n`plan()` for {n} tenants on a converged host (median of 7): {:.1} ms; cloning the same desired state: {:.1} ms (plan / clone = {:.1}×).\n",
        p.as_secs_f64() * 1000.0,
        c.as_secs_f64() * 1000.0,
        p.as_secs_f64() / c.as_secs_f64().max(1e-9)
    )
}
