//! `tenantctl run` as a real process against the real Docker Engine: it
//! heals hand changes, follows edits however they are saved, keeps the
//! last good state on a bad edit, and stops cleanly. Latencies are printed
//! (run with --nocapture); the bounds asserted are generous on purpose:
//! speed is measured by the benchmarks, not by these tests.

mod common;

use common::{docker_ok, free_port, http, metric, time_until, wait_http_ok, Fleet};
use std::process::Command;
use std::time::Duration;

const HEAL: Duration = Duration::from_secs(10);

fn running(fleet: &Fleet, tenant: &str) -> bool {
    let out = common::docker(&[
        "inspect",
        "-f",
        "{{.State.Running}}",
        &fleet.container_name(tenant),
    ]);
    String::from_utf8_lossy(&out.stdout).trim() == "true"
}

fn name_is(port: u16, want: &str) -> bool {
    matches!(http("GET", port, "/", ""), Some((200, body)) if body.trim() == want)
}

#[test]
fn controller_heals_hand_removal_stop_and_docker_update() {
    let fleet = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    fleet.write(&[("alpha", pa, ""), ("beta", pb, "")]);
    let ctl = fleet.start_controller(&[]);
    time_until("initial converge", Duration::from_secs(30), || {
        running(&fleet, "alpha") && running(&fleet, "beta")
    });
    let beta_id = fleet.container_id("beta");

    docker_ok(&["rm", "-f", &fleet.container_name("alpha")]);
    let t = time_until("removed container recreated", HEAL, || {
        running(&fleet, "alpha")
    });
    eprintln!("heal after docker rm -f: {t:?}");

    let before = fleet.container_id("alpha");
    docker_ok(&["stop", &fleet.container_name("alpha")]);
    let t = time_until("stopped container started", HEAL, || {
        running(&fleet, "alpha")
    });
    eprintln!("heal after docker stop: {t:?}");
    assert_eq!(
        fleet.container_id("alpha"),
        before,
        "started, not recreated"
    );

    docker_ok(&["update", "--memory", "48m", &fleet.container_name("alpha")]);
    let t = time_until("docker update restored", HEAL, || {
        fleet.inspect("alpha", "{{.HostConfig.Memory}}") == (64 << 20).to_string()
    });
    eprintln!("heal after docker update --memory: {t:?}");
    assert_eq!(fleet.container_id("alpha"), before, "restored in place");
    assert_eq!(
        fleet.container_id("beta"),
        beta_id,
        "the other tenant was never touched"
    );
    drop(ctl);
}

#[test]
fn resync_alone_heals_when_events_are_unavailable() {
    let fleet = Fleet::new();
    fleet.write(&[("alpha", free_port(), "")]);
    let ctl = fleet.start_controller(&["--no-events", "--resync", "1s"]);
    time_until("initial converge", Duration::from_secs(30), || {
        running(&fleet, "alpha")
    });
    docker_ok(&["rm", "-f", &fleet.container_name("alpha")]);
    let t = time_until("healed by the resync", HEAL, || running(&fleet, "alpha"));
    eprintln!("heal by a 1s resync without events: {t:?}");
    drop(ctl);
}

#[test]
fn edits_are_applied_however_the_file_is_saved() {
    let fleet = Fleet::new();
    let port = free_port();
    let write_name = |name: &str| {
        let mut text = fleet.header();
        text.push_str(&format!(
            "\n[tenants.alpha]\nport = {port}\ndisplay_name = \"{name}\"\n"
        ));
        text
    };
    fleet.write_raw(&write_name("v1"));
    let _ctl = fleet.start_controller(&[]);
    time_until("initial converge", Duration::from_secs(30), || {
        name_is(port, "mAI - v1")
    });

    // Editor-style atomic save: write a temp file, rename it over.
    let tmp = fleet.dir.join(".tenants.toml.swp");
    std::fs::write(&tmp, write_name("v2")).unwrap();
    std::fs::rename(&tmp, &fleet.file).unwrap();
    let t = time_until("atomic rename applied", HEAL, || name_is(port, "mAI - v2"));
    eprintln!("edit (atomic rename) to converged: {t:?}");

    // sed -i replaces the inode too.
    let status = Command::new("sed")
        .args(["-i", "s/\"v2\"/\"v3\"/"])
        .arg(&fleet.file)
        .status()
        .unwrap();
    assert!(status.success());
    let t = time_until("sed -i applied", HEAL, || name_is(port, "mAI - v3"));
    eprintln!("edit (sed -i) to converged: {t:?}");

    // git checkout rewriting the file.
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(&fleet.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "tenants.toml"]);
    git(&["commit", "-q", "-m", "v3"]);
    git(&["checkout", "-q", "-b", "next"]);
    std::fs::write(fleet.dir.join("staging.toml"), write_name("v4")).unwrap();
    std::fs::rename(fleet.dir.join("staging.toml"), &fleet.file).unwrap();
    time_until("v4 applied", HEAL, || name_is(port, "mAI - v4"));
    git(&["commit", "-q", "-am", "v4"]);
    git(&["checkout", "-q", "main"]);
    let t = time_until("git checkout applied", HEAL, || name_is(port, "mAI - v3"));
    eprintln!("edit (git checkout) to converged: {t:?}");
}

