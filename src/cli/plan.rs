//! `tenantctl plan -f FILE [--json] [--exit-code]`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

pub async fn run(
    file: &Path,
    json: bool,
    exit_code: bool,
    prune: bool,
    adopt: Option<tenantctl::plan::Adoption>,
    timeout: Duration,
) -> ExitCode {
    let (desired, docker, observed) = match super::load_and_observe(file, timeout).await {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let plan = match super::host_plan(&desired, &observed, prune, adopt).await {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    if json {
        match serde_json::to_string_pretty(&plan) {
            Ok(text) => say!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        say!("{plan}");
    }
    super::warn_capacity(&docker, &desired).await;
    if exit_code && !plan.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
