//! `tenantctl apply -f FILE [--prune]`: observe, plan, apply, report.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tenantctl::observe::{observe, Detail};

pub async fn run(file: &Path, prune: bool, concurrency: usize, timeout: Duration) -> ExitCode {
    let (desired, docker, observed) = match super::load_and_observe(file, timeout).await {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let plan = match super::proxy::plan_with_proxy(&desired, &observed, prune) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    if plan.is_empty() {
        say!("{plan}");
        say!("Nothing to do.");
        return ExitCode::SUCCESS;
    }
    say!("{plan}");
    let report = tenantctl::apply::apply(&docker, &desired, &plan, concurrency).await;
    let mut proxy_failures = 0;
    if desired.proxy.is_some() {
        match observe(&docker, &desired, Detail::ListOnly).await {
            Ok(now) => proxy_failures = super::proxy::apply(&desired, &now).await,
            Err(e) => {
                say!("FAIL proxy: cannot read the Docker host to render nginx config: {e}");
                proxy_failures = 1;
            }
        }
    }
    for t in &report.tenants {
        match &t.error {
            None => say!("ok   {}: {}", t.tenant, t.done.join(", ")),
            Some(e) => say!(
                "FAIL {}: {e}{}",
                t.tenant,
                if t.done.is_empty() {
                    String::new()
                } else {
                    format!(" (done before: {})", t.done.join(", "))
                }
            ),
        }
    }
    for (container, result) in &report.pruned {
        match result {
            Ok(()) => say!("ok   pruned {container} (volumes kept)"),
            Err(e) => say!("FAIL prune {container}: {e}"),
        }
    }
    let failed = report.failed() + proxy_failures;
    say!(
        "Applied {} change(s); {failed} failure(s).",
        report.changes()
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
