//! Regression tests for the defects found by trying tenantctl as a new user
//! would (issue 10), one per item, against the real Docker Engine (and a
//! real nginx where the item is about the proxy). Each is named after the
//! promise that broke.

mod common;

use common::{
    contains, docker, docker_ok, free_port, http, metric, output_text, path_str, time_until,
    wait_http_ok, Fleet, Nginx, RUN_LABEL,
};
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

fn running(fleet: &Fleet, tenant: &str) -> bool {
    docker(&[
        "inspect",
        "-f",
        "{{.State.Running}}",
        &fleet.container_name(tenant),
    ])
    .stdout
    .starts_with(b"true")
}

/// Runs `cmd`, killing it if it has not exited within `within` (a refusal
/// must be prompt; before the fixes these commands ran or hung forever).
fn run_bounded(cmd: &mut Command, within: Duration) -> std::process::Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start tenantctl");
    let deadline = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {within:?}:\n{}", output_text(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

// 1
#[test]
fn demo_down_removes_only_the_volumes_of_the_tenants_its_file_names() {
    let fleet = Fleet::new();
    fleet.write(&[("alpha", free_port(), "")]);
    fleet.apply();
    // Someone else's database: labelled by tenantctl, matching the old pattern.
    let foreign = format!("{}-x-data", fleet.prefix());
    docker_ok(&[
        "volume",
        "create",
        "--label",
        "tenantctl.tenant=x",
        "--label",
        &format!("{RUN_LABEL}={}", fleet.run_id),
        &foreign,
    ]);
    let out = Command::new(common::manifest_dir().join("scripts/demo-down.sh"))
        .arg(&fleet.file)
        .arg(env!("CARGO_BIN_EXE_tenantctl"))
        .arg(fleet.apply_lock())
        .output()
        .unwrap();
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(fleet.volume_exists(&foreign), "{text}");
    let alpha = format!("{}-alpha-data", fleet.prefix());
    assert!(!fleet.volume_exists(&alpha), "{text}");
    contains(&text, &format!("removed volume {alpha}"));
    assert!(fleet.container_id("alpha").is_none());
}

// 2
#[test]
fn two_fleets_sharing_a_name_prefix_never_prune_each_other() {
    let fleet = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    let with_fleet =
        |name: &str, tenants: &str| format!("fleet = \"{name}\"\n{}{tenants}", fleet.header());
    fleet.write_raw(&with_fleet(
        "one",
        &format!("\n[tenants.alpha]\nport = {pa}\n"),
    ));
    let other = fleet.dir.join("other.toml");
    std::fs::write(
        &other,
        with_fleet("two", &format!("\n[tenants.beta]\nport = {pb}\n")),
    )
    .unwrap();
    fleet.apply();
    assert!(fleet.tenantctl_on(&other, &["apply"]).status.success());
    assert_eq!(
        fleet.inspect("beta", "{{index .Config.Labels \"tenantctl.fleet\"}}"),
        "two"
    );

    // Each file lists no orphans, and prune on one leaves the other alone.
    let plan = fleet.tenantctl_expect(&["plan", "--prune", "--exit-code"], 0);
    assert!(!plan.contains("left the file"), "{plan}");
    fleet.tenantctl_expect(&["apply", "--prune"], 0);
    assert!(fleet
        .tenantctl_on(&other, &["apply", "--prune"])
        .status
        .success());
    assert!(running(&fleet, "alpha") && running(&fleet, "beta"));

    // A container of another fleet with one of our tenants' names is a conflict.
    std::fs::write(
        &other,
        with_fleet(
            "two",
            &format!(
                "\n[tenants.beta]\nport = {pb}\n\n[tenants.alpha]\nport = {}\n",
                free_port()
            ),
        ),
    )
    .unwrap();
    let out = output_text(&fleet.tenantctl_on(&other, &["plan"]));
    contains(&out, "belongs to fleet `one`");

    // A container from before fleets existed is not pruned by anyone.
    let legacy = fleet.container_name("legacy");
    docker_ok(&[
        "create",
        "--name",
        &legacy,
        "--label",
        "tenantctl.tenant=legacy",
        "--label",
        &format!("{RUN_LABEL}={}", fleet.run_id),
        common::STANDIN_IMAGE,
    ]);
    fleet.tenantctl_expect(&["apply", "--prune"], 0);
    assert!(docker(&["inspect", &legacy]).status.success());
}

