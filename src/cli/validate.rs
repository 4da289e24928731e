//! `tenantctl validate -f FILE`.

use std::path::Path;
use std::process::ExitCode;

/// Validation needs no Docker; when a host answers within a moment, the
/// fleet's memory reservations are also checked against it (a warning).
/// Without `--node` every tenant is checked, every env file read; with
/// it, that server's tenants (the others' env files are on their servers).
pub async fn run(file: &Path, node: Option<tenantctl::desired::NodeName>) -> ExitCode {
    let scope = match node {
        Some(node) => tenantctl::desired::Scope::Server(Some(node)),
        None => tenantctl::desired::Scope::Fleet,
    };
    match super::load_scoped(file, &scope) {
        Ok(desired) => {
            say!(
                "{}: valid ({} tenants)",
                file.display(),
                desired.tenants.len()
            );
            // Reservations are per server: a whole multi-server fleet is
            // not compared with this host.
            let one_server =
                desired.node.is_some() || desired.tenants.values().all(|t| t.node.is_none());
            let quick = std::time::Duration::from_secs(2);
            if one_server {
                if let Ok(Ok(docker)) =
                    tokio::time::timeout(quick, tenantctl::docker::DockerClient::connect(quick))
                        .await
                {
                    super::warn_capacity(&docker, &desired).await;
                }
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
