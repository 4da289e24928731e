//! `tenantctl status -f FILE [--json]`: one row per tenant.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

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
    let rows = tenantctl::status::rows(&desired, &observed).await;
    let record = tenantctl::rollout::load(&desired).ok().flatten();
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
        "{:<16} {:<6} {:<8} {:<10} {:<10} {:<6} {:<8} {:<12} {:<21} {:<10} DRIFT",
        "TENANT",
        "PORT",
        "DESIRED",
        "STATE",
        "HEALTH",
        "PROBE",
        "IN SYNC",
        "VERSION",
        "LAST BACKUP",
        "CERT"
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
            "{:<16} {:<6} {:<8} {} {:<10} {} {:<8} {:<12} {:<21} {:<10} {}",
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
            // The day the certificate served for its domain expires.
            r.certificate_expiry_unix
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map_or_else(|| "-".to_string(), |d| d.format("%Y-%m-%d").to_string()),
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