// 3
#[test]
fn a_recreate_whose_new_container_cannot_start_puts_the_old_one_back() {
    let fleet = Fleet::new();
    let (p1, p2) = (free_port(), free_port());
    fleet.write(&[("alpha", p1, "")]);
    fleet.apply();
    // apply returns once the container runs; the app may still be starting.
    wait_http_ok(p1, "/health");
    assert_eq!(
        http("PUT", p1, "/data/keep.txt", "kept").map(|r| r.0),
        Some(200)
    );
    let old_id = fleet.container_id("alpha");

    // Another process holds the new port: the new container cannot start.
    let holder = std::net::TcpListener::bind(("127.0.0.1", p2)).unwrap();
    fleet.write(&[("alpha", p2, "")]);
    let out = fleet.tenantctl_expect(&["apply"], 1);
    contains(&out, "put back");
    assert_eq!(fleet.container_id("alpha"), old_id, "{out}");
    assert!(running(&fleet, "alpha"));
    assert_eq!(wait_http_ok(p1, "/data/keep.txt"), "kept");
    assert_eq!(fleet.containers(), vec![fleet.container_name("alpha")]);

    // The failure halted the rollout: applying again changes nothing
    // until the operator resumes it (or pushes a new revision).
    contains(&out, "HALTED at alpha");
    let again = fleet.tenantctl_expect(&["apply"], 1);
    contains(&again, "rollout resume");
    assert_eq!(fleet.container_id("alpha"), old_id, "{again}");
    // Once the port is free the resumed rollout goes through, data intact.
    drop(holder);
    fleet.tenantctl_expect(&["rollout", "resume"], 0);
    fleet.apply();
    assert_ne!(fleet.container_id("alpha"), old_id);
    assert_eq!(wait_http_ok(p2, "/data/keep.txt"), "kept");
    assert_eq!(fleet.containers(), vec![fleet.container_name("alpha")]);
}

// issue 14, item 1: a recreate is gated on health, not only on running
#[test]
fn a_recreate_whose_new_container_fails_its_health_check_keeps_the_old_one() {
    let fleet = Fleet::new();
    let port = free_port();
    fleet.write(&[("alpha", port, "")]);
    fleet.apply();
    wait_http_ok(port, "/health");
    http("PUT", port, "/data/keep.txt", "kept").unwrap();
    let old_id = fleet.container_id("alpha");
    // A "new version" that starts but never becomes healthy.
    fleet.write(&[("alpha", port, "env = { STANDIN_FAIL_HEALTH = \"1\" }")]);
    let out = fleet.tenantctl_expect(&["apply"], 1);
    contains(&out, "not healthy");
    contains(&out, "put back");
    assert_eq!(fleet.container_id("alpha"), old_id, "{out}");
    assert_eq!(wait_http_ok(port, "/data/keep.txt"), "kept");
    assert_eq!(fleet.containers(), vec![fleet.container_name("alpha")]);
}

// 3 (crash recovery)
#[test]
fn a_container_left_aside_by_a_crash_mid_replacement_is_put_back() {
    let fleet = Fleet::new();
    let port = free_port();
    fleet.write(&[("alpha", port, "")]);
    fleet.apply();
    let id = fleet.container_id("alpha");
    let name = fleet.container_name("alpha");
    // The state a crash after step 2 leaves: old stopped and renamed aside,
    // the replacement created but never started.
    docker_ok(&["stop", "-t", "1", &name]);
    docker_ok(&["rename", &name, &format!("{name}--old")]);
    docker_ok(&[
        "create",
        "--name",
        &format!("{name}--new"),
        "--label",
        "tenantctl.tenant=alpha",
        "--label",
        &format!("tenantctl.fleet={}", fleet.prefix()),
        "--label",
        &format!("{RUN_LABEL}={}", fleet.run_id),
        common::STANDIN_IMAGE,
    ]);
    let out = fleet.apply();
    contains(&out, "recover");
    assert_eq!(fleet.container_id("alpha"), id, "the old container is back");
    assert!(running(&fleet, "alpha"));
    assert_eq!(fleet.containers(), vec![name]);
    wait_http_ok(port, "/health");
}

