//! Spec validation: every error the core issue lists, each pinned to its
//! `PATH:LINE:COL`, plus desired-state resolution (defaults, overrides,
//! chart). No Docker needed: this is the pure core behind `validate`.

use std::path::PathBuf;
use tenantctl::desired::{DesiredState, MountSource};
use tenantctl::load::load_desired;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "tenantctl-validate-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chart_path() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("charts/mai")
        .display()
        .to_string()
}

/// `body` followed by a `[defaults]` table naming the mAI chart, so line
/// numbers in `body` are the file's own.
fn with_chart(body: &str) -> String {
    format!("{body}\n[defaults]\nchart = \"{}\"\n", chart_path())
}

/// Loads `body` and returns its errors as `LINE:COL: message` (no path).
fn errors_of(body: &str) -> Vec<String> {
    let dir = Dir::new("err");
    let text = with_chart(body);
    let path = dir.write("tenants.toml", &text);
    match load_desired(&path) {
        Ok(_) => vec![],
        Err(diags) => diags
            .0
            .iter()
            .map(|d| {
                assert_eq!(d.path, path, "error in the tenants file: {d}");
                format!("{}:{}: {}", d.line, d.col, d.message)
            })
            .collect(),
    }
}

fn load_ok(body: &str) -> DesiredState {
    load_text(&with_chart(body))
}

fn load_text(text: &str) -> DesiredState {
    let dir = Dir::new("ok");
    let path = dir.write("tenants.toml", text);
    load_desired(&path).unwrap_or_else(|e| panic!("expected valid, got:\n{e}"))
}

/// Asserts exactly one error, at `line:col`, whose message contains `needle`.
fn assert_error(body: &str, at: &str, needle: &str) {
    let errors = errors_of(body);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    assert!(
        errors[0].starts_with(&format!("{at}: ")),
        "expected {at}, got {}",
        errors[0]
    );
    assert!(
        errors[0].contains(needle),
        "expected {needle:?} in {}",
        errors[0]
    );
}

#[test]
fn the_bundled_demo_fleet_is_valid() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let desired = load_desired(&root.join("desired-state/tenants.toml")).unwrap();
    assert_eq!(desired.tenants.len(), 20);
    let ports: Vec<u16> = desired.tenants.values().map(|t| t.port).collect();
    assert_eq!(ports.iter().min(), Some(&8001));
    assert_eq!(ports.iter().max(), Some(&8020));
    let abc = &desired.tenants["companyabc"];
    assert_eq!(abc.domain.as_deref(), Some("companyabc.mai-production.com"));
    assert_eq!(abc.env["WEBUI_NAME"].value, "mAI - Company ABC");
    assert_eq!(desired.network, "mai-network");
}

#[test]
fn toml_syntax_error_has_its_position() {
    assert_error(
        "[tenants.a]\nport = 8001\ndomain = \"a.example.com\n",
        "3:24",
        "TOML syntax",
    );
}

#[test]
fn unknown_keys_are_errors_at_the_key() {
    assert_error(
        "colour = 1\n[tenants.a]\nport = 8001\n",
        "1:1",
        "unknown key `colour`",
    );
    assert_error(
        "[tenants.a]\nport = 8001\nprot = 8002\n",
        "3:1",
        "unknown field `prot`",
    );
    assert_error(
        "[tenants.a]\nport = 8001\nresources = { memroy = \"1G\" }\n",
        "3:15",
        "unknown field `memroy`",
    );
}

#[test]
fn unknown_keys_in_two_tenants_are_both_reported() {
    let errors = errors_of("[tenants.a]\nport = 8001\nx = 1\n[tenants.b]\nport = 8002\ny = 2\n");
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].starts_with("3:1:") && errors[1].starts_with("6:1:"),
        "{errors:#?}"
    );
}

#[test]
fn duplicate_host_ports_point_at_the_second_one() {
    assert_error(
        "[tenants.a]\nport = 8001\n[tenants.b]\nport = 8001\n",
        "4:8",
        "already used by tenant `a`",
    );
}

#[test]
fn duplicate_domains_point_at_the_second_one() {
    assert_error(
        "[tenants.a]\nport = 8001\ndomain = \"x.example.com\"\n[tenants.b]\nport = 8002\ndomain = \"X.example.com\"\n",
        "6:10",
        "already used by tenant `a`",
    );
}

#[test]
fn tenant_names_must_be_dns_labels() {
    assert_error(
        "[tenants.Company_ABC]\nport = 8001\n",
        "1:10",
        "not a DNS label",
    );
}

#[test]
fn ports_outside_1024_to_65535_are_refused() {
    assert_error("[tenants.a]\nport = 80\n", "2:8", "out of range");
    assert_error("[tenants.a]\nport = 70000\n", "2:8", "out of range");
}