#[test]
fn a_burst_of_edits_coalesces_into_a_few_passes_ending_in_the_last_state() {
    let fleet = Fleet::new();
    let port = free_port();
    let text = |n: usize| {
        format!(
            "{}\n[tenants.alpha]\nport = {port}\ndisplay_name = \"n{n}\"\n",
            fleet.header()
        )
    };
    fleet.write_raw(&text(0));
    let ctl = fleet.start_controller(&[]);
    time_until("initial converge", Duration::from_secs(30), || {
        name_is(port, "mAI - n0")
    });
    let loads_before = ctl.logs().matches("loaded desired state").count();

    for n in 1..=50 {
        std::fs::write(&fleet.file, text(n)).unwrap();
        std::thread::sleep(Duration::from_millis(40));
    }
    time_until("last edit applied", HEAL, || name_is(port, "mAI - n50"));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        name_is(port, "mAI - n50"),
        "the final state is the last edit's"
    );
    let loads = ctl.logs().matches("loaded desired state").count() - loads_before;
    let recreates = ctl.logs().matches("actions=[\"recreate\"]").count();
    eprintln!("50 edits in 2s: {loads} reloads, {recreates} recreates");
    assert!(loads <= 5, "{loads} reloads for 50 edits:\n{}", ctl.logs());
    assert!(recreates <= 5, "{recreates} recreates for 50 edits");
}

#[test]
fn an_invalid_edit_changes_nothing_and_a_later_valid_edit_is_applied() {
    let fleet = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    fleet.write(&[("alpha", pa, "display_name = \"good\""), ("beta", pb, "")]);
    let ctl = fleet.start_controller(&[]);
    time_until("initial converge", Duration::from_secs(30), || {
        name_is(pa, "mAI - good")
    });
    let ids = (fleet.container_id("alpha"), fleet.container_id("beta"));

    // Invalid: a duplicate port (and a changed name that must not apply).
    fleet.write(&[("alpha", pa, "display_name = \"bad\""), ("beta", pa, "")]);
    ctl.wait_log("keeping the last good state", HEAL);
    contains_position(&ctl.logs(), &fleet.file);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        (fleet.container_id("alpha"), fleet.container_id("beta")),
        ids
    );
    assert!(name_is(pa, "mAI - good"));

    // The last good state is still enforced.
    docker_ok(&["stop", &fleet.container_name("beta")]);
    time_until("last good state enforced", HEAL, || running(&fleet, "beta"));

    fleet.write(&[("alpha", pa, "display_name = \"fixed\""), ("beta", pb, "")]);
    time_until("valid edit applied", HEAL, || name_is(pa, "mAI - fixed"));
}

fn contains_position(logs: &str, file: &std::path::Path) {
    let needle = format!("{}:", file.display());
    assert!(
        logs.lines()
            .any(|l| l.contains(&needle) && l.contains("already used")),
        "no PATH:LINE:COL error in:\n{logs}"
    );
}

#[test]
fn a_failing_tenant_backs_off_without_blocking_the_others() {
    let fleet = Fleet::new();
    let missing = fleet.dir.join("no-such-dir");
    let pb = free_port();
    fleet.write(&[
        (
            "alpha",
            free_port(),
            &format!("volumes = {{ data = \"{}\" }}", missing.display()),
        ),
        ("beta", pb, ""),
    ]);
    let ctl = fleet.start_controller(&[]);
    wait_http_ok(pb, "/health");
    ctl.wait_log("will retry with backoff", HEAL);
    std::thread::sleep(Duration::from_secs(3));
    let attempts = ctl
        .logs()
        .lines()
        .filter(|l| {
            l.contains("reconcile failed; will retry with backoff") && l.contains("tenant=alpha")
        })
        .count();
    eprintln!("failing tenant: {attempts} attempts in ~3s (backoff 0.8s, 1.6s, 3.2s …)");
    assert!(
        (1..=5).contains(&attempts),
        "{attempts} attempts:\n{}",
        ctl.logs()
    );
}

