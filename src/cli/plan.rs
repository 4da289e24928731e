//! `tenantctl plan -f FILE [--json] [--exit-code]`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tenantctl::observe::{observe, Detail};

pub async fn run(
    file: &Path,
    json: bool,
    exit_code: bool,
    prune: bool,
    timeout: Duration,
) -> ExitCode {
    let desired = match super::load(file) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let docker = match super::connect(timeout).await {
        Ok(d) => d,
        Err(code) => return code,
    };
    let observed = match observe(&docker, &desired, Detail::Full).await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: cannot read the Docker host: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut plan = tenantctl::plan::plan(&desired, &observed, prune);
    if let Err(e) = super::proxy::add_diff(&mut plan, &desired, &observed) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    if json {
        match serde_json::to_string_pretty(&plan) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!("{plan}");
    }
    if exit_code && !plan.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