#[test]
fn a_chart_that_does_not_exist_is_named() {
    assert_error(
        "[tenants.a]\nport = 8001\nchart = \"../charts/nope\"\n",
        "3:9",
        "chart `../charts/nope`",
    );
}

#[test]
fn unparsable_memory_and_cpu_values_are_refused() {
    assert_error(
        "[tenants.a]\nport = 8001\nresources = { memory = \"4 gigs\" }\n",
        "3:24",
        "not a memory size",
    );
    assert_error(
        "[tenants.a]\nport = 8001\nresources = { cpus = \"two\" }\n",
        "3:22",
        "not a CPU count",
    );
}

#[test]
fn env_keys_must_be_variable_names() {
    assert_error(
        "[tenants.a]\nport = 8001\nenv = { \"BAD-KEY\" = \"x\" }\n",
        "3:9",
        "not a valid variable name",
    );
}

#[test]
fn domains_must_be_hostnames_so_nothing_reaches_nginx_config() {
    for bad in [
        "a b.example.com",
        "a.example.com;",
        "a.example.com{",
        "a.example.com\\nreturn 200",
    ] {
        assert_error(
            &format!("[tenants.a]\nport = 8001\ndomain = \"{bad}\"\n"),
            "3:10",
            "not a valid hostname",
        );
    }
}

#[test]
fn an_empty_fleet_needs_allow_empty() {
    assert_error("[tenants]\n", "1:1", "no tenants defined");
    assert_error("", "1:1", "no tenants defined");
    let empty = load_ok("allow_empty = true\n");
    assert!(empty.tenants.is_empty());
    let empty = load_ok("allow_empty = true\n[tenants]\n");
    assert!(empty.tenants.is_empty());
}

#[test]
fn all_errors_are_reported_in_one_run() {
    let errors = errors_of(
        "[tenants.a]\nport = 80\ndomain = \"bad domain\"\n[tenants.b]\nport = 8002\nresources = { memory = \"x\" }\n[tenants.c]\nport = 8003\n[tenants.d]\nport = 8003\n",
    );
    assert_eq!(errors.len(), 4, "{errors:#?}");
}

#[test]
fn env_file_problems_name_the_file_but_never_its_content() {
    let dir = Dir::new("envfile");
    dir.write("secrets/a.env", "GOOD=1\nthis-line-is-secret-material\n");
    let text = format!("[defaults]\nchart = \"{}\"\n[tenants.a]\nport = 8001\nenv_files = [\"secrets/a.env\", \"missing.env\"]\n", chart_path());
    let path = dir.write("tenants.toml", &text);
    let text = load_desired(&path).unwrap_err().to_string();
    assert!(text.contains("a.env:2:1"), "{text}");
    assert!(text.contains("missing.env"), "{text}");
    assert!(!text.contains("secret-material"), "{text}");
}

#[test]
fn chart_values_are_the_base_defaults_override_them_and_tenants_win() {
    let desired = load_text(&format!(
        r#"[defaults]
chart = "{}"
image = "base:1"
resources = {{ memory = "3G" }}
env = {{ ENV = "staging", TEAM = "x" }}

[tenants.a]
port = 8001
display_name = "Company A"

[tenants.b]
port = 8002
image = "canary:2"
resources = {{ cpus = 0.5, memory_reservation = "512M" }}
env = {{ TEAM = "y" }}
volumes = {{ data = "/srv/b/data" }}
restart = "always"
"#,
        chart_path()
    ));
    let a = &desired.tenants["a"];
    assert_eq!(a.image, "base:1");
    assert_eq!(a.resources.memory, 3 << 30);
    assert_eq!(a.resources.nano_cpus, 2_000_000_000, "from the chart");
    assert_eq!(a.resources.memory_reservation, 2 << 30, "from the chart");
    assert_eq!(a.env["WEBUI_NAME"].value, "mAI - Company A");
    assert_eq!(a.env["ENV"].value, "staging");
    assert_eq!(a.env["ENABLE_SIGNUP"].value, "false");
    assert_eq!(a.restart.as_str(), "unless-stopped");
    assert_eq!(a.health.path, "/health");
    assert_eq!(a.health.interval_ns, 30_000_000_000);
    assert_eq!(a.health.retries, 3);
    assert_eq!(a.container_name, "mai-a");
    assert_eq!(a.host_ip, "127.0.0.1");
    assert!(a
        .mounts
        .iter()
        .any(|m| m.source == MountSource::Volume("mai-a-data".into())
            && m.target == "/app/backend/data"));

    let b = &desired.tenants["b"];
    assert_eq!(b.image, "canary:2");
    assert_eq!(b.resources.nano_cpus, 500_000_000);
    assert_eq!(b.resources.memory, 3 << 30);
    assert_eq!(b.resources.memory_reservation, 512 << 20);
    assert_eq!(b.env["TEAM"].value, "y");
    assert_eq!(
        b.env["WEBUI_NAME"].value, "mAI - b",
        "display_name defaults to the tenant name"
    );
    assert_eq!(b.restart.as_str(), "always");
    assert!(b
        .mounts
        .iter()
        .any(|m| m.source == MountSource::Bind("/srv/b/data".into())));
    assert_ne!(a.spec_hash, b.spec_hash);
}

