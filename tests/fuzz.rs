//! Hostile input (issue 17, item 5): mutated and generated tenants files
//! never panic `validate` or `plan`; every rejection carries
//! `PATH:LINE:COL`; and whatever validates renders an nginx config into
//! which no tenant value can carry a `;`, `{`, `}`, newline, `$` or quote.
//! Pure (no Docker): the loader, resolver, planner and renderer.
//!
//! Case counts: `FUZZ_CASES` (default 2,000 per property in CI; `make
//! fuzz` runs 20,000).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tenantctl::desired::DesiredState;
use tenantctl::observe::ObservedState;
use tenantctl::plan::{plan_host, Options, ProxyView};

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/mai")
}

/// A valid file using most keys: the seed for mutations.
fn base_file() -> String {
    format!(
        r#"name_prefix = "fz"
network = "fz-net"
labels = {{ "team" = "ops" }}

[proxy]
kind = "nginx"
config_dir = "/tmp/tenantctl-fuzz-nginx"
test_command = ["nginx", "-t"]
reload_command = ["nginx", "-s", "reload"]
retry_after = 30

[rollout]
groups = ["canary"]
max_unavailable = 1

[defaults]
chart = "{chart}"
resources = {{ cpus = 0.5, memory = "256M", memory_reservation = "128M" }}
health = {{ interval = "5s" }}

[tenants.acme]
port = 8001
domain = "acme.example.com"
display_name = "ACME Corp"
rollout_group = "canary"
env = {{ FEATURE = "on" }}
labels = {{ "traefik.enable" = "true" }}
extra_hosts = {{ "host.docker.internal" = "host-gateway" }}

[tenants.globex]
port = 8002
domain = "globex.example.com"
hardening = {{ read_only = true, tmpfs = ["/tmp"], pids_limit = 64 }}

[tenants.initech]
port = 8003
paused = true
"#,
        chart = chart_dir().display()
    )
}

const PATH: &str = "/fuzz/tenants.toml";

/// Loads `text` as the tenants file at [`PATH`] and, when it validates,
/// plans it against an empty host; returns the desired state and the
/// nginx files the plan wants.
fn validate_and_plan(text: &str) -> Result<(DesiredState, BTreeMap<String, String>), String> {
    match tenantctl::load::load_desired_from(Path::new(PATH), text.to_string()) {
        Ok(desired) => {
            let options = Options {
                prune: true,
                adopt: None,
                proxy: ProxyView::AfterApply,
            };
            let plan = plan_host(
                &desired,
                &ObservedState::default(),
                &tenantctl::proxy::ProxyHost::default(),
                options,
            );
            let _ = plan.to_string();
            let files = plan.proxy.map(|p| p.files).unwrap_or_default();
            Ok((desired, files))
        }
        Err(diags) => {
            // Every rejection points into a file: PATH:LINE:COL.
            assert!(!diags.0.is_empty(), "a rejection without a message");
            for d in &diags.0 {
                let shown = d.to_string();
                let (line, col) = (d.line, d.col);
                assert!(line >= 1 && col >= 1, "no position in {shown:?}");
                assert!(
                    shown.starts_with(&format!("{}:{line}:{col}", d.path.display())),
                    "not PATH:LINE:COL: {shown:?}"
                );
            }
            Err(diags.to_string())
        }
    }
}

/// A folder with a real `cert.pem` and its `key.pem` (`validate` reads
/// static TLS files, so the benign paths must hold a matching pair),
/// removed on drop.
struct TlsDir(std::path::PathBuf);

impl TlsDir {
    fn new() -> TlsDir {
        let dir = std::env::temp_dir().join(format!("tenantctl-fuzz-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["hostile.example.com".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        TlsDir(dir)
    }
}

impl Drop for TlsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The characters that would let a value change nginx's grammar.
const FORBIDDEN: &[char] = &[';', '{', '}', '\n', '\r', '$', '"', '\'', '#', '\\', ' '];

/// What reaches the nginx config from a tenant is free of [`FORBIDDEN`],
/// and every directive in it is one tenantctl writes.
fn check_rendered(desired: &DesiredState, files: &BTreeMap<String, String>) {
    for t in desired.tenants.values() {
        let mut values = vec![t.name.clone(), t.host_ip.clone(), t.port.to_string()];
        values.extend(t.domain.clone());
        if let Some(tls) = t
            .tls
            .as_ref()
            .and_then(tenantctl::desired::TlsSource::files)
        {
            values.push(tls.certificate.display().to_string());
            values.push(tls.key.display().to_string());
        }
        for v in values {
            assert!(
                !v.contains(FORBIDDEN),
                "tenant {} carries {v:?} into the nginx config",
                t.name
            );
        }
    }
    const DIRECTIVES: &[&str] = &[
        "listen",
        "server_name",
        "return",
        "ssl_certificate",
        "ssl_certificate_key",
        "client_max_body_size",
        "location",
        "proxy_pass",
        "proxy_http_version",
        "proxy_set_header",
        "proxy_buffering",
        "proxy_request_buffering",
        "proxy_read_timeout",
        "proxy_send_timeout",
        "error_page",
        "default_type",
        "add_header",
        "server",
        "map",
        "default",
        "''",
        "~*websocket",
        "ssl_reject_handshake",
    ];
    for (name, text) in files {
        let (mut open, mut close) = (0, 0);
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line == "}" {
                close += usize::from(line == "}");
                continue;
            }
            open += line.matches('{').count();
            close += line.matches('}').count();
            let word = line.split_whitespace().next().unwrap_or_default();
            assert!(
                DIRECTIVES.contains(&word),
                "{name}: unexpected directive {word:?} in {line:?}"
            );
        }
        assert_eq!(open, close, "{name}: unbalanced braces");
    }
}

/// Runs `cases()` cases of `strategy`, each building a tenants file that
/// is validated, planned and (when valid) checked; returns (valid,
/// rejected) counts.
fn run_cases<S: Strategy>(strategy: S, file: impl Fn(S::Value) -> String) -> (u32, u32) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let (valid, rejected) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
    runner
        .run(&strategy, |value| {
            match validate_and_plan(&file(value)) {
                Ok((desired, files)) => {
                    valid.set(valid.get() + 1);
                    check_rendered(&desired, &files);
                }
                Err(_) => rejected.set(rejected.get() + 1),
            }
            Ok(())
        })
        .unwrap();
    (valid.get(), rejected.get())
}

