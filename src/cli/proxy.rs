//! The proxy steps of `plan` and `apply`.

use std::collections::BTreeSet;
use tenantctl::desired::DesiredState;
use tenantctl::observe::ObservedState;
use tenantctl::plan::Plan;
use tenantctl::proxy;

/// The plan for the host, with the nginx config diff when a proxy is
/// configured (what `plan` prints and `apply` executes). Errors are printed.
pub fn plan_with_proxy(
    desired: &DesiredState,
    observed: &ObservedState,
    prune: bool,
) -> Result<Plan, std::process::ExitCode> {
    let mut plan = tenantctl::plan::plan(desired, observed, prune);
    add_diff(&mut plan, desired, observed).map_err(|e| {
        eprintln!("error: {e}");
        std::process::ExitCode::FAILURE
    })?;
    Ok(plan)
}

/// Adds the nginx config diff to a plan.
fn add_diff(
    plan: &mut Plan,
    desired: &DesiredState,
    observed: &ObservedState,
) -> Result<(), String> {
    let Some(spec) = &desired.proxy else {
        return Ok(());
    };
    let unavailable = proxy::expected_unavailable(desired, observed);
    let candidate = proxy::render(desired, spec, &unavailable);
    let current = proxy::read_current(&spec.config_dir)
        .map_err(|e| format!("cannot read {}: {e}", spec.config_dir.display()))?;
    let diff = proxy::unified_diff(&current, &candidate);
    plan.proxy_diff = (!diff.is_empty()).then_some(diff);
    Ok(())
}

/// Syncs nginx with the fleet as it now is; prints what happened and
/// returns how many failures to count (set-aside tenants, or 1 for a
/// failed reload).
pub async fn apply(desired: &DesiredState, observed: &ObservedState) -> usize {
    let Some(spec) = &desired.proxy else { return 0 };
    let unavailable: BTreeSet<String> = proxy::unavailable(desired, observed);
    let candidate = proxy::render(desired, spec, &unavailable);
    let outcome = proxy::sync(desired, spec, candidate, &unavailable).await;
    for (tenant, why) in &outcome.set_aside {
        say!("FAIL proxy {tenant}: its nginx block was set aside (last good block kept): {why}");
    }
    match &outcome.error {
        Some(e) => say!("FAIL proxy: {e}"),
        None if outcome.reloaded => say!(
            "ok   proxy: wrote {} and reloaded nginx",
            outcome.changed_files.join(", ")
        ),
        None => {}
    }
    outcome.set_aside.len() + usize::from(outcome.error.is_some())
}