#[test]
fn limits_are_not_part_of_the_spec_hash_so_they_update_in_place() {
    let one = load_ok("[tenants.a]\nport = 8001\nresources = { memory = \"4G\" }\n");
    let two = load_ok("[tenants.a]\nport = 8001\nresources = { memory = \"8G\" }\n");
    assert_eq!(one.tenants["a"].spec_hash, two.tenants["a"].spec_hash);
    let env = load_ok("[tenants.a]\nport = 8001\nenv = { X = \"1\" }\n");
    assert_ne!(one.tenants["a"].spec_hash, env.tenants["a"].spec_hash);
}

#[test]
fn unknown_volume_override_names_the_charts_volumes() {
    assert_error(
        "[tenants.a]\nport = 8001\nvolumes = { uploads = \"/srv/u\" }\n",
        "3:13",
        "defines: backups, data",
    );
}

#[test]
fn a_memory_reservation_above_the_limit_is_refused() {
    assert_error(
        "[tenants.a]\nport = 8001\nresources = { memory = \"1G\", memory_reservation = \"2G\" }\n",
        "3:51",
        "above the memory limit",
    );
}

#[test]
fn proxy_settings_cannot_inject_nginx_directives() {
    let proxy = "[proxy]\nkind = \"nginx\"\nconfig_dir = \"/etc/nginx/conf.d\"\ntest_command = [\"nginx\", \"-t\"]\nreload_command = [\"nginx\", \"-s\", \"reload\"]\n";
    assert_error(
        &format!("{proxy}listen = \"80; include /etc/passwd\"\n[tenants.a]\nport = 8001\n"),
        "6:10",
        "listen must be a port",
    );
    assert_error(
        &format!("{proxy}client_max_body_size = \"1m; return 200\"\n[tenants.a]\nport = 8001\n"),
        "6:24",
        "client_max_body_size",
    );
    assert_error(
        &format!("{proxy}[tenants.a]\nport = 8001\ndomain = \"a.example.com; location / {{ return 200; }}\"\n"),
        "8:10",
        "not a valid hostname",
    );
    assert_error(
        &format!("{proxy}[tenants.a]\nport = 8001\ntls = {{ certificate = \"/a.pem;\", key = \"/a.key\" }}\n"),
        "8:23",
        "TLS paths",
    );
    let ok = load_ok(&format!("{proxy}listen = \"127.0.0.1:8080\"\n[tenants.a]\nport = 8001\ndomain = \"a.example.com\"\n"));
    assert_eq!(ok.proxy.unwrap().listen, "127.0.0.1:8080");
}

#[test]
fn https_and_proxy_kind_errors_point_at_their_key() {
    let nginx = "[proxy]\nkind = \"nginx\"\nconfig_dir = \"/etc/nginx/conf.d\"\ntest_command = [\"nginx\", \"-t\"]\nreload_command = [\"nginx\", \"-s\", \"reload\"]\n";
    assert_error(
        &format!("{nginx}[tenants.a]\nport = 8001\ntls = \"letsencrypt\"\n"),
        "8:7",
        "write tls = \"acme\"",
    );
    assert_error(
        &format!("{nginx}[proxy.acme]\ndirectory = \"http://ca.example/dir\"\n[tenants.a]\nport = 8001\n"),
        "7:13",
        "must be an https:// URL",
    );
    assert_error(
        &format!("{nginx}[proxy.acme]\nrenew_before = \"a month\"\n[tenants.a]\nport = 8001\n"),
        "7:16",
        "renew_before",
    );
    assert_error(
        "[tenants.a]\nport = 8001\ntls = \"acme\"\n",
        "3:7",
        "needs a [proxy]",
    );
    assert_error(
        "[proxy]\nkind = \"caddy\"\ntest_command = [\"caddy\"]\n[tenants.a]\nport = 8001\n",
        "3:16",
        "test_command is for kind = \"nginx\"",
    );
    assert_error(
        "[proxy]\nkind = \"traefik\"\n[tenants.a]\nport = 8001\n",
        "2:8",
        "write \"nginx\" or \"caddy\"",
    );
    let ok = load_ok("[proxy]\nkind = \"caddy\"\nlisten = \"127.0.0.1:8080\"\ntls = \"acme\"\n[proxy.acme]\ndirectory = \"letsencrypt-staging\"\nrenew_before = \"20d\"\n[tenants.a]\nport = 8001\ndomain = \"a.example.com\"\n");
    let proxy = ok.proxy.unwrap();
    assert_eq!(
        proxy.kind,
        tenantctl::desired::ProxyKind::Caddy {
            admin: "localhost:2019".into()
        }
    );
    assert_eq!(
        proxy.acme.directory,
        tenantctl::desired::LETS_ENCRYPT_STAGING
    );
    assert_eq!(
        proxy.acme.renew_before,
        std::time::Duration::from_secs(20 * 86400)
    );
    assert_eq!(
        ok.tenants["a"].tls,
        Some(tenantctl::desired::TlsSource::Acme)
    );
}

