//! HTTPS with certificates from a real ACME CA (Pebble) through the real
//! HTTP-01 path of a real nginx: issuance for several tenants, one domain
//! that does not resolve (plain HTTP, retried with backoff), the expiry
//! metric, renewal inside `renew_before`, the time from adding a tenant
//! to its first HTTPS answer, and an unreachable CA.

mod common;
#[path = "common/pebble.rs"]
mod pebble;

use common::*;
use pebble::Pebble;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Https {
    port: u16,
    root: std::path::PathBuf,
}

impl Https {
    /// GET / over HTTPS as `host`, trusting only Pebble's issuing root:
    /// (status, body), or curl's complaint.
    fn get(&self, host: &str) -> Result<(u16, String), String> {
        let out = Command::new("curl")
            .args(["-s", "-S", "-m", "5", "-w", "\n%{http_code}", "--cacert"])
            .arg(&self.root)
            .args(["--resolve", &format!("{host}:{}:127.0.0.1", self.port)])
            .arg(format!("https://{host}:{}/", self.port))
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).to_string());
        }
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or_default();
        Ok((code.trim().parse().unwrap_or(0), body.to_string()))
    }

    /// The serial of the certificate served for `host`.
    fn serial(&self, host: &str) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl s_client -connect 127.0.0.1:{} -servername {host} </dev/null 2>/dev/null | openssl x509 -noout -serial",
                self.port
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

fn cert_of(state: &Path, domain: &str) -> tenantctl::certfile::CertInfo {
    let pem = std::fs::read(
        state
            .join("certificates")
            .join(domain)
            .join("fullchain.pem"),
    )
    .unwrap();
    tenantctl::certfile::cert_info(&pem).unwrap()
}

fn write_file(
    fleet: &Fleet,
    nginx: &Nginx,
    pebble: &Pebble,
    tls_port: u16,
    state: &Path,
    tenants: &[(&str, u16)],
    extra_acme: &str,
) {
    let mut text = fleet.header().replace(
        "[defaults]",
        &format!(
            "{}tls_listen = \"127.0.0.1:{tls_port}\"\ntls = \"acme\"\n\n{}{extra_acme}\n[defaults]",
            nginx.proxy_table(None),
            pebble.acme_table(state)
        ),
    );
    for (name, port) in tenants {
        text.push_str(&format!(
            "\n[tenants.{name}]\nport = {port}\ndomain = \"{name}.example.test\"\ndisplay_name = \"{name} site\"\n"
        ));
    }
    fleet.write_raw(&text);
}

