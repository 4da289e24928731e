//! `tenantctl rollout status|resume`: the fleet's last rollout as its
//! record on disk says (see `tenantctl::rollout`), and retrying a halted
//! one. Neither talks to Docker: a halt is a fact about the record.

use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use tenantctl::rollout::{self, Phase};

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Where the last rollout stands: running, halted (at which tenant and
    /// why) or done, and each tenant's part in it. Exit code 1 when halted.
    Status {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Retry the halted rollout: the next `apply`, or the controller's next
    /// pass, updates the tenants it kept back, starting with the one that
    /// failed.
    Resume {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
}

pub fn run(command: RolloutCommand) -> ExitCode {
    let file = match &command {
        RolloutCommand::Status { file, .. } | RolloutCommand::Resume { file } => file,
    };
    let desired = match super::load(file) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let record = match rollout::load(&desired) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        RolloutCommand::Status { json, .. } => {
            if json {
                say!(
                    "{}",
                    serde_json::to_string_pretty(&record).unwrap_or_default()
                );
            } else if let Some(r) = &record {
                say!("{}", r.summary());
                say!("{:<24} {:<12} {:>8}", "TENANT", "STATE", "GATE");
                for t in &r.order {
                    let state = r.tenants.get(t).map_or("-", |p| p.as_str());
                    let gate = r
                        .gate_seconds
                        .get(t)
                        .map_or("-".to_string(), |s| format!("{s:.1}s"));
                    let mark = if r.halted_at.as_ref() == Some(t) {
                        "  <- halted here"
                    } else {
                        ""
                    };
                    say!("{t:<24} {state:<12} {gate:>8}{mark}");
                }
                for (reference, id) in &r.images {
                    say!("image {reference} resolved to {id} at the start");
                }
            } else {
                say!("no rollout recorded for fleet `{}`", desired.fleet);
            }
            match record.map(|r| r.phase) {
                Some(Phase::Halted) => ExitCode::FAILURE,
                _ => ExitCode::SUCCESS,
            }
        }
        RolloutCommand::Resume { .. } => {
            let Some(mut r) = record.filter(|r| r.phase == Phase::Halted) else {
                eprintln!(
                    "error: no halted rollout to resume for fleet `{}`",
                    desired.fleet
                );
                return ExitCode::FAILURE;
            };
            r.resume = true;
            if let Err(e) = rollout::save(&desired, &r) {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            say!(
                "resumed: the next `tenantctl apply`, or the controller's next pass, retries it from {}",
                r.halted_at.as_deref().unwrap_or("where it stopped")
            );
            ExitCode::SUCCESS
        }
    }
}