#[test]
fn the_bundled_dev_instance_is_the_seeds() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let desired = load_desired(&root.join("desired-state/dev.toml")).unwrap();
    let dev = &desired.tenants["dev"];
    assert_eq!(dev.container_name, "mai-dev");
    assert_eq!(dev.image, "mai-dev:latest");
    assert_eq!(dev.port, 3002);
    assert_eq!(
        dev.env["OLLAMA_BASE_URL"].value,
        "http://host.docker.internal:11434"
    );
    assert_eq!(dev.extra_hosts, ["host.docker.internal:host-gateway"]);
    assert!(dev
        .mounts
        .iter()
        .any(|m| m.source == MountSource::Named("mai_dev_data".into())
            && m.target == "/app/backend/data"));
    assert_eq!(dev.resources.nano_cpus, 0);
    assert_eq!(dev.resources.memory, 0);
    // Its own fleet: it shares a host and a prefix with the production file.
    assert_eq!(desired.fleet, "mai-dev");
}

#[test]
fn extra_hosts_labels_and_networks_are_checked() {
    assert_error(
        "[tenants.a]\nport = 8001\nextra_hosts = { \"db\" = \"not-an-ip\" }\n",
        "3:24",
        "IP address or `host-gateway`",
    );
    assert_error(
        "[tenants.a]\nport = 8001\nlabels = { \"tenantctl.tenant\" = \"b\" }\n",
        "3:12",
        "reserved",
    );
    assert_error(
        "[tenants.a]\nport = 8001\nnetworks = [\"web net\"]\n",
        "3:13",
        "not a Docker name",
    );
    assert_error(
        "[tenants.a]\nport = 8001\nvolumes = { data = \"./data\" }\n",
        "3:20",
        "absolute host path",
    );
}

#[test]
fn labels_take_the_env_templates_and_stay_off_the_volumes() {
    let desired = load_ok(
        "[tenants.a]\nport = 8001\ndomain = \"a.example.com\"\nlabels = { caddy = \"{domain}\", \"caddy.reverse_proxy\" = \"{{upstreams 8080}}\" }\nnetworks = [\"web\"]\n",
    );
    let a = &desired.tenants["a"];
    assert_eq!(a.labels["caddy"], "a.example.com");
    assert_eq!(a.labels["caddy.reverse_proxy"], "{{upstreams 8080}}");
    assert_eq!(a.extra_networks, ["web"]);
    let volume = tenantctl::labels::volume_labels(&a.labels, &a.own_labels);
    assert!(!volume.contains_key("caddy"));
    assert_eq!(volume["tenantctl.tenant"], "a");
}

#[test]
fn a_tenant_may_set_its_own_stop_timeout() {
    let desired =
        load_ok("[tenants.a]\nport = 8001\nstop_timeout = 60\n\n[tenants.b]\nport = 8002\n");
    assert_eq!(desired.tenants["a"].stop_timeout_secs, 60);
    assert_eq!(desired.tenants["b"].stop_timeout_secs, 10);
    assert_error(
        "[tenants.a]\nport = 8001\nstop_timeout = 7200\n",
        "3:16",
        "0-3600",
    );
}

#[test]
fn rollout_gate_settings_are_read_and_checked() {
    let desired = load_ok(
        "[rollout]\nprogress_deadline = \"30s\"\nmin_ready = \"5s\"\n\n[tenants.a]\nport = 8001\n",
    );
    assert_eq!(desired.rollout.progress_deadline.as_secs(), 30);
    assert_eq!(desired.rollout.min_ready.as_secs(), 5);
    let defaults = load_ok("[tenants.a]\nport = 8001\n");
    assert_eq!(defaults.rollout.progress_deadline.as_secs(), 120);
    assert_eq!(defaults.rollout.min_ready.as_secs(), 10);
    assert_error(
        "[rollout]\nmin_ready = \"soon\"\n\n[tenants.a]\nport = 8001\n",
        "2:13",
        "not a duration",
    );
}