/// One edit of the text: insert, delete or replace at a position, or
/// duplicate / drop a line.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, String),
    Delete(usize, usize),
    Replace(usize, char),
    DuplicateLine(usize),
    DropLine(usize),
}

fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            ';', '{', '}', '\n', '$', '"', '\'', '#', '\\', ' ', '=', '[', ']', '.', ',', '-', '0',
            '9', 'a', 'z', '\t', '\u{0}', 'é', '/', '*', ':'
        ]),
        any::<char>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), prop::collection::vec(hostile_char(), 1..8))
            .prop_map(|(at, s)| Edit::Insert(at, s.into_iter().collect())),
        (any::<usize>(), 1usize..40).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), hostile_char()).prop_map(|(at, c)| Edit::Replace(at, c)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        any::<usize>().prop_map(Edit::DropLine),
    ]
}

fn char_boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply_edit(text: &mut String, e: &Edit) {
    match e {
        Edit::Insert(at, s) => {
            let at = char_boundary(text, *at);
            text.insert_str(at, s);
        }
        Edit::Delete(at, n) => {
            let start = char_boundary(text, *at);
            let end = char_boundary(text, (start + n).min(text.len()));
            if end > start {
                text.replace_range(start..end, "");
            }
        }
        Edit::Replace(at, c) => {
            let at = char_boundary(text, *at);
            if let Some(old) = text[at..].chars().next() {
                text.replace_range(at..at + old.len_utf8(), &c.to_string());
            }
        }
        Edit::DuplicateLine(i) | Edit::DropLine(i) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                return;
            }
            let i = i % lines.len();
            if matches!(e, Edit::DuplicateLine(_)) {
                lines.insert(i, lines[i]);
            } else {
                lines.remove(i);
            }
            *text = lines.join("\n");
        }
    }
}

#[test]
fn the_base_file_validates_and_renders_cleanly() {
    let (desired, files) = validate_and_plan(&base_file()).expect("the base file is valid");
    assert_eq!(desired.tenants.len(), 3);
    assert!(files.len() >= 3, "{files:?}");
    check_rendered(&desired, &files);
}

#[test]
fn mutated_tenants_files_never_panic_and_point_at_their_errors() {
    let base = base_file();
    let (valid, rejected) = run_cases(prop::collection::vec(edit(), 1..6), |edits| {
        let mut text = base.clone();
        for e in &edits {
            apply_edit(&mut text, e);
        }
        text
    });
    println!("mutated files: {valid} valid, {rejected} rejected");
    assert!(
        rejected > 0 && valid > 0,
        "{valid} valid, {rejected} rejected"
    );
}

/// A TOML basic string holding exactly `s` (so the value, not the TOML
/// syntax, is what the resolver sees).
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn hostile_value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(vec!['a', 'b', 'x', '0', '1', '.', '-']),
            1 => hostile_char(),
        ],
        0..24,
    )
    .prop_map(|v| v.into_iter().collect())
}

#[test]
fn hostile_tenant_values_either_fail_validation_or_stay_out_of_nginx_grammar() {
    // Each value is benign two times in three, so that files with one or
    // two hostile values in otherwise valid places validate too.
    let or_benign =
        |benign: &str| prop_oneof![2 => Just(benign.to_string()), 1 => hostile_value()].boxed();
    let strategy = (
        or_benign("hostile.example.com"),
        or_benign("Hostile Inc"),
        or_benign("plain"),
        or_benign("value"),
        or_benign("cert.pem"),
        or_benign("key.pem"),
    );
    let tls = TlsDir::new();
    let (valid, rejected) = run_cases(strategy, |(domain, display, env, label, cert, key)| {
        format!(
                "{}\n[tenants.hostile]\nport = 8010\ndomain = {}\ndisplay_name = {}\nenv = {{ NOTE = {} }}\nlabels = {{ \"x\" = {} }}\ntls = {{ certificate = {}, key = {} }}\n",
                base_file(),
                toml_string(&domain),
                toml_string(&display),
                toml_string(&env),
                toml_string(&label),
                toml_string(&format!("{}/{cert}", tls.0.display())),
                toml_string(&format!("{}/{key}", tls.0.display())),
            )
    });
    println!("generated values: {valid} valid, {rejected} rejected");
    assert!(rejected > 0, "{valid} valid, {rejected} rejected");
}
