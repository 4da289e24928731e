//! The controller's side of backups: every tenant backed up on the
//! `[backup] schedule` (at most `concurrency` at once, so never the whole
//! fleet frozen together), retention applied, `after_command` run; and the
//! backup metrics, read from the backup folder itself so backups taken by
//! `tenantctl backup` count as much as scheduled ones.

use super::{newest, prune};
use crate::desired::{next_backup_fire, DesiredState};
use crate::docker::DockerClient;
use crate::metrics::Metrics;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the folder is read for the metrics between scheduled runs.
const SCAN: Duration = Duration::from_secs(60);

/// `observe_only`: the metrics only; no backup is taken (it would pause
/// tenants, and observe-only changes nothing).
pub async fn run_scheduler(
    docker: DockerClient,
    mut desired: watch::Receiver<Option<Arc<DesiredState>>>,
    metrics: Arc<Metrics>,
    observe_only: bool,
) {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let current = desired.borrow().clone();
        if let Some(d) = &current {
            export(d, &metrics, &mut seen);
        }
        let now = crate::clock::unix_secs();
        let next = current
            .as_ref()
            .and_then(|d| d.backup.schedule.as_deref())
            .and_then(|p| next_backup_fire(p, now));
        let nap = next.map_or(SCAN, |t| {
            Duration::from_secs((t - now).max(0) as u64).min(SCAN)
        });
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            changed = desired.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        }
        if let (Some(d), Some(t)) = (&current, next) {
            if crate::clock::unix_secs() >= t && !observe_only {
                run_all(&docker, d, &metrics).await;
                export(d, &metrics, &mut seen);
            }
        }
    }
}

/// One scheduled round over the fleet.
async fn run_all(docker: &DockerClient, desired: &DesiredState, metrics: &Metrics) {
    let spec = &desired.backup;
    let tenants: Vec<_> = desired
        .tenants
        .values()
        .filter(|t| !t.backup_volumes.is_empty() && !t.paused)
        .collect();
    tracing::info!(tenants = tenants.len(), "scheduled backups starting");
    futures_util::stream::iter(tenants)
        .for_each_concurrent(spec.concurrency, |t| async move {
            match super::backup_tenant(docker, spec, t, crate::clock::unix_secs()).await {
                Ok(m) => {
                    tracing::info!(tenant = %t.name, backup = %m.id, pause_seconds = m.pause_seconds, "backed up");
                    if let Err(e) = prune(&spec.dir, &t.name, &spec.keep) {
                        tracing::warn!(tenant = %t.name, error = %e, "retention failed");
                    }
                    if let Some(cmd) = &spec.after_command {
                        for v in &m.volumes {
                            let path = spec.dir.join(&t.name).join(&v.file);
                            if let Err(e) = after_command(cmd, &path).await {
                                metrics.backup_failures.with_label_values(&[&t.name]).inc();
                                tracing::warn!(tenant = %t.name, error = %e, "after_command failed; the backup is kept");
                            }
                        }
                    }
                }
                Err(e) => {
                    metrics.backup_failures.with_label_values(&[&t.name]).inc();
                    tracing::warn!(tenant = %t.name, error = %e, "scheduled backup failed");
                }
            }
        })
        .await;
}

/// Runs the off-site copy command with the archive's path appended.
pub async fn after_command(cmd: &[String], archive: &Path) -> Result<(), String> {
    let status = tokio::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .arg(archive)
        .status()
        .await
        .map_err(|e| format!("after_command `{}`: {e}", cmd[0]))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "after_command exited {status} for {}",
            archive.display()
        ))
    }
}

/// The newest backup of each tenant, as metrics; a backup not seen
/// before (by this process) adds its duration and pause to the histograms.
fn export(desired: &DesiredState, metrics: &Metrics, seen: &mut BTreeMap<String, String>) {
    for t in desired.tenants.values() {
        let newest = match newest(&desired.backup.dir, &t.name) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(tenant = %t.name, error = %e, "cannot read the backup folder");
                continue;
            }
        };
        let Some(m) = newest else { continue };
        metrics
            .backup_last_success
            .with_label_values(&[&t.name])
            .set(m.created_unix as f64);
        metrics
            .backup_size
            .with_label_values(&[&t.name])
            .set(m.size() as f64);
        if seen.get(&t.name).is_some_and(|id| *id != m.id) {
            metrics.backup_duration.observe(m.duration_seconds);
            metrics.backup_pause.observe(m.pause_seconds);
        }
        seen.insert(t.name.clone(), m.id);
    }
}
