//! `tenantctl init DIR`: a new git repository for a fleet — the tenants
//! file, the mAI chart, a CI workflow that validates and plans every push,
//! the systemd unit and a short README — ready to edit and push.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const TENANTS: &str = include_str!("../../packaging/tenants.example.toml");
const CHART: &str = include_str!("../../charts/mai/chart.toml");
const UNIT: &str = include_str!("../../packaging/tenantctl.service");

const WORKFLOW: &str = r#"# Every push and pull request: the file must be valid, and the plan (what
# the server would change) is shown. Runs on the server itself (a
# self-hosted runner): plan compares the file with its Docker Engine.
name: tenantctl
on: [push, pull_request]
jobs:
  plan:
    runs-on: self-hosted
    steps:
      - uses: actions/checkout@v4
      - name: validate
        run: tenantctl validate -f tenants.toml
      - name: plan (exit code 2 = changes pending, shown above)
        run: tenantctl plan -f tenants.toml --exit-code || [ $? -eq 2 ]
"#;

const README: &str = r#"# Our tenant fleet

`tenants.toml` is the fleet: one `[tenants.<name>]` table per client; the
chart in `charts/mai` holds what they share. On the server:

    tenantctl validate -f tenants.toml
    tenantctl plan -f tenants.toml
    tenantctl apply -f tenants.toml --wait

then keep it converged with the controller (`tenantctl.service`, or
`tenantctl run --git <this repository's URL>` to follow this branch).
Secrets go into env files outside git (`env_files = ["/etc/tenantctl/env/<name>.env"]`).
"#;

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The directory to create (must not exist, or be empty).
    dir: PathBuf,
}

pub fn run(args: InitArgs) -> ExitCode {
    let dir = &args.dir;
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        eprintln!(
            "error: {} exists and is not empty; nothing was written",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    // The scaffold's tenants file names its chart next to it.
    let files: [(&str, &str); 5] = [
        ("tenants.toml", TENANTS),
        ("charts/mai/chart.toml", CHART),
        (".github/workflows/tenantctl.yml", WORKFLOW),
        ("tenantctl.service", UNIT),
        ("README.md", README),
    ];
    for (path, text) in files {
        if let Err(e) = write(dir, path, text) {
            eprintln!("error: cannot write {}: {e}", dir.join(path).display());
            return ExitCode::FAILURE;
        }
        say!("wrote {}", dir.join(path).display());
    }
    match std::process::Command::new("git")
        .args(["init", "-q"])
        .arg(dir)
        .status()
    {
        Ok(s) if s.success() => say!("initialized a git repository in {}", dir.display()),
        _ => eprintln!("warning: `git init` did not run; the files are written"),
    }
    say!(
        "next: edit {0}/tenants.toml, then `tenantctl plan -f {0}/tenants.toml`",
        dir.display()
    );
    ExitCode::SUCCESS
}

fn write(dir: &Path, path: &str, text: &str) -> std::io::Result<()> {
    let target = dir.join(path);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(target, text)
}
