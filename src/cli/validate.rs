//! `tenantctl validate -f FILE`.

use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path) -> ExitCode {
    match super::load(file) {
        Ok(desired) => {
            say!(
                "{}: valid ({} tenants)",
                file.display(),
                desired.tenants.len()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