fn proxy_fleet(fleet: &Fleet, nginx: &Nginx, tenants: &[(&str, u16)]) {
    let mut text = format!("{}\n{}", fleet.header(), nginx.proxy_table(None));
    for (name, port) in tenants {
        text.push_str(&format!(
            "\n[tenants.{name}]\nport = {port}\ndomain = \"{name}.{}.test\"\n",
            fleet.run_id
        ));
    }
    fleet.write_raw(&text);
}

// 4
#[test]
fn a_tenant_that_goes_down_between_passes_gets_the_503_page_not_a_bare_502() {
    let fleet = Fleet::new();
    let nginx = Nginx::start(&fleet);
    let port = free_port();
    proxy_fleet(&fleet, &nginx, &[("alpha", port)]);
    fleet.apply();
    let host = format!("alpha.{}.test", fleet.run_id);
    time_until("alpha served through nginx", WAIT, || {
        matches!(nginx.get(&host), Some((200, _)))
    });
    // Down with no controller running: nginx alone must show the page.
    docker_ok(&["stop", "-t", "1", &fleet.container_name("alpha")]);
    let (status, response) = nginx.get(&host).expect("nginx answers");
    assert_eq!(status, 503, "{response}");
    contains(&response, "Retry-After: 30");
    contains(&response, "temporarily unavailable");
}

// 5
#[test]
fn a_conflicted_tenant_whose_old_container_still_serves_keeps_its_site() {
    let fleet = Fleet::new();
    let nginx = Nginx::start(&fleet);
    let port = free_port();
    // The old compose container holds the name and the port, and serves.
    fleet.run_foreign(
        &fleet.container_name("alpha"),
        &[
            "-p",
            &format!("127.0.0.1:{port}:8080"),
            "-e",
            "WEBUI_NAME=served by compose",
        ],
    );
    wait_http_ok(port, "/");
    proxy_fleet(&fleet, &nginx, &[("alpha", port)]);
    let out = fleet.tenantctl_expect(&["apply"], 1);
    contains(&out, "not managed by tenantctl");
    let (status, response) = nginx
        .get(&format!("alpha.{}.test", fleet.run_id))
        .expect("nginx answers");
    assert_eq!(status, 200, "{response}");
    contains(&response, "served by compose");
}

// 6
#[test]
fn status_reads_a_status_line_written_in_pieces_as_healthy() {
    let fleet = Fleet::new();
    fleet.write(&[(
        "alpha",
        free_port(),
        "env = { STANDIN_SPLIT_STATUS = \"1\" }",
    )]);
    fleet.apply();
    time_until("alpha starts", WAIT, || running(&fleet, "alpha"));
    std::thread::sleep(Duration::from_millis(500));
    for run in 0..10 {
        let out = fleet.tenantctl_expect(&["status", "--json"], 0);
        let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(rows[0]["probe"], true, "run {run}: {out}");
    }
}

// 7
#[test]
fn a_paused_tenant_without_drift_is_in_sync_and_says_it_is_paused() {
    let fleet = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    fleet.write(&[("alpha", pa, ""), ("beta", pb, "")]);
    fleet.apply();
    fleet.write(&[("alpha", pa, "paused = true"), ("beta", pb, "")]);
    let ctl = fleet.start_controller(&[]);
    let listen = ctl.listen;
    time_until("paused series", WAIT, || {
        metric(listen, "tenantctl_tenant_paused{tenant=\"alpha\"} 1").is_some()
    });
    time_until("alpha in sync", WAIT, || {
        metric(listen, "tenantctl_tenant_in_sync{tenant=\"alpha\"} 1").is_some()
    });
    assert!(metric(listen, "tenantctl_tenant_paused{tenant=\"beta\"} 0").is_some());
}