#[test]
fn tenants_get_certificates_through_http01_renew_them_and_an_unresolvable_one_waits() {
    let fleet = Fleet::new();
    let nginx = Nginx::start(&fleet);
    let mut pebble = Pebble::start(&fleet.dir, nginx.port);
    let state = fleet.dir.join("acme");
    let https = Https {
        port: free_port(),
        root: pebble.issuing_root.clone(),
    };
    for host in ["alpha", "beta", "gamma", "epsilon", "zeta"] {
        pebble.add_host(&format!("{host}.example.test"));
    }
    // delta's name is never added: Pebble's DNS does not resolve it.
    let mut tenants = vec![
        ("alpha", free_port()),
        ("beta", free_port()),
        ("gamma", free_port()),
        ("delta", free_port()),
    ];
    write_file(&fleet, &nginx, &pebble, https.port, &state, &tenants, "");

    // One apply: the containers, plain-HTTP vhosts that answer the
    // challenge, three certificates, their HTTPS blocks; delta fails.
    let out = fleet.tenantctl_expect(&["apply"], 1);
    for t in ["alpha", "beta", "gamma"] {
        assert!(
            out.contains(&format!("ok   certificate {t}: {t}.example.test")),
            "{out}"
        );
        // `nginx -s reload` returns when the signal is sent: the master
        // opens the new HTTPS listener a moment later.
        time_until(
            &format!("{t}: the HTTPS listener"),
            Duration::from_secs(10),
            || https.get(&format!("{t}.example.test")).is_ok(),
        );
        let (status, body) = https
            .get(&format!("{t}.example.test"))
            .unwrap_or_else(|e| panic!("{t}: {e}\n{out}"));
        assert_eq!(status, 200, "{t}: {body}");
        assert!(
            body.contains(&format!("{t} site")),
            "{t} reached another tenant: {body}"
        );
        // Plain HTTP redirects to HTTPS (once the old workers are gone).
        time_until("plain HTTP redirects", Duration::from_secs(10), || {
            nginx
                .get(&format!("{t}.example.test"))
                .is_some_and(|(s, _)| s == 301)
        });
    }
    assert!(out.contains("FAIL certificate delta"), "{out}");
    assert!(out.contains("could not resolve"), "{out}");
    // delta keeps plain HTTP, serving its tenant.
    let (code, response) = nginx.get("delta.example.test").unwrap();
    assert_eq!(code, 200, "{response}");
    assert!(response.contains("delta site"));
    assert!(https.get("delta.example.test").is_err());
    // Keys are private.
    use std::os::unix::fs::PermissionsExt;
    for f in ["certificates/alpha.example.test/key.pem", "account.key"] {
        let mode = std::fs::metadata(state.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    // A second apply right away does not order again: delta waits out its
    // backoff, the others are fresh; nothing is reloaded.
    let reloads = nginx.reloads();
    let out = fleet.tenantctl_expect(&["apply"], 0);
    assert!(!out.contains("certificate"), "{out}");
    assert_eq!(nginx.reloads(), reloads);
    let schedule = std::fs::read_to_string(state.join("schedule.json")).unwrap();
    assert!(schedule.contains("\"failures\": 1"), "{schedule}");

    // status shows the day each certificate expires.
    let status = fleet.tenantctl_expect(&["status"], 0);
    let day = chrono::DateTime::<chrono::Utc>::from(cert_of(&state, "beta.example.test").not_after)
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("beta ") && l.contains(&day)),
        "{status}"
    );
    assert!(status.contains("CERT"), "{status}");

    // The controller: its expiry metric is the certificate's.
    let ctl = fleet.start_controller(&["--resync", "2s"]);
    let alpha = cert_of(&state, "alpha.example.test");
    let want = format!(
        "tenantctl_certificate_expiry_timestamp_seconds{{domain=\"alpha.example.test\",tenant=\"alpha\"}} {}",
        tenantctl::certfile::unix_seconds(alpha.not_after)
    );
    time_until("the expiry metric", Duration::from_secs(30), || {
        metric(
            ctl.listen,
            "tenantctl_certificate_expiry_timestamp_seconds{domain=\"alpha.example.test\"",
        )
        .is_some_and(|l| l == want)
    });

    // Adding a tenant: its first HTTPS answer, timed.
    tenants.push(("epsilon", free_port()));
    let added = Instant::now();
    write_file(&fleet, &nginx, &pebble, https.port, &state, &tenants, "");
    time_until("epsilon served over HTTPS", Duration::from_secs(90), || {
        https
            .get("epsilon.example.test")
            .is_ok_and(|(s, b)| s == 200 && b.contains("epsilon site"))
    });
    let first_https = added.elapsed();
    eprintln!(
        "FIGURE acme tenant_added_to_first_https_ms={}",
        first_https.as_millis()
    );

    // Renewal: a window wider than the certificates' lifetime makes every
    // one due; each is renewed once (then held, see schedule::RENEW_HOLD)
    // and the new one is served.
    let before = https.serial("alpha.example.test");
    assert!(!before.is_empty());
    write_file(
        &fleet,
        &nginx,
        &pebble,
        https.port,
        &state,
        &tenants,
        "renew_before = \"100000d\"\n",
    );
    time_until(
        "alpha's renewed certificate served",
        Duration::from_secs(90),
        || {
            let now = https.serial("alpha.example.test");
            !now.is_empty() && now != before
        },
    );
    let renewed = cert_of(&state, "alpha.example.test");
    assert_ne!(renewed.serial, alpha.serial);
    let want = format!(
        "tenantctl_certificate_expiry_timestamp_seconds{{domain=\"alpha.example.test\",tenant=\"alpha\"}} {}",
        tenantctl::certfile::unix_seconds(renewed.not_after)
    );
    time_until(
        "the expiry metric follows the renewal",
        Duration::from_secs(90),
        || {
            metric(
                ctl.listen,
                "tenantctl_certificate_expiry_timestamp_seconds{domain=\"alpha.example.test\"",
            )
            .is_some_and(|l| l == want)
        },
    );
    ctl.wait_log("not renewed again for a day", Duration::from_secs(30));

    // The CA goes away: a new tenant stays on plain HTTP, every site
    // keeps serving as before, the failure is counted.
    pebble.stop_ca();
    tenants.push(("zeta", free_port()));
    write_file(&fleet, &nginx, &pebble, https.port, &state, &tenants, "");
    time_until(
        "zeta served over plain HTTP",
        Duration::from_secs(60),
        || {
            nginx
                .get("zeta.example.test")
                .is_some_and(|(s, r)| s == 200 && r.contains("zeta site"))
        },
    );
    time_until("the failed order counted", Duration::from_secs(60), || {
        metric(ctl.listen, "tenantctl_acme_orders_total{result=\"failed\"}")
            .is_some_and(|l| !l.ends_with(" 0"))
    });
    for t in ["alpha", "beta", "gamma", "epsilon"] {
        let (status, body) = https.get(&format!("{t}.example.test")).unwrap();
        assert_eq!(status, 200, "{t}: {body}");
    }
    assert!(https.get("zeta.example.test").is_err());
    assert!(
        !ctl.logs().contains("BEGIN"),
        "a key or certificate in the log"
    );
}
