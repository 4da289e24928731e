//! `tenantctl apply -f FILE [--prune]`: observe, plan, execute, report —
//! the same plan and executor a controller uses. The caller holds the host
//! lock for the whole command.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tenantctl::execute::ApplyReport;
use tenantctl::observe::{observe, Detail};

/// A recovery (a crash's leftovers renamed or removed) changes what the
/// next plan sees, so apply plans again after one, at most this often.
const MAX_ROUNDS: usize = 3;

pub async fn run(
    file: &Path,
    prune: bool,
    adopt: Option<tenantctl::plan::Adoption>,
    concurrency: usize,
    wait: Option<Duration>,
    timeout: Duration,
) -> ExitCode {
    let started = std::time::Instant::now();
    let (desired, docker, mut observed) = match super::load_and_observe(file, timeout).await {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let mut reports: Vec<ApplyReport> = Vec::new();
    for round in 0..MAX_ROUNDS {
        let plan = match super::host_plan(&desired, &observed, prune, adopt).await {
            Ok(plan) => plan,
            Err(code) => return code,
        };
        if round == 0 || !plan.is_empty() {
            say!("{plan}");
        }
        if plan.is_empty() {
            if round == 0 {
                say!("Nothing to do.");
                tenantctl::rollout::settle(&desired);
                return match certificates(&docker, &desired, &observed, prune, adopt).await {
                    0 => ExitCode::SUCCESS,
                    _ => ExitCode::FAILURE,
                };
            }
            break;
        }
        let with_work = plan.tenants.iter().filter(|t| t.has_work()).count();
        let progress = super::progress::Progress::new(with_work);
        let report = tenantctl::execute::execute_reporting(
            &docker,
            &desired,
            &plan,
            concurrency,
            &|outcome| progress.tenant(outcome),
        )
        .await;
        progress.finish();
        let recovered = report
            .tenants
            .iter()
            .any(|t| t.error.is_none() && t.done.contains(&"recover"));
        reports.push(report);
        if !recovered {
            break;
        }
        observed = match observe(&docker, &desired, Detail::Full).await {
            Ok(o) => o,
            Err(e) => {
                say!("FAIL cannot read the Docker host again after recovering leftovers: {e}");
                return ExitCode::FAILURE;
            }
        };
    }
    for (i, report) in reports.iter().enumerate() {
        print_fleet_level(report, i + 1 == reports.len());
    }
    let mut failed = reports.last().map_or(0, ApplyReport::failed);
    match reports.iter().rev().find_map(|r| r.rollout.as_ref()) {
        Some(r) => say!("{}", r.summary()),
        // Nothing needed recreating and everything converged (a failed
        // recovery may still need one): a rollout cut short after its
        // last tenant, or a halt overtaken by events, is over.
        None if failed == 0 => tenantctl::rollout::settle(&desired),
        None => {}
    }
    let changes: usize = reports.iter().map(ApplyReport::changes).sum();
    let outcomes: Vec<&tenantctl::apply::TenantOutcome> =
        reports.iter().flat_map(|r| &r.tenants).collect();
    let did = |action: &str| {
        outcomes
            .iter()
            .filter(|t| t.error.is_none() && t.done.contains(&action))
            .count()
    };
    say!(
        "Applied {changes} change(s): {} created, {} updated in place, {} recreated, {} adopted; {failed} failure(s) in {:.1}s.",
        did("create"),
        did("update"),
        did("recreate"),
        did("adopt"),
        started.elapsed().as_secs_f64()
    );
    if let Some(deadline) = wait {
        failed += wait_healthy(&docker, &desired, &outcomes, deadline).await;
    }
    failed += certificates(&docker, &desired, &observed, prune, adopt).await;
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One ACME round (`tls = "acme"` tenants whose certificate is missing or
/// due, as the backoff allows) once nginx answers their challenges; a new
/// certificate's HTTPS block is then applied like any proxy change. The
/// number of failed orders.
async fn certificates(
    docker: &tenantctl::docker::DockerClient,
    desired: &tenantctl::desired::DesiredState,
    observed: &tenantctl::observe::ObservedState,
    prune: bool,
    adopt: Option<tenantctl::plan::Adoption>,
) -> usize {
    if tenantctl::acme::store::acme_domains(desired).is_empty() {
        return 0;
    }
    let round = tenantctl::acme::manager::round(desired, None).await;
    for (tenant, why) in &round.failed {
        say!("FAIL certificate {tenant}: {why} (its site keeps what it serves; retried with backoff)");
    }
    for (tenant, why) in &round.waiting {
        say!("FAIL certificate {tenant}: not ordered, nginx does not answer its challenge path: {why}");
    }
    if round.issued.is_empty() {
        return round.failed.len() + round.waiting.len();
    }
    for (tenant, domain, expires) in tenantctl::acme::manager::expiries(desired).await {
        if round.issued.contains(&tenant) {
            let at = chrono::DateTime::<chrono::Utc>::from(expires).format("%Y-%m-%d");
            say!("ok   certificate {tenant}: {domain}, valid until {at}");
        }
    }
    let Ok(plan) = super::host_plan(desired, observed, prune, adopt).await else {
        return round.failed.len() + round.waiting.len() + round.issued.len();
    };
    // Only the proxy: the tenant steps ran already.
    let proxy_only = tenantctl::plan::Plan {
        create_network: None,
        repair_network: None,
        tenants: Vec::new(),
        orphans: Vec::new(),
        ..plan
    };
    let report = tenantctl::execute::execute(docker, desired, &proxy_only, 1).await;
    print_fleet_level(&report, true);
    let proxy_failed = report.proxy.as_ref().is_some_and(|p| p.error.is_some());
    round.failed.len() + round.waiting.len() + usize::from(proxy_failed)
}

/// `--wait`: every tenant apply changed must pass its health check (like
/// `docker compose up --wait`); the number that did not.
async fn wait_healthy(
    docker: &tenantctl::docker::DockerClient,
    desired: &tenantctl::desired::DesiredState,
    outcomes: &[&tenantctl::apply::TenantOutcome],
    deadline: Duration,
) -> usize {
    let changed: Vec<&tenantctl::desired::DesiredTenant> = outcomes
        .iter()
        .filter(|o| o.error.is_none() && !o.done.is_empty())
        .filter_map(|o| desired.tenants.get(&o.tenant))
        .map(|t| &**t)
        .filter(|t| !t.paused)
        .collect();
    if changed.is_empty() {
        return 0;
    }
    let started = std::time::Instant::now();
    let results = futures_util::future::join_all(changed.iter().map(|t| async move {
        let r = tenantctl::apply::wait_healthy(docker, t, &t.container_name, deadline).await;
        (t.name.as_str(), r)
    }))
    .await;
    let mut unhealthy = 0;
    for (name, result) in results {
        if let Err(e) = result {
            unhealthy += 1;
            say!("FAIL {name}: {e}");
        }
    }
    say!(
        "Waited {:.1}s: {} of {} changed tenant(s) healthy.",
        started.elapsed().as_secs_f64(),
        changed.len() - unhealthy,
        changed.len()
    );
    unhealthy
}

/// A round's fleet-level results (prune, proxy); tenants were printed as
/// they finished. A proxy failure of an earlier round that a later round
/// retried is a note.
fn print_fleet_level(report: &ApplyReport, last: bool) {
    for (orphan, result) in &report.pruned {
        match result {
            Ok(()) => say!("ok   pruned {} (volumes kept)", orphan.container),
            Err(e) => say!("FAIL prune {}: {e}", orphan.container),
        }
    }
    let Some(proxy) = &report.proxy else { return };
    let fail = if last { "FAIL" } else { "note" };
    for (tenant, why) in &proxy.set_aside {
        say!("{fail} proxy {tenant}: its nginx block was set aside (last good block kept): {why}");
    }
    match &proxy.error {
        Some(e) => say!("{fail} proxy: {e}"),
        None if proxy.reloaded => say!(
            "ok   proxy: wrote {} and reloaded nginx",
            proxy.changed_files.join(", ")
        ),
        None => {}
    }
}
