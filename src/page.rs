//! The status page the controller serves at `/`: one server-rendered HTML
//! document — no JavaScript, no external asset, works offline, refreshes
//! itself — with a fleet summary and one row per tenant (highlighted when
//! something is wrong). It shows; it changes nothing. Pure: the rows and
//! usage samples come in, a string goes out.

use crate::metrics::UsageSample;
use crate::status::Row;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Seconds between the page's own reloads.
pub const REFRESH_SECS: u32 = 10;

/// Whether a row needs a human: down, not running, out of sync, or the
/// tenant a rollout halted at. A paused tenant is expected to be down.
pub fn is_wrong(r: &Row) -> bool {
    (!r.paused && (r.state != "running" || !r.probe))
        || !r.in_sync
        || r.rollout.as_deref() == Some("halted")
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A small inline SVG line of `values` (scaled to their own maximum).
fn sparkline(values: &[f64]) -> String {
    if values.len() < 2 {
        return String::new();
    }
    let max = values
        .iter()
        .cloned()
        .fold(f64::MIN, f64::max)
        .max(f64::EPSILON);
    let (w, h) = (80.0, 18.0);
    let step = w / (values.len() - 1) as f64;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                h - 1.0 - (v / max) * (h - 2.0)
            )
        })
        .collect();
    format!(
        r#"<svg class="spark" width="80" height="18" viewBox="0 0 80 18" aria-hidden="true"><polyline fill="none" stroke="currentColor" stroke-width="1.2" points="{}"/></svg>"#,
        points.join(" ")
    )
}

/// CPU (cores busy, from consecutive samples) and memory series.
fn usage_series(samples: &[UsageSample]) -> (Vec<f64>, Vec<f64>) {
    let cpu = samples
        .windows(2)
        .map(|w| {
            let dt = (w[1].at - w[0].at).max(0.001);
            ((w[1].cpu_seconds - w[0].cpu_seconds) / dt).max(0.0)
        })
        .collect();
    let mem = samples.iter().map(|s| s.memory_bytes).collect();
    (cpu, mem)
}

fn memory(bytes: f64) -> String {
    match bytes {
        b if b >= (1u64 << 30) as f64 => format!("{:.1} GiB", b / (1u64 << 30) as f64),
        b => format!("{:.0} MiB", b / (1u64 << 20) as f64),
    }
}

