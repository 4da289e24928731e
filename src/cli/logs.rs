//! `tenantctl logs -f FILE (TENANT | --all) [--follow] [--since 10m]
//! [--tail N]`: the seed's "View logs" loop through the Docker Engine API.
//! With `--all` every tenant's lines are interleaved as they come, each
//! prefixed with its tenant (like `docker compose logs`).

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    /// The tenant whose container's log to show.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    tenant: Option<String>,
    /// Every tenant of the file, interleaved, each line prefixed.
    #[arg(long)]
    all: bool,
    /// Keep printing new lines until interrupted.
    #[arg(long)]
    follow: bool,
    /// Only lines newer than this (`10m`, `2h`).
    #[arg(long, value_parser = super::parse_duration)]
    since: Option<Duration>,
    /// Only the last N lines of each container (default: all).
    #[arg(long)]
    tail: Option<u64>,
}

pub async fn run(args: LogsArgs, timeout: Duration) -> ExitCode {
    let desired = match super::load(&args.file) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let names: Vec<String> = args.tenant.iter().cloned().collect();
    let tenants = match super::pick(&desired, &names, args.all) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let docker = match super::connect(timeout).await {
        Ok(d) => d,
        Err(code) => return code,
    };
    let since = args.since.map_or(0, |d| {
        tenantctl::clock::unix_secs().saturating_sub(d.as_secs() as i64) as i32
    });
    let width = tenants.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let colour = super::style::Style::stdout();
    let streams = tenants.iter().enumerate().map(|(i, t)| {
        let options = LogsOptions {
            follow: args.follow,
            stdout: true,
            stderr: true,
            since,
            tail: args.tail.map_or("all".to_string(), |n| n.to_string()),
            ..Default::default()
        };
        let prefix = args
            .all
            .then(|| colour.tenant(i, &format!("{:<width$} | ", t.name)));
        let tenant = t.name.clone();
        docker
            .api()
            .logs(&t.container_name, Some(options))
            .map(move |item| (tenant.clone(), prefix.clone(), item))
    });
    let mut merged = futures_util::stream::select_all(streams);
    let mut failed = false;
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    while let Some((tenant, prefix, item)) = merged.next().await {
        let (sink, message): (&mut dyn Write, _) = match item {
            Ok(LogOutput::StdErr { message }) => (&mut err, message),
            Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                (&mut out, message)
            }
            Ok(LogOutput::StdIn { .. }) => continue,
            Err(e) => {
                eprintln!("error: {tenant}: {e}");
                failed = true;
                continue;
            }
        };
        let text = String::from_utf8_lossy(&message);
        for line in text.split_inclusive('\n') {
            let written = match &prefix {
                Some(p) => write!(sink, "{p}{line}"),
                None => write!(sink, "{line}"),
            };
            if written.is_err() {
                // stdout is gone (`| head`): done.
                return ExitCode::SUCCESS;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
