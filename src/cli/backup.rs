//! `tenantctl backup`, `backups list|verify`, `restore` (see `backup/`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tenantctl::backup::{self, BackupError, Manifest, RestoreOptions};
use tenantctl::desired::DesiredState;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    /// Tenants to back up.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    tenants: Vec<String>,
    /// Every tenant of the file.
    #[arg(long)]
    all: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum BackupsCommand {
    /// The backups of one tenant or of all: id, time, size, image, spec hash, verified.
    List {
        #[command(flatten)]
        at: Where,
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Re-read archives, check their sha256, extract them and run SQLite's
    /// integrity_check on every database in them.
    Verify {
        #[command(flatten)]
        at: Where,
        tenants: Vec<String>,
    },
}

/// The backup folder: the tenants file's `[backup] dir`, or given.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct Where {
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// The backup folder itself.
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    tenant: String,
    /// The backup to restore (`backups list` shows ids).
    #[arg(required_unless_present = "latest", conflicts_with = "latest")]
    backup_id: Option<String>,
    /// The newest backup.
    #[arg(long)]
    latest: bool,
    /// Restore a backup of another tenant into this one (explicitly).
    #[arg(long)]
    from_tenant: Option<String>,
    /// How long the restored tenant has to pass its health check.
    #[arg(long, default_value = "120s", value_parser = super::parse_duration)]
    health_deadline: Duration,
}

/// On a terminal, a line on stderr with the bytes moved and the rate,
/// redrawn twice a second until the returned guard is dropped; nothing
/// when stderr is not a terminal (a pipe, a log, CI).
fn show_progress(what: &'static str) -> Option<tokio::task::JoinHandle<()>> {
    use std::io::{IsTerminal, Write};
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        let start = std::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let moved = backup::progress::moved();
            let rate = moved as f64 / start.elapsed().as_secs_f64().max(0.001);
            let mut err = std::io::stderr();
            let _ = write!(
                err,
                "\r\x1b[2K{what}: {} ({}/s)",
                size(moved),
                size(rate as u64)
            );
            let _ = err.flush();
        }
    }))
}

