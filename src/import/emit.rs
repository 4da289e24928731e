//! The files import writes, as text: `tenants.toml`, one env file per
//! tenant with secrets, and the report. Pure and deterministic: the same
//! input gives byte-identical files (nothing dated, everything sorted).

use super::compose::Health;
use super::map::{Fleet, Tenant};
use super::{Finding, Severity};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A TOML string literal.
fn s(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A TOML key: bare when it can be, quoted otherwise.
fn key(text: &str) -> String {
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        text.to_string()
    } else {
        s(text)
    }
}

fn inline(map: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), s(v)))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

fn duration(ns: i64) -> String {
    if ns % 1_000_000_000 == 0 {
        format!("{}s", ns / 1_000_000_000)
    } else {
        format!("{}ms", ns / 1_000_000)
    }
}

/// The env file of a tenant's secrets, relative to the tenants file.
pub fn env_file_name(tenant: &str) -> String {
    format!("env/{tenant}.env")
}

pub fn tenants_toml(fleet: &Fleet, chart_rel: &str, header: &str) -> String {
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(out, "name_prefix = {}", s(&fleet.name_prefix));
    let _ = writeln!(out, "network = {}", s(&fleet.network));
    let _ = writeln!(out, "host_ip = {}", s(&fleet.host_ip));
    let _ = writeln!(out, "\n[defaults]\nchart = {}", s(chart_rel));
    // Taken over as they run: compose started them with Docker's defaults,
    // and a chart's [hardening] would recreate every client at adoption.
    let _ = writeln!(
        out,
        "# The compose files ran these clients with Docker's defaults (every\n\
         # capability, no pids limit). Delete this line to harden them as the\n\
         # chart says: each client is then recreated once, by a rollout.\n\
         hardening = {{ enabled = false }}"
    );
    for t in &fleet.tenants {
        tenant_table(&mut out, t);
    }
    out
}

fn tenant_table(out: &mut String, t: &Tenant) {
    let _ = writeln!(out, "\n# from {}", t.source);
    let _ = writeln!(out, "[tenants.{}]", key(&t.name));
    let _ = writeln!(out, "port = {}", t.port);
    if let Some(d) = &t.domain {
        let _ = writeln!(out, "domain = {}", s(d));
    }
    if let Some(d) = &t.display_name {
        let _ = writeln!(out, "display_name = {}", s(d));
    }
    if let Some(i) = &t.image {
        let _ = writeln!(out, "image = {}", s(i));
    }
    if let Some(r) = &t.restart {
        let _ = writeln!(out, "restart = {}", s(r));
    }
    if let Some(secs) = t.stop_timeout {
        let _ = writeln!(out, "stop_timeout = {secs}");
    }
    if !t.volumes.is_empty() {
        let _ = writeln!(out, "volumes = {}", inline(&t.volumes));
    }
    if !t.env.is_empty() {
        let _ = writeln!(out, "env = {}", inline(&t.env));
    }
    if !t.secrets.is_empty() {
        let _ = writeln!(out, "env_files = [{}]", s(&env_file_name(&t.name)));
    }
    if !t.resources.is_empty() {
        let r: BTreeMap<String, String> = t
            .resources
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let _ = writeln!(out, "resources = {}", inline(&r));
    }
    if !t.extra_hosts.is_empty() {
        let _ = writeln!(out, "extra_hosts = {}", inline(&t.extra_hosts));
    }
    if !t.labels.is_empty() {
        let _ = writeln!(out, "labels = {}", inline(&t.labels));
    }
    if !t.networks.is_empty() {
        let list: Vec<String> = t.networks.iter().map(|n| s(n)).collect();
        let _ = writeln!(out, "networks = [{}]", list.join(", "));
    }
    if let Some(h) = &t.health {
        let _ = writeln!(out, "health = {}", health(h));
    }
    if let Some((cert, key_path)) = &t.tls {
        let _ = writeln!(
            out,
            "tls = {{ certificate = {}, key = {} }}",
            s(cert),
            s(key_path)
        );
    }
}

/// A compose health check as the tenant's `health` table, with Docker's
/// defaults written out for what compose left unset (what runs today).
fn health(h: &Health) -> String {
    let command: Vec<String> = h.command.iter().map(|c| s(c)).collect();
    format!(
        "{{ command = [{}], interval = {}, timeout = {}, retries = {}, start_period = {} }}",
        command.join(", "),
        s(&duration(h.interval_ns.unwrap_or(30_000_000_000))),
        s(&duration(h.timeout_ns.unwrap_or(30_000_000_000))),
        h.retries.unwrap_or(3),
        s(&duration(h.start_period_ns.unwrap_or(0))),
    )
}

/// `KEY="value"` lines (the env file reader strips one level of quotes).
pub fn env_file(secrets: &BTreeMap<String, String>) -> String {
    let mut out = String::from(
        "# Secrets imported by `tenantctl import`; keep this file out of git (mode 0600).\n",
    );
    for (k, v) in secrets {
        let _ = writeln!(out, "{k}=\"{v}\"");
    }
    out
}

pub fn report(fleet: &Fleet, findings: &[Finding], sources: &str, written: bool) -> String {
    let mut out = String::from("# tenantctl import report\n\n");
    let _ = writeln!(out, "{sources}\n");
    let _ = writeln!(out, "## Tenants ({})\n", fleet.tenants.len());
    let _ = writeln!(
        out,
        "| tenant | port | domain | data | from |\n|---|---|---|---|---|"
    );
    for t in &fleet.tenants {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            t.name,
            t.port,
            t.domain.as_deref().unwrap_or("-"),
            t.volumes.get("data").map_or("-", String::as_str),
            t.source
        );
    }
    let unmapped: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Unmapped)
        .collect();
    let notes: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Note)
        .collect();
    let _ = writeln!(out, "\n## Not carried over ({})\n", unmapped.len());
    if unmapped.is_empty() {
        let _ = writeln!(out, "Nothing: every key of every file was mapped.");
    }
    for f in unmapped {
        let _ = writeln!(out, "- {f}");
    }
    let _ = writeln!(out, "\n## Notes ({})\n", notes.len());
    for f in notes {
        let _ = writeln!(out, "- {f}");
    }
    let _ = writeln!(
        out,
        "\n## Next steps\n\n{}1. Review `tenants.toml` (and `env/`), then `tenantctl plan -f tenants.toml --adopt`: every client should be one `adopt` and nothing else.\n2. `tenantctl apply -f tenants.toml --adopt` replaces each compose container by a managed one on the same data, one at a time, and prints each client's downtime.\n3. Stop using the compose directories (do not run `docker-compose up` in them again: it would start a second container on the same data); keep their `data/` and `backups/` directories, which the tenants now mount.\n4. To let tenantctl write the nginx config, add a `[proxy]` table (README) and remove the hand-written site files in the same change.",
        if written { "" } else { "0. Nothing was written: fix what is listed above, or pass `--allow-partial` to write the rest.\n" }
    );
    out
}
