//! `[proxy] kind = "caddy"`: tenantctl drives a real Caddy (Debian's
//! `caddy`) through its admin API, and Caddy's own automatic HTTPS gets
//! certificates from a real ACME CA (Pebble) through HTTP-01.

mod common;
#[path = "common/pebble.rs"]
mod pebble;

use common::*;
use pebble::Pebble;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

struct Caddy {
    child: Child,
    admin: u16,
    log: std::path::PathBuf,
}

impl Caddy {
    /// `caddy run` with only its admin API (tenantctl loads the rest),
    /// its storage in the test's folder.
    fn start(fleet: &Fleet) -> Caddy {
        let dir = fleet.dir.join("caddy");
        std::fs::create_dir_all(&dir).unwrap();
        let admin = free_port();
        let config = dir.join("initial.json");
        std::fs::write(
            &config,
            format!(r#"{{"admin": {{"listen": "127.0.0.1:{admin}"}}}}"#),
        )
        .unwrap();
        let log = dir.join("caddy.log");
        let child = Command::new("caddy")
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env("HOME", &dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdout(std::fs::File::create(dir.join("caddy.out")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("caddy not found: install Debian's `caddy` (.ci/run does)");
        let caddy = Caddy { child, admin, log };
        time_until("caddy's admin API", Duration::from_secs(30), || {
            caddy.config().is_some()
        });
        caddy
    }

    fn config(&self) -> Option<String> {
        http("GET", self.admin, "/config/", "").map(|(_, body)| body)
    }

    /// Config loads Caddy received so far.
    fn loads(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("\"uri\":\"/load\"")
            .count()
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn curl(args: &[&str]) -> Result<String, String> {
    let out = Command::new("curl")
        .args(["-s", "-S", "-m", "5", "-i"])
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

#[test]
fn caddy_serves_each_host_over_https_with_pebble_certificates_and_keeps_its_config_on_a_refusal() {
    let fleet = Fleet::new();
    let caddy = Caddy::start(&fleet);
    let (http_port, https_port) = (free_port(), free_port());
    let pebble = Pebble::start(&fleet.dir, http_port);
    for host in ["alpha", "beta", "gamma"] {
        pebble.add_host(&format!("{host}.example.test"));
    }
    let root = pebble.issuing_root.display().to_string();
    let tenants = [
        ("alpha", free_port(), "tls = \"acme\"\n"),
        ("beta", free_port(), "tls = \"acme\"\n"),
        ("gamma", free_port(), ""),
    ];
    let write = |tls_port: u16| {
        let mut text = fleet.header().replace(
            "[defaults]",
            &format!(
                "[proxy]\nkind = \"caddy\"\nadmin = \"127.0.0.1:{}\"\nlisten = \"127.0.0.1:{http_port}\"\ntls_listen = \"127.0.0.1:{tls_port}\"\n\n{}\n[defaults]",
                caddy.admin,
                pebble.acme_table(&fleet.dir.join("acme"))
            ),
        );
        for (name, port, extra) in &tenants {
            text.push_str(&format!(
                "\n[tenants.{name}]\nport = {port}\ndomain = \"{name}.example.test\"\ndisplay_name = \"{name} site\"\n{extra}"
            ));
        }
        fleet.write_raw(&text);
    };
    write(https_port);
    let started = Instant::now();
    let out = fleet.apply();
    assert!(out.contains("ok   proxy"), "{out}");
    let https = |host: &str| {
        curl(&[
            "--cacert",
            &root,
            "--resolve",
            &format!("{host}:{https_port}:127.0.0.1"),
            &format!("https://{host}:{https_port}/"),
        ])
    };
    for t in ["alpha", "beta"] {
        time_until(&format!("{t} over HTTPS"), Duration::from_secs(90), || {
            https(&format!("{t}.example.test")).is_ok_and(|r| r.contains(&format!("{t} site")))
        });
    }
    eprintln!(
        "FIGURE caddy apply_to_https_ms={}",
        started.elapsed().as_millis()
    );
    let http = |host: &str| {
        curl(&[
            "-H",
            &format!("Host: {host}"),
            &format!("http://127.0.0.1:{http_port}/"),
        ])
    };
    // Plain HTTP: gamma is served, the HTTPS tenants redirect, an
    // unknown host reaches nobody.
    assert!(http("gamma.example.test").unwrap().contains("gamma site"));
    let redirect = http("alpha.example.test").unwrap();
    assert!(redirect.starts_with("HTTP/1.1 301"), "{redirect}");
    assert!(
        redirect.contains(&format!("https://alpha.example.test:{http_port}/"))
            || redirect.contains("Location: https://alpha.example.test"),
        "{redirect}"
    );
    let unknown = http("unknown.example.test");
    assert!(
        unknown.as_ref().map_or(true, |r| !r.contains("site")),
        "{unknown:?}"
    );

    // A second apply loads nothing.
    let loads = caddy.loads();
    assert!(loads >= 1, "Caddy's log shows no config load");
    let out = fleet.tenantctl_expect(&["apply"], 0);
    assert!(out.contains("Nothing to do"), "{out}");
    assert_eq!(caddy.loads(), loads, "a no-op apply reloaded Caddy");

    // The controller: no-op passes load nothing; the expiry metric is the
    // certificate Caddy serves.
    let ctl = fleet.start_controller(&["--resync", "1s"]);
    time_until("the controller ready", Duration::from_secs(30), || {
        common::http("GET", ctl.listen, "/readyz", "").is_some_and(|(s, _)| s == 200)
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(caddy.loads(), loads, "a no-op pass reloaded Caddy");
    let served = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(tenantctl::acme::served::served_cert(
            &format!("127.0.0.1:{https_port}"),
            "alpha.example.test",
            Duration::from_secs(5),
        ))
        .unwrap();
    let want = format!(
        "tenantctl_certificate_expiry_timestamp_seconds{{domain=\"alpha.example.test\",tenant=\"alpha\"}} {}",
        tenantctl::certfile::unix_seconds(served.not_after)
    );
    time_until(
        "the expiry metric of Caddy's certificate",
        Duration::from_secs(30),
        || {
            metric(
                ctl.listen,
                "tenantctl_certificate_expiry_timestamp_seconds{domain=\"alpha.example.test\"",
            )
            .is_some_and(|l| l == want)
        },
    );
    drop(ctl);

    // A down tenant: nothing answers on its port, Caddy says 503.
    docker_ok(&["stop", "-t", "1", &fleet.container_name("gamma")]);
    let page = http("gamma.example.test").unwrap();
    assert!(page.starts_with("HTTP/1.1 503"), "{page}");
    assert!(page.contains("Retry-After: 30"), "{page}");
    assert!(page.contains("gamma is temporarily unavailable"), "{page}");
    docker_ok(&["start", &fleet.container_name("gamma")]);

    // A candidate Caddy cannot run (its HTTPS port is taken): refused,
    // the old config keeps serving.
    let before = caddy.config().unwrap();
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    write(squatter.local_addr().unwrap().port());
    let out = fleet.tenantctl_expect(&["apply"], 1);
    assert!(out.contains("Caddy refused the config"), "{out}");
    assert_eq!(caddy.config().unwrap(), before);
    assert!(https("alpha.example.test").unwrap().contains("alpha site"));
}