#[test]
fn sigterm_exits_zero_and_a_second_instance_refuses_to_start() {
    let fleet = Fleet::new();
    fleet.write(&[("alpha", free_port(), "")]);
    let mut ctl = fleet.start_controller(&[]);
    time_until("converged", Duration::from_secs(30), || {
        running(&fleet, "alpha")
    });
    assert_eq!(
        http("GET", ctl.listen, "/readyz", "").map(|r| r.0),
        Some(200)
    );

    let second = Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .args(["run", "-f"])
        .arg(&fleet.file)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--lock-file")
        .arg(fleet.dir.join("controller.lock"))
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("holds the host lock"), "{err}");

    let start = std::time::Instant::now();
    assert_eq!(ctl.terminate(Duration::from_secs(15)), Some(0));
    eprintln!("SIGTERM to exit: {:?}", start.elapsed());
    assert!(
        running(&fleet, "alpha"),
        "stopping the controller leaves tenants running"
    );
}

#[test]
fn observe_only_reports_drift_and_changes_nothing() {
    let fleet = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    fleet.write(&[("alpha", pa, ""), ("beta", pb, "")]);
    fleet.apply();
    docker_ok(&["stop", &fleet.container_name("alpha")]);
    docker_ok(&["rm", "-f", &fleet.container_name("beta")]);
    let mut ctl = fleet.start_controller(&["--observe-only", "--resync", "1s"]);
    let listen = ctl.listen;
    time_until("drift reported", Duration::from_secs(20), || {
        metric(
            listen,
            "tenantctl_drift{reason=\"stopped\",resource=\"container\",tenant=\"alpha\"} 1",
        )
        .is_some()
            && metric(
                listen,
                "tenantctl_drift{reason=\"missing\",resource=\"container\",tenant=\"beta\"} 1",
            )
            .is_some()
    });
    // Several resyncs later nothing was started or created.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!running(&fleet, "alpha"));
    assert!(fleet.container_id("beta").is_none());
    assert!(metric(listen, "tenantctl_tenant_crashloop{tenant=\"alpha\"} 0").is_some());
    ctl.terminate(Duration::from_secs(15));
}

// issue 14, item 5: the crash-loop breaker survives a restart
#[test]
fn a_crash_loop_hold_survives_a_controller_restart() {
    let fleet = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    fleet.write(&[("alpha", pa, ""), ("beta", pb, "")]);
    fleet.apply();
    let mut ctl = fleet.start_controller(&["--resync", "1s"]);
    let name = fleet.container_name("alpha");
    // Something keeps stopping alpha; each time the controller starts it,
    // until the fourth change within a minute holds it.
    for _ in 0..4 {
        docker_ok(&["stop", "-t", "1", &name]);
        time_until("alpha started again", HEAL, || running(&fleet, "alpha"));
    }
    ctl.wait_log("slowing down", Duration::from_secs(20));
    let listen = ctl.listen;
    time_until("the crash loop in the metrics", HEAL, || {
        metric(listen, "tenantctl_tenant_crashloop{tenant=\"alpha\"} 1").is_some()
    });
    ctl.terminate(Duration::from_secs(15));

    let mut again = fleet.start_controller(&["--resync", "1s"]);
    again.wait_log("still held", Duration::from_secs(20));
    docker_ok(&["stop", "-t", "1", &name]);
    docker_ok(&["stop", "-t", "1", &fleet.container_name("beta")]);
    time_until("beta (not looping) started again", HEAL, || {
        running(&fleet, "beta")
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(!running(&fleet, "alpha"), "{}", again.logs());
    assert!(metric(
        again.listen,
        "tenantctl_tenant_crashloop{tenant=\"alpha\"} 1"
    )
    .is_some());
    // An operator's edit is never held.
    fleet.write(&[("alpha", pa, "env = { EDITED = \"1\" }"), ("beta", pb, "")]);
    time_until("the edit applied at once", Duration::from_secs(30), || {
        running(&fleet, "alpha")
            && fleet
                .inspect("alpha", "{{.Config.Env}}")
                .contains("EDITED=1")
    });
    again.terminate(Duration::from_secs(15));
}
