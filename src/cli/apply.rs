//! `tenantctl apply -f FILE [--prune]`: observe, plan, execute, report —
//! the same plan and executor a controller uses. The caller holds the host
//! lock for the whole command.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tenantctl::apply::ApplyReport;
use tenantctl::observe::{observe, Detail};

/// A recovery (a crash's leftovers renamed or removed) changes what the
/// next plan sees, so apply plans again after one, at most this often.
const MAX_ROUNDS: usize = 3;

pub async fn run(
    file: &Path,
    prune: bool,
    adopt: Option<tenantctl::plan::Adoption>,
    concurrency: usize,
    timeout: Duration,
) -> ExitCode {
    let (desired, docker, mut observed) = match super::load_and_observe(file, timeout).await {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let mut reports: Vec<ApplyReport> = Vec::new();
    for round in 0..MAX_ROUNDS {
        let plan = match super::host_plan(&desired, &observed, prune, adopt) {
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
                return ExitCode::SUCCESS;
            }
            break;
        }
        let report = tenantctl::apply::execute(&docker, &desired, &plan, concurrency).await;
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
    let last = reports.len().saturating_sub(1);
    for (i, report) in reports.iter().enumerate() {
        print_report(report, i == last);
    }
    match reports.iter().rev().find_map(|r| r.rollout.as_ref()) {
        Some(r) => say!("{}", r.summary()),
        // Nothing needed recreating: a rollout cut short after its last
        // tenant, or a halt overtaken by events, is over.
        None => tenantctl::rollout::settle(&desired),
    }
    let failed = reports.last().map_or(0, ApplyReport::failed);
    let changes: usize = reports.iter().map(ApplyReport::changes).sum();
    say!("Applied {changes} change(s); {failed} failure(s).");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One round's outcome; failures of an earlier round that a later round
/// retried are shown as notes, not counted.
fn print_report(report: &ApplyReport, last: bool) {
    for t in &report.tenants {
        match &t.error {
            None => match t.downtime {
                Some(d) => say!(
                    "ok   {}: {} (downtime {:.1}s: old container stopped -> new one healthy)",
                    t.tenant,
                    t.done.join(", "),
                    d.as_secs_f64()
                ),
                None => say!("ok   {}: {}", t.tenant, t.done.join(", ")),
            },
            Some(e) if last => say!(
                "FAIL {}: {e}{}",
                t.tenant,
                if t.done.is_empty() {
                    String::new()
                } else {
                    format!(" (done before: {})", t.done.join(", "))
                }
            ),
            Some(e) => say!("note {}: {e} (retried)", t.tenant),
        }
    }
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