fn end_progress(handle: Option<tokio::task::JoinHandle<()>>) {
    if let Some(h) = handle {
        h.abort();
        eprint!("\r\x1b[2K");
    }
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

pub async fn run_backup(args: BackupArgs, timeout: Duration) -> ExitCode {
    let desired = match super::load(&args.file) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let tenants = match super::pick(&desired, &args.tenants, args.all) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let docker = match super::connect(timeout).await {
        Ok(d) => d,
        Err(code) => return code,
    };
    let spec = &desired.backup;
    let work = tenants.into_iter().map(|t| {
        let (docker, desired) = (&docker, &desired);
        async move {
            (
                t,
                backup::backup_tenant(docker, &desired.backup, t, tenantctl::clock::unix_secs())
                    .await,
            )
        }
    });
    use futures_util::StreamExt;
    let started = std::time::Instant::now();
    let progress = show_progress("backing up");
    let results: Vec<_> = futures_util::stream::iter(work)
        .buffer_unordered(spec.concurrency)
        .collect()
        .await;
    end_progress(progress);
    let mut failed = 0;
    let (count, mut ok, mut bytes) = (results.len(), 0, 0u64);
    for (t, result) in results {
        match result {
            Ok(m) => {
                ok += 1;
                bytes += m.size();
                let files: u64 = m.volumes.iter().map(|v| v.files).sum();
                let raw: u64 = m.volumes.iter().map(|v| v.raw_size).sum();
                say!(
                    "ok   {}: backup {} ({} files, {} from {}; {:.2}s, {} {:.2}s)",
                    t.name,
                    m.id,
                    files,
                    size(m.size()),
                    size(raw),
                    m.duration_seconds,
                    match m.consistency {
                        tenantctl::kinds::Consistency::Stop => "stopped",
                        _ => "paused",
                    },
                    m.pause_seconds
                );
                match backup::prune(&spec.dir, &t.name, &spec.keep) {
                    Ok(removed) if !removed.is_empty() => {
                        say!("     {}: retention removed {}", t.name, removed.join(", "))
                    }
                    Ok(_) => {}
                    Err(e) => {
                        failed += 1;
                        say!("FAIL {}: retention: {e}", t.name);
                    }
                }
                if let Some(cmd) = &spec.after_command {
                    failed += after_command(cmd, &spec.dir, &m, &t.name).await;
                }
            }
            Err(e) => {
                failed += 1;
                say!("FAIL {}: {e}", t.name);
            }
        }
    }
    say!(
        "Backed up {ok} of {count} tenant(s), {} in {:.1}s; {failed} failure(s).",
        size(bytes),
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs `after_command` with each archive's path; a failure is reported
/// (the backup stays, nothing is deleted). The number of failures.
async fn after_command(cmd: &[String], dir: &std::path::Path, m: &Manifest, tenant: &str) -> usize {
    let mut failed = 0;
    for v in &m.volumes {
        let path = dir.join(tenant).join(&v.file);
        if let Err(e) = backup::after_command(cmd, &path).await {
            failed += 1;
            say!("FAIL {tenant}: {e} (the backup is kept)");
        }
    }
    failed
}

fn backup_dir(at: &Where) -> Result<(PathBuf, Option<DesiredState>), ExitCode> {
    match (&at.dir, &at.file) {
        (Some(dir), _) => Ok((dir.clone(), None)),
        (None, Some(file)) => {
            let desired = super::load(file)?;
            Ok((desired.backup.dir.clone(), Some(desired)))
        }
        (None, None) => unreachable!("clap requires -f or --dir"),
    }
}

pub fn run_backups(command: BackupsCommand) -> ExitCode {
    match command {
        BackupsCommand::List { at, tenant, json } => {
            let (dir, _) = match backup_dir(&at) {
                Ok(d) => d,
                Err(code) => return code,
            };
            let names = match tenant {
                Some(t) => vec![t],
                None => match backup::tenants(&dir) {
                    Ok(n) => n,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                },
            };
            let mut all = Vec::new();
            for n in &names {
                match backup::list(&dir, n) {
                    Ok(list) => all.extend(list),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            if json {
                say!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
                return ExitCode::SUCCESS;
            }
            say!(
                "{:<20} {:<16} {:<21} {:>10} {:<14} {:<14} verified",
                "id",
                "tenant",
                "time",
                "size",
                "image",
                "spec hash"
            );
            for m in &all {
                let image_id = m.image_id.trim_start_matches("sha256:");
                say!(
                    "{:<20} {:<16} {:<21} {:>10} {:<14} {:<14} {}",
                    m.id,
                    m.tenant,
                    backup::shown_time(m.created_unix),
                    size(m.size()),
                    &image_id[..image_id.len().min(12)],
                    &m.spec_hash[..m.spec_hash.len().min(12)],
                    match &m.verified {
                        None => "no".to_string(),
                        Some(v) if v.ok => format!("ok {}", backup::shown_time(v.at_unix)),
                        Some(_) => "FAILED".to_string(),
                    }
                );
            }
            ExitCode::SUCCESS
        }
        BackupsCommand::Verify { at, tenants } => {
            let (dir, _) = match backup_dir(&at) {
                Ok(d) => d,
                Err(code) => return code,
            };
            let names = if tenants.is_empty() {
                backup::tenants(&dir).unwrap_or_default()
            } else {
                tenants
            };
            let mut failed = 0;
            for n in &names {
                let list = match backup::list(&dir, n) {
                    Ok(l) => l,
                    Err(e) => {
                        failed += 1;
                        say!("FAIL {n}: {e}");
                        continue;
                    }
                };
                for m in &list {
                    match backup::verify_backup(&dir, m, tenantctl::clock::unix_secs()) {
                        Ok(v) if v.ok => say!("ok   {n} {}: {}", m.id, v.detail),
                        Ok(v) => {
                            failed += 1;
                            say!("FAIL {n} {}: {}", m.id, v.detail);
                        }
                        Err(e) => {
                            failed += 1;
                            say!("FAIL {n} {}: {e}", m.id);
                        }
                    }
                }
            }
            if failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

pub async fn run_restore(args: RestoreArgs, timeout: Duration) -> ExitCode {
    let desired = match super::load(&args.file) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let Some(tenant) = desired.tenants.get(&args.tenant) else {
        eprintln!("error: tenant `{}` is not in the file", args.tenant);
        return ExitCode::FAILURE;
    };
    let source = args
        .from_tenant
        .clone()
        .unwrap_or_else(|| args.tenant.clone());
    let list = match backup::list(&desired.backup.dir, &source) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let chosen = match (&args.backup_id, args.latest) {
        (_, true) => list.last(),
        (Some(id), false) => list.iter().find(|m| &m.id == id),
        (None, false) => unreachable!("clap requires an id or --latest"),
    };
    let Some(backup) = chosen else {
        eprintln!(
            "error: no such backup of tenant `{source}` in {}{}; `tenantctl backups list {source} -f FILE` shows them",
            desired.backup.dir.display(),
            if args.from_tenant.is_none() && args.backup_id.is_some() {
                " (a backup of another tenant needs --from-tenant)"
            } else {
                ""
            }
        );
        eprintln!("nothing was changed.");
        return ExitCode::FAILURE;
    };
    let docker = match super::connect(timeout).await {
        Ok(d) => d,
        Err(code) => return code,
    };
    let opts = RestoreOptions {
        dir: desired.backup.dir.clone(),
        deadline: args.health_deadline,
    };
    let progress = show_progress("restoring");
    let result = backup::restore_tenant(&docker, tenant, backup, &opts).await;
    end_progress(progress);
    match result {
        Ok(r) => {
            say!(
                "ok   {}: restored backup {}{} ({} files; down {:.1}s, healthy again)",
                tenant.name,
                r.id,
                args.from_tenant
                    .map(|f| format!(" of tenant {f}"))
                    .unwrap_or_default(),
                r.files,
                r.downtime.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(
            e @ (BackupError::Corrupt(_) | BackupError::Refused(_) | BackupError::NoContainer(_)),
        ) => {
            say!("FAIL {}: {e}", tenant.name);
            say!("nothing was changed.");
            ExitCode::FAILURE
        }
        Err(e) => {
            say!("FAIL {}: {e}", tenant.name);
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct PurgeArgs {
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    /// A tenant that has left the file.
    tenant: String,
    /// Yes, delete its volumes (after a final backup).
    #[arg(long, required = true)]
    yes: bool,
}

pub async fn run_purge(args: PurgeArgs, timeout: Duration) -> ExitCode {
    let desired = match super::load(&args.file) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let docker = match super::connect(timeout).await {
        Ok(d) => d,
        Err(code) => return code,
    };
    match backup::purge_tenant(
        &docker,
        &desired,
        &args.tenant,
        tenantctl::clock::unix_secs(),
    )
    .await
    {
        Ok(p) => {
            say!(
                "ok   {}: final backup {} ({}), then removed volumes {}",
                args.tenant,
                p.backup.id,
                size(p.backup.size()),
                p.volumes.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            say!("FAIL {}: {e}", args.tenant);
            say!("no volume was removed.");
            ExitCode::FAILURE
        }
    }
}
