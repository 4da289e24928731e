//! Rollouts (issue 14) against the real Docker Engine: six tenants on the
//! stand-in "v1", then a broken v2 (its health check fails) and a good v2,
//! both built here `FROM` the stand-in and pushed the way the seed does it:
//! the same tag, re-pointed.

mod common;

use common::{
    contains, docker, docker_ok, free_port, http, metric, time_until, wait_http_ok, Fleet,
    STANDIN_IMAGE,
};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TENANTS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

/// Builds `tag` from the stand-in plus `lines` (offline: no pull).
fn build(fleet: &Fleet, tag: &str, lines: &str) -> String {
    let mut child = Command::new("docker")
        .args(["build", "-q", "-t", tag, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let dockerfile = format!("FROM {STANDIN_IMAGE}\n{lines}\n");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dockerfile.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fleet.track_image(tag);
    image_id(tag)
}

fn image_id(reference: &str) -> String {
    docker_ok(&["image", "inspect", "-f", "{{.Id}}", reference])
        .trim()
        .to_string()
}

/// The tenants file: every tenant on `tag`, `a` a canary, `[rollout]`
/// as given.
fn write(fleet: &Fleet, ports: &[u16], tag: &str, rollout: &str) {
    let mut text = fleet
        .header()
        .replace("[rollout]\n", &format!("[rollout]\n{rollout}\n"));
    for (name, port) in TENANTS.iter().zip(ports) {
        let group = if *name == "a" {
            "rollout_group = \"canary\"\n"
        } else {
            ""
        };
        text.push_str(&format!(
            "\n[tenants.{name}]\nport = {port}\nimage = \"{tag}\"\n{group}"
        ));
    }
    fleet.write_raw(&text);
}

fn running_image(fleet: &Fleet, tenant: &str) -> String {
    fleet.inspect(tenant, "{{.Image}}").trim().to_string()
}

/// The first `n` tenants on the stand-in under a tag of their own, each
/// with a note written through it.
fn start_v1(fleet: &Fleet, rollout: &str, n: usize) -> (Vec<u16>, String) {
    let ports: Vec<u16> = TENANTS[..n].iter().map(|_| free_port()).collect();
    let tag = format!("{}-app:live", fleet.prefix());
    docker_ok(&["tag", STANDIN_IMAGE, &tag]);
    fleet.track_image(&tag);
    write(fleet, &ports, &tag, rollout);
    fleet.apply();
    for (name, port) in TENANTS.iter().zip(&ports) {
        wait_http_ok(*port, "/health");
        let body = format!("written by v1 for {name}");
        assert_eq!(
            http("PUT", *port, "/data/note.txt", &body).map(|r| r.0),
            Some(200)
        );
    }
    (ports, tag)
}

#[test]
fn a_broken_image_halts_at_the_canary_with_its_data_back_and_a_good_one_rolls_out() {
    let fleet = Fleet::new();
    let groups = "groups = [\"canary\"]\nmax_unavailable = 2\nprogress_deadline = \"8s\"";
    let (ports, tag) = start_v1(&fleet, groups, TENANTS.len());
    let v1 = image_id(&tag);
    let ids: Vec<Option<String>> = TENANTS.iter().map(|t| fleet.container_id(t)).collect();

    // The seed's update: the tag now points at a build that never gets
    // healthy.
    build(&fleet, &tag, "ENV STANDIN_FAIL_HEALTH=1");
    let out = fleet.tenantctl_expect(&["apply"], 1);
    contains(&out, "HALTED at a");
    contains(&out, "restore_data");
    for (i, name) in TENANTS.iter().enumerate() {
        assert_eq!(fleet.container_id(name), ids[i], "{name} untouched: {out}");
        assert_eq!(running_image(&fleet, name), v1);
        let note = wait_http_ok(ports[i], "/data/note.txt");
        assert_eq!(note, format!("written by v1 for {name}"));
    }
    assert_eq!(
        fleet.containers().len(),
        TENANTS.len(),
        "nothing left aside"
    );

    // Visible: rollout status (exit 1 while halted), status, metrics.
    let st = fleet.tenantctl_expect(&["rollout", "status"], 1);
    contains(&st, "HALTED at a");
    contains(&st, "rolled_back");
    let status = fleet.tenantctl_expect(&["status"], 0);
    contains(&status, "rollout: halted");
    // What does not recreate is not held back: a new tenant is created
    // and a limit changed in place, while the new revision's rollout
    // halts at the canary again.
    let g = free_port();
    let text = std::fs::read_to_string(&fleet.file)
        .unwrap()
        .replace("[tenants.b]\n", "[tenants.b]\nresources = { cpus = 0.5 }\n")
        + &format!("\n[tenants.g]\nport = {g}\n");
    fleet.write_raw(&text);
    let out = fleet.tenantctl_expect(&["apply"], 1);
    contains(&out, "HALTED at a");
    wait_http_ok(g, "/health");
    assert_eq!(
        fleet.inspect("b", "{{.HostConfig.NanoCpus}}").trim(),
        "500000000"
    );
    assert_eq!(fleet.container_id("b"), ids[1], "b updated in place: {out}");
    assert_eq!(running_image(&fleet, "a"), v1);
    // The same rollout is not retried by another apply.
    let again = fleet.tenantctl_expect(&["apply"], 1);
    contains(&again, "rollout resume");
    assert_eq!(fleet.container_id("a"), ids[0], "{again}");
    // A controller started now reports the halt and does not retry it.
    let mut ctl = fleet.start_controller(&["--resync", "1s"]);
    let listen = ctl.listen;
    time_until("the halt in the metrics", Duration::from_secs(20), || {
        metric(listen, "tenantctl_rollout_halted{").is_some_and(|l| l.contains("tenant=\"a\""))
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        fleet.container_id("a"),
        ids[0],
        "a halted rollout is not retried"
    );

    // A good build under the same tag is a new rollout: the controller
    // rolls it out (its next pass sees the tag moved).
    let v2 = build(&fleet, &tag, "LABEL build=\"v2\"");
    time_until("all six on v2", Duration::from_secs(120), || {
        TENANTS.iter().all(|t| {
            docker(&["inspect", "-f", "{{.Image}}", &fleet.container_name(t)])
                .stdout
                .starts_with(v2.as_bytes())
        })
    });
    time_until("the rollout done", Duration::from_secs(30), || {
        metric(listen, "tenantctl_rollout_info{").is_some_and(|l| l.contains("state=\"done\""))
    });
    assert!(metric(listen, "tenantctl_rollout_halted{").is_none());
    ctl.terminate(Duration::from_secs(15));
    for (i, name) in TENANTS.iter().enumerate() {
        let note = wait_http_ok(ports[i], "/data/note.txt");
        assert_eq!(note, format!("written by v1 for {name}"));
    }
    assert_eq!(fleet.containers().len(), TENANTS.len() + 1, "six and g");
    fleet.tenantctl_expect(&["rollout", "status"], 0);
}

#[test]
fn a_good_image_rolls_out_canary_first_never_more_than_max_unavailable_down() {
    let fleet = Fleet::new();
    let groups = "groups = [\"canary\"]\nmax_unavailable = 2";
    let (ports, tag) = start_v1(&fleet, groups, TENANTS.len());
    let v2 = build(&fleet, &tag, "LABEL build=\"v2\"");

    // Poll every tenant's health while the rollout runs.
    let stop = Arc::new(AtomicBool::new(false));
    let worst = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (stop, worst, ports) = (stop.clone(), worst.clone(), ports.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let down = ports
                    .iter()
                    .filter(|p| http("GET", **p, "/health", "").map(|r| r.0) != Some(200))
                    .count();
                worst.fetch_max(down, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let started = Instant::now();
    let out = fleet.apply();
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    eprintln!(
        "rollout of {} tenants took {:.1}s; at most {} down at once",
        TENANTS.len(),
        took.as_secs_f64(),
        worst.load(Ordering::Relaxed)
    );
    contains(&out, "rollout of revision");
    contains(&out, "done");
    assert!(worst.load(Ordering::Relaxed) <= 2, "{out}");
    for name in TENANTS {
        assert_eq!(running_image(&fleet, name), v2);
    }
    // The canary went first, alone.
    let st = fleet.tenantctl_expect(&["rollout", "status", "--json"], 0);
    let record: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert_eq!(record["order"][0], "a");
    assert_eq!(record["phase"], "done");
    assert_eq!(fleet.containers().len(), TENANTS.len());
}

#[test]
fn a_tag_moved_during_a_rollout_does_not_split_it() {
    let fleet = Fleet::new();
    let (_ports, tag) = start_v1(&fleet, "groups = [\"canary\"]", TENANTS.len());
    let v2 = build(&fleet, &tag, "LABEL build=\"v2\"");
    let apply = Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .args(["apply", "-f"])
        .arg(fleet.file.as_path())
        .arg("--lock-file")
        .arg(fleet.apply_lock())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first tenant runs v2, the tag moves on to v3.
    time_until("the first tenant on v2", Duration::from_secs(60), || {
        TENANTS.iter().any(|t| {
            docker(&["inspect", "-f", "{{.Image}}", &fleet.container_name(t)])
                .stdout
                .starts_with(v2.as_bytes())
        })
    });
    let v3 = build(&fleet, &tag, "LABEL build=\"v3\"");
    let out = apply.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for name in TENANTS {
        assert_eq!(
            running_image(&fleet, name),
            v2,
            "{name} runs the id resolved at the start"
        );
    }
    // The moved tag is the next rollout.
    fleet.apply();
    for name in TENANTS {
        assert_eq!(running_image(&fleet, name), v3);
    }
}

#[test]
fn start_first_behind_nginx_loses_no_request() {
    let fleet = Fleet::new();
    let nginx = common::Nginx::start(&fleet);
    let chart_dir = fleet.dir.join("charts/two-instances");
    std::fs::create_dir_all(&chart_dir).unwrap();
    let chart = std::fs::read_to_string(common::manifest_dir().join("charts/mai/chart.toml"))
        .unwrap()
        .replace(
            "consistency = \"pause\"\n",
            "consistency = \"pause\"\nstrategy = \"start-first\"\n",
        );
    std::fs::write(chart_dir.join("chart.toml"), chart).unwrap();
    let ports = [free_port(), free_port()];
    let write = |version: &str| {
        let mut text = fleet.header().replace(
            "[defaults]",
            &format!("{}\n[defaults]", nginx.proxy_table(None)),
        );
        for (name, port) in ["a", "b"].iter().zip(ports) {
            text.push_str(&format!(
                "\n[tenants.{name}]\nport = {port}\ndomain = \"{name}.example.test\"\nchart = \"{}\"\nenv = {{ APP_VERSION = \"{version}\" }}\n",
                chart_dir.display()
            ));
        }
        fleet.write_raw(&text);
    };
    write("1");
    fleet.apply();
    for port in ports {
        wait_http_ok(port, "/health");
    }
    time_until("nginx serves both", Duration::from_secs(20), || {
        ["a", "b"]
            .iter()
            .all(|t| nginx.get(&format!("{t}.example.test")).map(|r| r.0) == Some(200))
    });
    let old: Vec<Option<String>> = ["a", "b"].iter().map(|t| fleet.container_id(t)).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let port = nginx.port;
    let looper = {
        let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
        std::thread::spawn(move || {
            let proxy = common::NginxClient { port };
            while !stop.load(Ordering::Relaxed) {
                for host in ["a.example.test", "b.example.test"] {
                    sent.fetch_add(1, Ordering::Relaxed);
                    if proxy.get(host).map(|r| r.0) != Some(200) {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    write("2");
    let out = fleet.apply();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    looper.join().unwrap();
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("start-first through nginx: {sent} requests, {failed} failed");
    assert_eq!(failed, 0, "{out}");
    assert!(sent > 100, "the loop ran through the update ({sent})");
    for (i, t) in ["a", "b"].iter().enumerate() {
        assert_ne!(fleet.container_id(t), old[i], "{t} was updated: {out}");
        assert!(fleet
            .inspect(t, "{{.Config.Env}}")
            .contains("APP_VERSION=2"));
    }
    assert_eq!(fleet.containers().len(), 2, "no bridge left behind");
}

/// A small seeded generator, so a failing run can be replayed.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

// Runs in CI: KILL_RUNS (default 20: 10 apply, 10 controller);
// `make rollout-kill` runs more.
#[test]
fn a_rollout_killed_at_random_points_converges_after_a_restart() {
    let runs: usize = std::env::var("KILL_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut seed: u64 = std::env::var("KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(14);
    let fleet = Fleet::new();
    let (ports, tag) = start_v1(&fleet, "groups = [\"canary\"]", 3);
    let v1 = image_id(STANDIN_IMAGE);
    let v2 = build(
        &fleet,
        &format!("{}-app:v2", fleet.prefix()),
        "LABEL build=\"v2\"",
    );
    let mut converge = Vec::new();
    for run in 0..runs {
        let target = if run % 2 == 0 { &v2 } else { &v1 };
        docker_ok(&["tag", target, &tag]);
        let delay = Duration::from_millis(next(&mut seed) % 6000);
        let names: Vec<String> = TENANTS[..3]
            .iter()
            .map(|t| fleet.container_name(t))
            .collect();
        let on_target = || {
            fleet.containers() == names
                && TENANTS[..3].iter().all(|t| {
                    docker(&["inspect", "-f", "{{.Image}}", &fleet.container_name(t)])
                        .stdout
                        .starts_with(target.as_bytes())
                })
        };
        let by_controller = (run / 2) % 2 == 1;
        eprintln!(
            "run {run}: to {}, killing {} after {delay:?}",
            &target[7..19],
            if by_controller {
                "the controller"
            } else {
                "apply"
            }
        );
        let out;
        if by_controller {
            // The controller rolls it out; SIGKILL, then a new controller
            // finishes it.
            let ctl = fleet.start_controller(&["--resync", "1s"]);
            std::thread::sleep(delay);
            drop(ctl); // SIGKILL
            let started = Instant::now();
            let mut again = fleet.start_controller(&["--resync", "1s"]);
            let deadline = Instant::now() + Duration::from_secs(90);
            while !(on_target() && fleet.tenantctl(&["rollout", "status"]).status.success()) {
                if Instant::now() > deadline {
                    let record = fleet.tenantctl(&["rollout", "status"]);
                    panic!(
                        "run {run} (controller killed after {delay:?}) did not converge:\ncontainers {:?}\n{}\n{}",
                        fleet.containers(),
                        String::from_utf8_lossy(&record.stdout),
                        again.logs()
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            converge.push(started.elapsed());
            out = again.logs();
            again.terminate(Duration::from_secs(15));
        } else {
            let mut apply = Command::new(env!("CARGO_BIN_EXE_tenantctl"))
                .args(["apply", "-f"])
                .arg(fleet.file.as_path())
                .arg("--lock-file")
                .arg(fleet.apply_lock())
                .env("TENANTCTL_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(delay);
            let _ = apply.kill(); // SIGKILL
            let _ = apply.wait();
            let started = Instant::now();
            out = fleet.apply();
            converge.push(started.elapsed());
        }
        assert!(on_target(), "run {run} (killed after {delay:?}): {out}");
        for (name, port) in TENANTS[..3].iter().zip(&ports) {
            assert_eq!(&running_image(&fleet, name), target, "run {run}: {out}");
            let note = wait_http_ok(*port, "/data/note.txt");
            assert_eq!(note, format!("written by v1 for {name}"), "run {run}");
        }
        let record = fleet.tenantctl_expect(&["rollout", "status", "--json"], 0);
        assert!(
            record.contains("\"phase\": \"done\""),
            "run {run}: {record}"
        );
    }
    converge.sort();
    eprintln!(
        "{runs} rollouts killed at random points (apply and controller in turn): all converged; converging after the kill took {:.1}s median, {:.1}s max",
        converge[converge.len() / 2].as_secs_f64(),
        converge.last().unwrap().as_secs_f64()
    );
}