// 8
#[test]
fn apply_refuses_while_a_controller_holds_the_host_lock_unless_told_to_wait() {
    let fleet = Fleet::new();
    fleet.write(&[("alpha", free_port(), "")]);
    let mut ctl = fleet.start_controller(&[]);
    let lock = path_str(&fleet.dir.join("controller.lock"));
    let out = fleet.tenantctl_expect(&["apply", "--lock-file", &lock], 1);
    contains(&out, &format!("pid {}", ctl.pid()));
    contains(&out, "--wait-lock");

    // Waiting: the apply goes through once the controller has stopped.
    let waiting = Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .args(["apply", "--lock-file", &lock, "--wait-lock", "60s", "-f"])
        .arg(&fleet.file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(ctl.terminate(WAIT), Some(0));
    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
}

// 18c
#[test]
fn deleting_the_lock_file_does_not_let_a_second_controller_start() {
    let fleet = Fleet::new();
    fleet.write(&[("alpha", free_port(), "")]);
    let mut ctl = fleet.start_controller(&[]);
    // Converged first: a controller killed mid-create can leave Docker
    // finishing a network after the fixture has cleaned up.
    time_until("alpha running", WAIT, || running(&fleet, "alpha"));
    std::fs::remove_file(fleet.dir.join("controller.lock")).unwrap();
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_tenantctl"))
            .args(["run", "--listen", &format!("127.0.0.1:{}", free_port())])
            .arg("--lock-file")
            .arg(fleet.dir.join("controller.lock"))
            .arg("-f")
            .arg(&fleet.file),
        WAIT,
    );
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    contains(&output_text(&out), "holds the host lock");
    assert_eq!(ctl.terminate(WAIT), Some(0));
}

// 9
#[test]
fn a_secret_whose_key_leaves_the_env_is_never_printed() {
    let fleet = Fleet::new();
    let secrets = fleet.dir.join("alpha.env");
    std::fs::write(&secrets, "API_KEY=hunter2-old-value\n").unwrap();
    let port = free_port();
    fleet.write(&[(
        "alpha",
        port,
        &format!("env_files = [\"{}\"]", secrets.display()),
    )]);
    fleet.apply();
    // The key is renamed in the env file.
    std::fs::write(&secrets, "API_TOKEN=hunter2-new-value\n").unwrap();
    for args in [&["plan"][..], &["plan", "--json"], &["apply"]] {
        let out = output_text(&fleet.tenantctl(args));
        assert!(!out.contains("hunter2"), "{args:?}: {out}");
        contains(&out, "API_KEY");
    }
    // The env_files line is dropped altogether.
    fleet.write(&[("alpha", port, "")]);
    let out = output_text(&fleet.tenantctl(&["plan"]));
    assert!(!out.contains("hunter2"), "{out}");
    contains(&out, "env.API_TOKEN: (sensitive) -> (none)");
}

// 10
#[test]
fn debug_logging_never_prints_a_secret() {
    let fleet = Fleet::new();
    let secrets = fleet.dir.join("alpha.env");
    std::fs::write(&secrets, "API_KEY=hunter2-debug\n").unwrap();
    fleet.write(&[(
        "alpha",
        free_port(),
        &format!("env_files = [\"{}\"]", secrets.display()),
    )]);
    // With the container there, every inspect reply holds its env.
    fleet.apply();
    for level in ["debug", "trace"] {
        for args in [&["plan"][..], &["apply"], &["status"]] {
            for format in ["human", "json"] {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantctl"));
                cmd.args(args)
                    .args(["--log-format", format, "-f"])
                    .arg(&fleet.file)
                    .env("TENANTCTL_LOG", level);
                if args[0] == "apply" {
                    cmd.arg("--lock-file").arg(fleet.apply_lock());
                }
                let out = output_text(&cmd.output().unwrap());
                assert!(!out.contains("hunter2"), "{level} {args:?} {format}: {out}");
            }
        }
    }
    // A value Docker would echo back in its error is refused up front, unshown.
    std::fs::write(&secrets, "API_KEY=hunter2\0tail\n").unwrap();
    let out = fleet.tenantctl_expect(&["validate"], 1);
    contains(&out, "NUL byte");
    assert!(!out.contains("hunter2"), "{out}");
}

/// Creates a network through the Engine API as a racing second process
/// would (the CLI refuses duplicate names; the API does not).
fn create_network_via_api(name: &str, run_id: &str, fleet: &str) {
    let body = format!(
        r#"{{"Name":"{name}","Driver":"bridge","Labels":{{"tenantctl.tenant":"_shared","tenantctl.fleet":"{fleet}","{RUN_LABEL}":"{run_id}"}}}}"#
    );
    let out = Command::new("curl")
        .args([
            "-sf",
            "--unix-socket",
            "/var/run/docker.sock",
            "-H",
            "Content-Type: application/json",
            "-d",
            &body,
            "http://localhost/networks/create",
        ])
        .output()
        .expect("curl");
    assert!(out.status.success(), "{}", output_text(&out));
}

