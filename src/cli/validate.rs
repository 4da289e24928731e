//! `tenantctl validate -f FILE`.

use std::path::Path;
use std::process::ExitCode;

/// Validation needs no Docker; when a host answers within a moment, the
/// fleet's memory reservations are also checked against it (a warning).
pub async fn run(file: &Path) -> ExitCode {
    match super::load(file) {
        Ok(desired) => {
            say!(
                "{}: valid ({} tenants)",
                file.display(),
                desired.tenants.len()
            );
            let quick = std::time::Duration::from_secs(2);
            if let Ok(Ok(docker)) =
                tokio::time::timeout(quick, tenantctl::docker::DockerClient::connect(quick)).await
            {
                super::warn_capacity(&docker, &desired).await;
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
