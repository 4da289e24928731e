//! `tenantctl restart -f FILE TENANT…`: the seed's "Restart a client",
//! without a fight with a running controller: each tenant is held
//! (`tenantctl::hold`, the same hold apply, backups and restores take)
//! while Docker restarts its container and until it passes its health
//! check, so the controller's reconcile of it waits instead of "healing"
//! the stopped container half-way.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    /// The tenants to restart, one after the other.
    #[arg(required = true)]
    tenants: Vec<String>,
    /// How long each tenant has to pass its health check after the restart.
    #[arg(long, default_value = "120s", value_parser = super::parse_duration)]
    health_deadline: Duration,
}

pub async fn run(args: RestartArgs, timeout: Duration) -> ExitCode {
    let desired = match super::load(&args.file) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let tenants = match super::pick(&desired, &args.tenants, false) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let docker = match super::connect(timeout).await {
        Ok(d) => d,
        Err(code) => return code,
    };
    let mut failed = 0;
    for t in tenants {
        let started = Instant::now();
        let result = restart_one(&docker, t, args.health_deadline).await;
        match result {
            Ok(()) => say!(
                "ok   {}: restarted and healthy in {:.1}s",
                t.name,
                started.elapsed().as_secs_f64()
            ),
            Err(e) => {
                failed += 1;
                say!("FAIL {}: {e}", t.name);
            }
        }
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn restart_one(
    docker: &tenantctl::docker::DockerClient,
    t: &tenantctl::desired::DesiredTenant,
    deadline: Duration,
) -> Result<(), String> {
    let _hold = tenantctl::hold::hold_waiting(&t.fleet, &t.name, Duration::from_secs(60))
        .await
        .map_err(|e| e.to_string())?;
    let grace = Duration::from_secs(t.stop_timeout_secs.max(0) as u64);
    let (name, secs) = (t.container_name.clone(), t.stop_timeout_secs as i32);
    docker
        .call_with_timeout(
            "restart_container",
            grace + docker.timeout(),
            |d| async move {
                let options = bollard::query_parameters::RestartContainerOptions {
                    t: Some(secs),
                    signal: None,
                };
                d.restart_container(&name, Some(options)).await
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    tenantctl::apply::wait_healthy(docker, t, &t.container_name, deadline)
        .await
        .map_err(|e| e.to_string())
}