// 11
#[test]
fn duplicate_fleet_networks_are_repaired_and_tenants_start() {
    let fleet = Fleet::new();
    let network = format!("{}-net", fleet.run_id);
    create_network_via_api(&network, &fleet.run_id, fleet.prefix());
    create_network_via_api(&network, &fleet.run_id, fleet.prefix());
    let count = || {
        docker_ok(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("name=^{network}$"),
        ])
        .lines()
        .count()
    };
    assert_eq!(count(), 2);
    let port = free_port();
    fleet.write(&[("alpha", port, "")]);
    let out = fleet.apply();
    contains(&out, "several networks");
    assert_eq!(count(), 1, "{out}");
    wait_http_ok(port, "/health");
}

// 12
#[test]
fn a_bind_path_with_a_trailing_slash_does_not_recreate_forever() {
    let fleet = Fleet::new();
    let data = fleet.dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    fleet.write(&[(
        "alpha",
        free_port(),
        &format!("volumes = {{ data = \"{}/./\" }}", data.display()),
    )]);
    fleet.apply();
    let id = fleet.container_id("alpha");
    let plan = fleet.tenantctl_expect(&["plan", "--exit-code"], 0);
    assert!(!plan.contains("mounts"), "{plan}");
    fleet.apply();
    assert_eq!(fleet.container_id("alpha"), id);
}

// 13
#[test]
fn a_bad_image_reference_is_a_validation_error_at_its_position() {
    let fleet = Fleet::new();
    fleet.write(&[
        ("alpha", free_port(), ""),
        ("beta", free_port(), "image = \"ADV:!!\""),
    ]);
    let out = fleet.tenantctl_expect(&["validate"], 1);
    contains(&out, "not a valid image reference");
    contains(&out, &format!("{}:", fleet.file.display()));
    // Nothing was touched for anyone.
    fleet.tenantctl_expect(&["apply"], 1);
    assert!(fleet.containers().is_empty());
}

// 14
#[test]
fn env_files_that_never_end_are_refused_at_once() {
    let fleet = Fleet::new();
    let fifo = fleet.dir.join("fifo.env");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let big = fleet.dir.join("big.env");
    std::fs::write(&big, format!("A={}\n", "x".repeat(2 << 20))).unwrap();
    for (path, why) in [
        ("/dev/zero".to_string(), "not a regular file"),
        (path_str(&fifo), "not a regular file"),
        (path_str(&big), "KiB limit"),
    ] {
        fleet.write(&[("alpha", free_port(), &format!("env_files = [\"{path}\"]"))]);
        let started = Instant::now();
        let out = fleet.tenantctl_expect(&["validate"], 1);
        contains(&out, why);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} took {:?}",
            started.elapsed()
        );
    }
}

// 15
#[test]
fn a_docker_paused_tenant_is_unpaused() {
    let fleet = Fleet::new();
    let port = free_port();
    fleet.write(&[("alpha", port, "")]);
    fleet.apply();
    docker_ok(&["pause", &fleet.container_name("alpha")]);
    let out = fleet.apply();
    contains(&out, "unpause");
    assert_eq!(fleet.inspect("alpha", "{{.State.Status}}"), "running");
    wait_http_ok(port, "/health");
}

// 16
#[test]
fn a_renamed_container_gets_its_name_back() {
    let fleet = Fleet::new();
    let port = free_port();
    fleet.write(&[("alpha", port, "")]);
    fleet.apply();
    let id = fleet.container_id("alpha");
    let other = format!("{}-renamed", fleet.run_id);
    docker_ok(&["rename", &fleet.container_name("alpha"), &other]);
    let out = fleet.apply();
    contains(&out, "back to");
    assert_eq!(fleet.container_id("alpha"), id);
    assert!(!docker(&["inspect", &other]).status.success());
    fleet.tenantctl_expect(&["plan", "--exit-code"], 0);
}

