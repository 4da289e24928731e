//! GitOps pull against a real git repository on disk: a bare "remote" the
//! test pushes to, and `tenantctl run --git file://...` following it.

mod common;

use common::{docker_ok, free_port, http, manifest_dir, metric, time_until, Fleet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.test",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git not found: install git (.ci/run does)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare remote and a work clone holding charts/ and desired-state/.
struct Repo {
    remote: PathBuf,
    work: PathBuf,
}

impl Repo {
    fn new(fleet: &Fleet) -> Repo {
        let remote = fleet.dir.join("remote.git");
        let work = fleet.dir.join("work");
        std::fs::create_dir_all(&remote).unwrap();
        git(
            &remote,
            &["init", "--quiet", "--bare", "--initial-branch=main"],
        );
        std::fs::create_dir_all(work.join("charts/mai")).unwrap();
        std::fs::create_dir_all(work.join("desired-state")).unwrap();
        std::fs::copy(
            manifest_dir().join("charts/mai/chart.toml"),
            work.join("charts/mai/chart.toml"),
        )
        .unwrap();
        git(&work, &["init", "--quiet", "--initial-branch=main"]);
        git(
            &work,
            &["remote", "add", "origin", &remote.display().to_string()],
        );
        Repo { remote, work }
    }

    fn url(&self) -> String {
        format!("file://{}", self.remote.display())
    }

    /// Commits the tenants file (with the chart by relative path) and pushes.
    fn commit(&self, fleet: &Fleet, tenants: &[(&str, u16, &str)], message: &str) -> String {
        let chart = manifest_dir().join("charts/mai").display().to_string();
        let mut text = fleet
            .header()
            .replace(&format!("\"{chart}\""), "\"../charts/mai\"");
        for (name, port, extra) in tenants {
            text.push_str(&format!("\n[tenants.{name}]\nport = {port}\n{extra}\n"));
        }
        std::fs::write(self.work.join("desired-state/tenants.toml"), text).unwrap();
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "--quiet", "-m", message]);
        git(
            &self.work,
            &["push", "--quiet", "--force", "origin", "HEAD:main"],
        );
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

fn name_is(port: u16, want: &str) -> bool {
    matches!(http("GET", port, "/", ""), Some((200, body)) if body.trim() == want)
}

#[test]
fn the_controller_follows_the_branch_refuses_bad_commits_and_follows_force_pushes() {
    let fleet = Fleet::new();
    let repo = Repo::new(&fleet);
    let (pa, pb) = (free_port(), free_port());
    let first = repo.commit(&fleet, &[("alpha", pa, "display_name = \"v1\"")], "first");
    let checkout = fleet.dir.join("checkout");
    let ctl = fleet.start_controller(&[
        "--git",
        &repo.url(),
        "--pull-interval",
        "1s",
        "--checkout",
        &checkout.display().to_string(),
    ]);
    time_until("first commit converged", WAIT, || name_is(pa, "mAI - v1"));
    assert!(metric(ctl.listen, "tenantctl_config_info")
        .unwrap()
        .contains(&format!("revision=\"{first}\"")));

    // A commit adding a tenant is applied within a pull interval or so.
    let second = repo.commit(
        &fleet,
        &[("alpha", pa, "display_name = \"v2\""), ("beta", pb, "")],
        "add beta",
    );
    let t = time_until("commit adding a tenant applied", WAIT, || {
        name_is(pb, "mAI - beta") && name_is(pa, "mAI - v2")
    });
    eprintln!("push to converged (1s pull interval): {t:?}");
    assert!(
        ctl.logs().contains(&format!("revision={second}")),
        "changes are logged with their revision"
    );

    // alpha's recreate finishes: the new container answers before it
    // has passed its gate and taken the name, and the old one is kept
    // aside for min_ready.
    time_until("alpha's replacement settled", WAIT, || {
        fleet.container_id("alpha").is_some() && fleet.containers().len() == 2
    });

    // A bad commit (duplicate port) is refused; nothing changes.
    let ids = (fleet.container_id("alpha"), fleet.container_id("beta"));
    let bad = repo.commit(
        &fleet,
        &[("alpha", pa, "display_name = \"bad\""), ("beta", pa, "")],
        "bad",
    );
    ctl.wait_log("revision refused", WAIT);
    assert!(
        ctl.logs().lines().any(|l| l.contains("revision refused")
            && l.contains(&bad)
            // beta's port: 7 lines after the header (see `commit`).
            && l.contains(&format!("tenants.toml:{}:8", fleet.header().lines().count() + 7))
            && l.contains("already used")),
        "the refusal names the commit and PATH:LINE:COL:\n{}",
        ctl.logs()
    );
    time_until("config_valid 0", WAIT, || {
        metric(ctl.listen, "tenantctl_config_valid").as_deref() == Some("tenantctl_config_valid 0")
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        (fleet.container_id("alpha"), fleet.container_id("beta")),
        ids,
        "the fleet stays as it was"
    );
    assert!(name_is(pa, "mAI - v2"));
    assert!(metric(ctl.listen, "tenantctl_config_info")
        .unwrap()
        .contains(&format!("revision=\"{second}\"")));

    // A force push back to the first commit is followed.
    git(&repo.work, &["reset", "--quiet", "--hard", &first]);
    git(
        &repo.work,
        &["push", "--quiet", "--force", "origin", "HEAD:main"],
    );
    time_until("force push followed", WAIT, || name_is(pa, "mAI - v1"));
    assert_eq!(
        metric(ctl.listen, "tenantctl_config_valid").as_deref(),
        Some("tenantctl_config_valid 1")
    );

    // The remote disappears: the fleet keeps running, failures are counted.
    std::fs::remove_dir_all(&repo.remote).unwrap();
    time_until("pull failures counted", WAIT, || {
        metric(ctl.listen, "tenantctl_git_pull_failures_total").is_some_and(|l| !l.ends_with(" 0"))
    });
    docker_ok(&["stop", &fleet.container_name("alpha")]);
    time_until("last good revision still enforced", WAIT, || {
        name_is(pa, "mAI - v1")
    });
    assert!(metric(
        ctl.listen,
        "tenantctl_git_last_pull_success_timestamp_seconds"
    )
    .is_some());
}

/// A controller following `repo` with the webhook secret `hook-secret`
/// and a 300 s poll (only a webhook pulls soon), once tenant `alpha` on
/// `port` serves the first commit.
fn webhook_controller(fleet: &Fleet, repo: &Repo, port: u16) -> common::ControllerProc {
    repo.commit(fleet, &[("alpha", port, "display_name = \"v1\"")], "first");
    let secret_file = fleet.dir.join("webhook.secret");
    std::fs::write(&secret_file, "hook-secret\n").unwrap();
    let ctl = fleet.start_controller(&[
        "--git",
        &repo.url(),
        "--pull-interval",
        "300s",
        "--checkout",
        &fleet.dir.join("checkout").display().to_string(),
        "--webhook-secret-file",
        &secret_file.display().to_string(),
    ]);
    time_until("first commit converged", WAIT, || name_is(port, "mAI - v1"));
    ctl
}

#[test]
fn a_signed_webhook_pulls_at_once_and_a_wrongly_signed_one_is_refused() {
    let fleet = Fleet::new();
    let repo = Repo::new(&fleet);
    let pa = free_port();
    let ctl = webhook_controller(&fleet, &repo, pa);
    repo.commit(&fleet, &[("alpha", pa, "display_name = \"v2\"")], "second");

    let body = r#"{"ref":"refs/heads/main"}"#;
    let post = |signature: &str| -> Option<u16> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", ctl.listen)).ok()?;
        write!(
            s,
            "POST /hooks/git HTTP/1.0\r\nContent-Type: application/json\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut response = String::new();
        s.read_to_string(&mut response).ok()?;
        response.split_whitespace().nth(1)?.parse().ok()
    };
    let wrong = tenantctl::webhook::sign(b"not-the-secret", body.as_bytes());
    assert_eq!(post(&wrong), Some(401));
    assert_eq!(post("sha256=00"), Some(401));
    std::thread::sleep(Duration::from_secs(2));
    assert!(name_is(pa, "mAI - v1"), "a refused webhook pulls nothing");

    let good = tenantctl::webhook::sign(b"hook-secret", body.as_bytes());
    assert_eq!(post(&good), Some(202));
    let t = time_until("webhook pull applied", WAIT, || name_is(pa, "mAI - v2"));
    eprintln!("signed webhook to converged: {t:?}");
}

/// Regression (issue 10, item 18): a revision whose chart path points out
/// of the checkout used to be read from the server's own disk.
#[test]
fn a_revision_whose_chart_leaves_the_checkout_is_refused() {
    let fleet = Fleet::new();
    let repo = Repo::new(&fleet);
    let pa = free_port();
    repo.commit(&fleet, &[("alpha", pa, "display_name = \"v1\"")], "first");
    let ctl = fleet.start_controller(&[
        "--git",
        &repo.url(),
        "--pull-interval",
        "1s",
        "--checkout",
        &fleet.dir.join("checkout").display().to_string(),
    ]);
    time_until("first commit converged", WAIT, || name_is(pa, "mAI - v1"));

    // The server's own copy of a chart, by absolute path and by `../..`.
    let outside = manifest_dir().join("charts/mai").display().to_string();
    for (i, chart) in [outside.clone(), format!("../../../../../..{outside}")]
        .into_iter()
        .enumerate()
    {
        let text = format!(
            "{}\n[tenants.alpha]\nport = {pa}\ndisplay_name = \"outside\"\nchart = \"{chart}\"\n",
            fleet.header()
        );
        std::fs::write(repo.work.join("desired-state/tenants.toml"), text).unwrap();
        git(&repo.work, &["commit", "--quiet", "-am", "outside"]);
        git(&repo.work, &["push", "--quiet", "origin", "HEAD:main"]);
        time_until("revision refused", WAIT, || {
            ctl.logs()
                .lines()
                .filter(|l| l.contains("outside the git checkout"))
                .count()
                > i
        });
        time_until("config_valid 0", WAIT, || {
            metric(ctl.listen, "tenantctl_config_valid").as_deref()
                == Some("tenantctl_config_valid 0")
        });
    }
    assert!(name_is(pa, "mAI - v1"), "the last good revision stays");
}

/// Sends `head` (and `body`, if any) on a fresh connection and returns the
/// status of the answer, or `None` if the connection was closed without
/// one; reads for at most `within`.
fn raw_status(listen: u16, head: &[u8], body: &[u8], within: Duration) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", listen)).ok()?;
    s.set_read_timeout(Some(within)).ok()?;
    s.write_all(head).ok()?;
    let _ = s.write_all(body);
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
        if response.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Issue 17, item 6: the listener under hostile clients — an oversized
/// body refused before it is read, an oversized head, a body that never
/// arrives, 200 slowloris clients — and a replayed webhook delivery.
#[test]
fn the_listener_holds_against_hostile_clients_and_a_replayed_webhook_is_harmless() {
    let fleet = Fleet::new();
    let repo = Repo::new(&fleet);
    let pa = free_port();
    let ctl = webhook_controller(&fleet, &repo, pa);
    let listen = ctl.listen;

    // 50 MB declared, 1 KiB sent: 413 at once, not after reading (or
    // waiting for) the rest.
    let started = std::time::Instant::now();
    let head = b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 52428800\r\n\r\n";
    assert_eq!(
        raw_status(listen, head, &[b'x'; 1024], Duration::from_secs(5)),
        Some(413)
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // A 100 KiB header: refused (431), never served.
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100 << 10)
    );
    let status = raw_status(listen, big.as_bytes(), b"", Duration::from_secs(5));
    assert!(matches!(status, Some(431) | None), "{status:?}");

    // A body announced and never sent: 408 after the body timeout.
    let head = b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";
    assert_eq!(
        raw_status(listen, head, b"{", Duration::from_secs(15)),
        Some(408)
    );

    // 200 slowloris clients, each dribbling its head a byte at a time.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut dribblers = Vec::new();
    for _ in 0..200 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", listen)) {
            use std::io::Write;
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
            dribblers.push(s);
        }
    }
    assert_eq!(dribblers.len(), 200);
    let dribble = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for s in &mut dribblers {
                    let _ = s.write_all(b"X");
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let path = if i % 2 == 0 { "/metrics" } else { "/readyz" };
        let started = std::time::Instant::now();
        let answer = http("GET", listen, path, "");
        let took = started.elapsed();
        assert!(
            answer.is_some_and(|(s, _)| s == 200),
            "{path} under slowloris"
        );
        slowest = slowest.max(took);
        assert!(took < Duration::from_secs(1), "{path} took {took:?}");
    }
    eprintln!("slowest /metrics or /readyz answer under 200 slowloris clients: {slowest:?}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    dribble.join().unwrap();

    // The same signed delivery three times: one pull's worth of change,
    // one container, nothing recreated by the replays.
    repo.commit(&fleet, &[("alpha", pa, "display_name = \"v2\"")], "second");
    let body = r#"{"ref":"refs/heads/main"}"#;
    let signature = tenantctl::webhook::sign(b"hook-secret", body.as_bytes());
    let delivery = format!(
        "POST /hooks/git HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(
        raw_status(listen, delivery.as_bytes(), b"", Duration::from_secs(5)),
        Some(202)
    );
    time_until("webhook pull applied", WAIT, || name_is(pa, "mAI - v2"));
    let id = fleet.container_id("alpha").unwrap();
    for _ in 0..2 {
        assert_eq!(
            raw_status(listen, delivery.as_bytes(), b"", Duration::from_secs(5)),
            Some(202)
        );
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        fleet.container_id("alpha").unwrap(),
        id,
        "a replay recreated"
    );
    assert_eq!(fleet.containers(), vec![fleet.container_name("alpha")]);
    assert!(name_is(pa, "mAI - v2"));
}
