//! `tenantctl status -f FILE [--json]`: one row per tenant.

use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tenantctl::plan::Step;

#[derive(Serialize)]
struct Row {
    tenant: String,
    container: String,
    port: u16,
    paused: bool,
    state: String,
    /// Docker's health status of the container.
    health: String,
    /// Whether GET <health path> answers 2xx from the host right now.
    probe: bool,
    in_sync: bool,
    /// When the newest backup was taken (`backups list` has them all).
    last_backup_unix: Option<i64>,
    /// The image id the container runs (its version).
    image_id: Option<String>,
    /// Its part in the fleet's last rollout, when that rollout is not done
    /// (`pending`, `rolled_back`, …), `halted` for the tenant it halted at.
    rollout: Option<String>,
    drift: Vec<String>,
}

/// One look at the fleet: the table (or JSON), refreshed in place every
/// `watch` when asked (on a terminal the screen is redrawn; piped, each
/// look follows the last).
pub async fn run(file: &Path, json: bool, watch: Option<Duration>, timeout: Duration) -> ExitCode {
    let style = super::style::Style::stdout();
    loop {
        let (text, code) = match look(file, json, timeout, style).await {
            Ok(text) => (text, ExitCode::SUCCESS),
            Err(code) => (String::new(), code),
        };
        let Some(every) = watch else {
            if !text.is_empty() {
                say!("{}", text.trim_end());
            }
            return code;
        };
        let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
        if style.is_terminal() {
            // Home, clear: one frame written at once, no flicker.
            say!(
                "\x1b[H\x1b[2J{now}  every {}s, Ctrl-C stops\n\n{}",
                every.as_secs(),
                text.trim_end()
            );
        } else {
            say!("{now}\n{}\n", text.trim_end());
        }
        tokio::time::sleep(every).await;
    }
}

async fn look(
    file: &Path,
    json: bool,
    timeout: Duration,
    style: super::style::Style,
) -> Result<String, ExitCode> {
    let (desired, _docker, observed) = super::load_and_observe(file, timeout).await?;
    let plan = tenantctl::plan::plan(&desired, &observed, false);
    let record = tenantctl::rollout::load(&desired).unwrap_or_else(|e| {
        eprintln!("warning: {e}");
        None
    });
    let rollout_part = |tenant: &str| {
        let r = record
            .as_ref()
            .filter(|r| r.phase != tenantctl::rollout::Phase::Done)?;
        if r.halted_at.as_deref() == Some(tenant) {
            return Some("halted".to_string());
        }
        r.tenants.get(tenant).map(|p| p.as_str().to_string())
    };
    let probes: std::collections::BTreeMap<String, bool> =
        futures_util::future::join_all(desired.tenants.values().map(|t| async move {
            let host = tenantctl::probe::probe_host(t);
            let timeout =
                Duration::from_nanos(t.health.timeout_ns.clamp(100_000_000, 5_000_000_000) as u64);
            (
                t.name.clone(),
                tenantctl::probe::probe_http(&host, t.port, &t.health.path, timeout).await,
            )
        }))
        .await
        .into_iter()
        .collect();
    let rows: Vec<Row> = plan
        .tenants
        .iter()
        .map(|t| {
            let c = observed.managed(&desired.tenants[&t.tenant]);
            let mut drift: Vec<String> = t
                .conflicts
                .iter()
                .map(|c| format!("{} conflict", c.resource))
                .collect();
            for step in &t.steps {
                match step {
                    Step::CreateVolume { name } => drift.push(format!("volume {name} missing")),
                    Step::Create => drift.push("container missing".into()),
                    Step::Recreate { changes } | Step::Update { changes } => {
                        drift.extend(changes.iter().map(|c| format!("{} changed", c.field)))
                    }
                    Step::Start { state } => drift.push(format!("container {state}")),
                    Step::Unpause => drift.push("container paused".into()),
                    Step::Recover { .. } => drift.push("container under another name".into()),
                    Step::Adopt { .. } => drift.push("container not managed (adoptable)".into()),
                }
            }
            Row {
                tenant: t.tenant.clone(),
                container: t.container.clone(),
                port: desired.tenants[&t.tenant].port,
                paused: t.paused,
                state: c.map_or_else(|| "missing".into(), |c| c.state.to_string()),
                health: c
                    .and_then(|c| c.health)
                    .map_or_else(|| "-".into(), |h| h.to_string()),
                probe: probes.get(&t.tenant).copied().unwrap_or(false),
                in_sync: t.in_sync(),
                last_backup_unix: tenantctl::backup::newest(&desired.backup.dir, &t.tenant)
                    .ok()
                    .flatten()
                    .map(|m| m.created_unix),
                image_id: c.map(|c| c.image_id.clone()),
                rollout: rollout_part(&t.tenant),
                drift,
            }
        })
        .collect();
    if json {
        return Ok(serde_json::to_string_pretty(&rows).unwrap_or_default());
    }
    use std::fmt::Write as _;
    let mut out = String::new();
    if let Some(r) = record.filter(|r| r.phase != tenantctl::rollout::Phase::Done) {
        let _ = writeln!(
            out,
            "{} (see `tenantctl rollout status`)",
            style.bad(&r.summary())
        );
    }
    let _ = writeln!(
        out,
        "{:<16} {:<6} {:<8} {:<10} {:<10} {:<6} {:<8} {:<12} {:<21} DRIFT",
        "TENANT",
        "PORT",
        "DESIRED",
        "STATE",
        "HEALTH",
        "PROBE",
        "IN SYNC",
        "VERSION",
        "LAST BACKUP"
    );
    for r in &rows {
        let version = r.image_id.as_deref().map_or("-".to_string(), |id| {
            id.trim_start_matches("sha256:").chars().take(12).collect()
        });
        let drift = match (&r.rollout, r.drift.is_empty()) {
            (Some(part), true) => format!("rollout: {part}"),
            (Some(part), false) => format!("rollout: {part}; {}", r.drift.join("; ")),
            (None, true) => "-".to_string(),
            (None, false) => r.drift.join("; "),
        };
        // Padded before painting: escape codes have no width.
        let state = format!("{:<10}", r.state);
        let probe = format!("{:<6}", if r.probe { "up" } else { "down" });
        let wrong = !r.paused && (!r.probe || r.state != "running");
        let (state, probe) = match (wrong, r.probe) {
            (true, _) => (style.bad(&state), style.bad(&probe)),
            (false, true) => (style.good(&state), style.good(&probe)),
            (false, false) => (style.warn(&state), style.warn(&probe)),
        };
        let _ = writeln!(
            out,
            "{:<16} {:<6} {:<8} {} {:<10} {} {:<8} {:<12} {:<21} {}",
            r.tenant,
            r.port,
            if r.paused { "paused" } else { "running" },
            state,
            r.health,
            probe,
            if r.in_sync { "yes" } else { "no" },
            version,
            r.last_backup_unix
                .map_or_else(|| "-".to_string(), tenantctl::backup::shown_time),
            drift
        );
    }
    let leftovers = tenantctl::capacity::leftover_volumes(&desired, &observed);
    if !leftovers.is_empty() {
        let _ = writeln!(
            out,
            "\nVolumes of tenants no longer in the file (kept; `tenantctl purge` removes them after a final backup):"
        );
        for (tenant, volumes) in &leftovers {
            let _ = writeln!(out, "  {tenant}: {}", volumes.join(", "));
        }
    }
    Ok(out)
}