/// The whole page. `now` is shown as the time of this look.
pub fn render(
    fleet: &str,
    rows: &[Row],
    usage: &BTreeMap<String, Vec<UsageSample>>,
    halted: Option<&str>,
    now: &str,
) -> String {
    let up = rows.iter().filter(|r| r.probe).count();
    let in_sync = rows.iter().filter(|r| r.in_sync).count();
    let wrong = rows.iter().filter(|r| is_wrong(r)).count();
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tenantctl — {fleet}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}}
h1{{font-size:1.3em;margin:0 0 .3em}}
.summary{{display:flex;gap:1.5em;margin:.5em 0 1em}}
.summary div{{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5em 1em}}
.summary b{{display:block;font-size:1.5em}}
.banner{{background:#fde8e8;border:1px solid #e0a0a0;padding:.6em 1em;border-radius:6px;margin-bottom:1em}}
table{{border-collapse:collapse;width:100%;background:#fff}}
th,td{{text-align:left;padding:.35em .6em;border-bottom:1px solid #eee;white-space:nowrap}}
th{{background:#f0f0f0;font-weight:600}}
tr.wrong td{{background:#fdecec}}
tr.wrong td:first-child{{border-left:4px solid #c62828}}
.ok{{color:#2e7d32}} .bad{{color:#c62828;font-weight:600}} .muted{{color:#888}}
.spark{{vertical-align:middle;color:#1565c0;margin-left:.3em}}
td.drift{{white-space:normal;max-width:28em}}
footer{{margin-top:1em;color:#888;font-size:.9em}}
</style></head><body>
<h1>tenantctl — fleet <code>{fleet}</code></h1>
<div class="summary">
<div id="tenants"><b>{total}</b>tenants</div>
<div id="up"><b>{up}</b>up</div>
<div id="in-sync"><b>{in_sync}</b>in sync</div>
<div id="wrong"><b class="{wrong_class}">{wrong}</b>need attention</div>
</div>
"#,
        fleet = esc(fleet),
        total = rows.len(),
        wrong_class = if wrong > 0 { "bad" } else { "ok" },
    );
    if let Some(h) = halted {
        let _ = writeln!(html, r#"<div class="banner" id="halted">{}</div>"#, esc(h));
    }
    html.push_str(
        "<table><thead><tr><th>tenant</th><th>state</th><th>health</th><th>in sync</th><th>drift</th><th>version</th><th>port / domain</th><th>restarts</th><th>CPU</th><th>memory</th><th>last backup</th><th>certificate</th></tr></thead><tbody>\n",
    );
    for r in rows {
        let samples = usage.get(&r.tenant).map(Vec::as_slice).unwrap_or_default();
        let (cpu, mem) = usage_series(samples);
        let cpu_now = cpu
            .last()
            .map_or("-".to_string(), |c| format!("{:.0}%", c * 100.0));
        let mem_now = mem.last().map_or("-".to_string(), |m| memory(*m));
        let state = if r.paused {
            format!(r#"<span class="muted">paused ({})</span>"#, esc(&r.state))
        } else if r.state == "running" && r.probe {
            r#"<span class="ok">up</span>"#.to_string()
        } else {
            format!(
                r#"<span class="bad">{}</span>"#,
                if r.state == "running" {
                    "down".to_string()
                } else {
                    esc(&r.state)
                }
            )
        };
        let mut drift = r.drift.iter().map(|d| esc(d)).collect::<Vec<_>>();
        if let Some(part) = &r.rollout {
            drift.insert(0, format!("rollout: {}", esc(part)));
        }
        let _ = writeln!(
            html,
            r#"<tr id="tenant-{id}" class="{class}" data-state="{state_attr}"><td><b>{name}</b></td><td>{state}</td><td>{health}</td><td>{sync}</td><td class="drift">{drift}</td><td><code>{version}</code></td><td>{port}{domain}</td><td>{restarts}</td><td>{cpu_now}{cpu_line}</td><td>{mem_now}{mem_line}</td><td>{backup}</td><td>{cert}</td></tr>"#,
            id = esc(&r.tenant),
            class = if is_wrong(r) { "wrong" } else { "" },
            state_attr = esc(&r.state),
            name = esc(&r.tenant),
            health = esc(&r.health),
            sync = if r.in_sync {
                r#"<span class="ok">yes</span>"#
            } else {
                r#"<span class="bad">no</span>"#
            },
            drift = if drift.is_empty() {
                "-".to_string()
            } else {
                drift.join("; ")
            },
            version = r.image_id.as_deref().map_or("-".to_string(), |id| esc(&id
                .trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>())),
            port = r.port,
            domain = r
                .domain
                .as_deref()
                .map_or(String::new(), |d| format!(" · {}", esc(d))),
            restarts = r.restart_count.map_or("-".to_string(), |n| n.to_string()),
            cpu_line = sparkline(&cpu),
            mem_line = sparkline(&mem),
            backup = r
                .last_backup_unix
                .map_or("-".to_string(), crate::backup::shown_time),
            cert = r
                .certificate_expiry_unix
                .map_or("-".to_string(), |t| format!(
                    "expires {}",
                    crate::backup::shown_time(t)
                )),
        );
    }
    let _ = write!(
        html,
        "</tbody></table>\n<footer>Looked at {} · reloads every {REFRESH_SECS}s · the same data as JSON: <a href=\"/api/status\">/api/status</a> · <a href=\"/metrics\">/metrics</a></footer>\n</body></html>\n",
        esc(now)
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, state: &str, probe: bool) -> Row {
        Row {
            tenant: name.into(),
            container: format!("mai-{name}"),
            port: 8001,
            domain: Some(format!("{name}.example.com")),
            restart_count: Some(0),
            certificate_expiry_unix: None,
            paused: false,
            state: state.into(),
            health: "healthy".into(),
            probe,
            in_sync: state == "running",
            last_backup_unix: None,
            image_id: Some("sha256:0123456789abcdef".into()),
            rollout: None,
            drift: if state == "running" {
                vec![]
            } else {
                vec![format!("container {state}")]
            },
        }
    }

    #[test]
    fn a_stopped_tenant_is_highlighted_and_text_is_escaped() {
        let rows = vec![row("acme", "running", true), row("<b>x", "exited", false)];
        let usage = BTreeMap::from([(
            "acme".to_string(),
            vec![
                UsageSample {
                    at: 0.0,
                    cpu_seconds: 0.0,
                    memory_bytes: 1e8,
                },
                UsageSample {
                    at: 10.0,
                    cpu_seconds: 5.0,
                    memory_bytes: 2e8,
                },
            ],
        )]);
        let html = render("mai", &rows, &usage, None, "now");
        assert!(html.contains(r#"<tr id="tenant-acme" class="" data-state="running">"#));
        assert!(html.contains(r#"id="tenant-&lt;b&gt;x" class="wrong""#));
        assert!(!html.contains("<b>x"), "escaped");
        assert!(html.contains("50%"), "CPU from two samples");
        assert!(html.contains("<svg"), "a sparkline");
        assert!(!html.contains("<script"), "no JavaScript");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external asset"
        );
    }
}