// 17
#[test]
fn half_sent_requests_do_not_take_the_listener_down() {
    let fleet = Fleet::new();
    let port = free_port();
    fleet.write(&[("alpha", port, "")]);
    // The default open-file limit of a systemd service without LimitNOFILE.
    let listen = free_port();
    let log = fleet.dir.join("controller.log");
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 1024 && exec \"$0\" run -f \"$1\" --listen 127.0.0.1:{listen} --lock-file \"$2\" --resync 1s"
        ))
        .arg(env!("CARGO_BIN_EXE_tenantctl"))
        .arg(&fleet.file)
        .arg(fleet.dir.join("controller.lock"))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(fleet.dir.join("controller.err")).unwrap())
        .spawn()
        .unwrap();
    let ctl = common::ControllerProc { child, log, listen };
    time_until("controller up", WAIT, || {
        http("GET", listen, "/healthz", "").is_some()
    });
    wait_http_ok(port, "/health");
    let mut sockets = Vec::new();
    for _ in 0..1100 {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", ctl.listen)) {
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
            sockets.push(s);
        }
    }
    // Within the header timeout the listener frees its slots and answers.
    time_until("/metrics answers again", WAIT, || {
        http("GET", ctl.listen, "/metrics", "").is_some_and(|r| r.0 == 200)
    });
    // And the Docker client still works: a removed container is healed.
    docker_ok(&["rm", "-f", &fleet.container_name("alpha")]);
    time_until("alpha healed", WAIT, || running(&fleet, "alpha"));
    drop(sockets);
}

// 18d
#[test]
fn an_empty_webhook_secret_file_is_refused() {
    let fleet = Fleet::new();
    let secret = fleet.dir.join("webhook.secret");
    std::fs::write(&secret, "\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .args([
            "run",
            "--git",
            "file:///nonexistent",
            "--webhook-secret-file",
        ])
        .arg(&secret)
        .arg("--lock-file")
        .arg(fleet.dir.join("controller.lock"))
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    contains(&output_text(&out), "webhook-secret-file is empty");
}

// 18e
#[test]
fn every_type_error_in_one_tenant_table_is_reported() {
    let fleet = Fleet::new();
    fleet.write(&[(
        "alpha",
        free_port(),
        "paused = \"yes\"\ndisplay_name = 42\n",
    )]);
    let out = fleet.tenantctl_expect(&["validate"], 1);
    let errors = out.lines().filter(|l| l.contains("tenants.toml:")).count();
    assert!(errors >= 2, "{out}");
    // Each bad key at its own line.
    let text = std::fs::read_to_string(&fleet.file).unwrap();
    let line_of = |key: &str| text.lines().position(|l| l.starts_with(key)).unwrap() + 1;
    contains(&out, &format!(":{}:", line_of("paused")));
    contains(&out, &format!(":{}:", line_of("display_name")));
}

// 18b
#[test]
fn a_plan_made_before_another_run_created_the_container_still_applies() {
    let fleet = Fleet::new();
    let port = free_port();
    fleet.write(&[("alpha", port, "")]);
    let (runtime, desired, docker) = fleet.library_session();
    runtime.block_on(async {
        let observed =
            tenantctl::observe::observe(&docker, &desired, tenantctl::observe::Detail::Full)
                .await
                .unwrap();
        let stale = tenantctl::plan::plan(&desired, &observed, false);
        // Another run (a crash between create and start) made it meanwhile.
        fleet.apply();
        docker_ok(&["stop", "-t", "1", &fleet.container_name("alpha")]);
        let report = tenantctl::execute::execute(&docker, &desired, &stale, 1).await;
        assert_eq!(report.failed(), 0, "{report:?}");
    });
    assert!(running(&fleet, "alpha"));
}

// 18a
#[test]
fn a_tenant_published_on_ipv6_loopback_is_proxied_by_nginx() {
    let fleet = Fleet::new();
    let nginx = Nginx::start(&fleet);
    let port = free_port();
    let text = format!(
        "host_ip = \"::1\"\n{}\n{}\n[tenants.alpha]\nport = {port}\ndomain = \"alpha.{}.test\"\n",
        fleet.header(),
        nginx.proxy_table(None),
        fleet.run_id
    );
    fleet.write_raw(&text);
    let out = fleet.apply();
    assert!(!out.contains("FAIL"), "{out}");
    let conf =
        std::fs::read_to_string(nginx.prefix.join("conf.d/tenantctl-tenant-alpha.conf")).unwrap();
    contains(&conf, &format!("proxy_pass http://[::1]:{port};"));
    time_until("alpha served through nginx over IPv6", WAIT, || {
        matches!(
            nginx.get(&format!("alpha.{}.test", fleet.run_id)),
            Some((200, _))
        )
    });
}
