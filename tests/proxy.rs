//! The nginx side against a real nginx (Debian's package) started by the
//! test on a loopback port with its own prefix, and real tenants.

mod common;

use common::{free_port, time_until, Fleet, Nginx};
use std::time::Duration;

fn fleet_with_proxy(
    fleet: &Fleet,
    nginx: &Nginx,
    tenants: &[(&str, u16, &str)],
    test_command: Option<&str>,
) {
    let mut text = fleet.header();
    text = text.replace(
        "[defaults]",
        &format!("{}\n[defaults]", nginx.proxy_table(test_command)),
    );
    for (name, port, extra) in tenants {
        text.push_str(&format!(
            "\n[tenants.{name}]\nport = {port}\ndomain = \"{name}.example.test\"\n{extra}\n"
        ));
    }
    fleet.write_raw(&text);
}

fn body_of(response: &str) -> &str {
    response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim())
        .unwrap_or("")
}

#[test]
fn each_host_reaches_its_tenant_unknown_hosts_reach_none_and_reapply_does_not_reload() {
    let fleet = Fleet::new();
    let nginx = Nginx::start(&fleet);
    fleet_with_proxy(
        &fleet,
        &nginx,
        &[("alpha", free_port(), ""), ("beta", free_port(), "")],
        None,
    );
    fleet.apply();
    for name in ["alpha", "beta"] {
        time_until(
            &format!("{name} through nginx"),
            Duration::from_secs(20),
            || {
                nginx
                    .get(&format!("{name}.example.test"))
                    .is_some_and(|(s, r)| s == 200 && body_of(&r) == format!("mAI - {name}"))
            },
        );
    }
    // An unknown Host gets no answer (444), never a tenant's page.
    let unknown = nginx.get("evil.example.test");
    assert!(
        unknown.as_ref().is_none_or(|(s, _)| *s >= 400),
        "{unknown:?}"
    );

    let reloads = nginx.reloads();
    assert_eq!(reloads, 1);
    let out = fleet.apply();
    assert!(out.contains("Nothing to do"), "{out}");
    assert_eq!(
        nginx.reloads(),
        reloads,
        "a second apply does not reload nginx"
    );
}

#[test]
fn a_paused_stopped_tenant_gets_the_503_page_with_retry_after() {
    let fleet = Fleet::new();
    let nginx = Nginx::start(&fleet);
    let (pa, pb) = (free_port(), free_port());
    fleet_with_proxy(&fleet, &nginx, &[("alpha", pa, ""), ("beta", pb, "")], None);
    fleet.apply();
    common::docker_ok(&["stop", &fleet.container_name("alpha")]);
    fleet_with_proxy(
        &fleet,
        &nginx,
        &[("alpha", pa, "paused = true"), ("beta", pb, "")],
        None,
    );
    let plan = fleet.tenantctl_expect(&["plan"], 0);
    assert!(
        plan.contains("return 503"),
        "the plan shows the nginx change as a diff:\n{plan}"
    );
    fleet.apply();
    // nginx swaps workers asynchronously after `-s reload`: for a moment
    // the old worker may still answer. Wait until the answer is stable.
    time_until(
        "alpha answers 503, steadily",
        Duration::from_secs(10),
        || {
            (0..5).all(|_| {
                std::thread::sleep(Duration::from_millis(50));
                nginx
                    .get("alpha.example.test")
                    .is_some_and(|(s, _)| s == 503)
            })
        },
    );
    let (status, response) = nginx.get("alpha.example.test").unwrap();
    assert_eq!(status, 503, "{response}");
    assert!(response.contains("Retry-After: 30"), "{response}");
    assert!(response.contains("alpha is temporarily unavailable"));
    assert_eq!(nginx.get("beta.example.test").unwrap().0, 200);
}

/// A certificate and its key, made for the test, in `dir`.
fn cert_pair(dir: &std::path::Path, name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![format!("{name}.example.test")])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (c, k) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c.display().to_string(), k.display().to_string())
}

#[test]
fn a_missing_or_mismatched_certificate_is_refused_at_validation_and_changes_nothing() {
    let fleet = Fleet::new();
    let nginx = Nginx::start(&fleet);
    let (pa, pb) = (free_port(), free_port());
    fleet_with_proxy(&fleet, &nginx, &[("alpha", pa, ""), ("beta", pb, "")], None);
    fleet.apply();
    let conf_before =
        std::fs::read_to_string(nginx.prefix.join("conf.d/tenantctl-tenant-alpha.conf")).unwrap();
    let (a_cert, _) = cert_pair(&fleet.dir, "alpha");
    let (_, b_key) = cert_pair(&fleet.dir, "beta");
    let missing = fleet.dir.join("missing.pem").display().to_string();
    for (cert, key, says) in [
        (missing.as_str(), b_key.as_str(), "cannot read certificate"),
        (
            a_cert.as_str(),
            b_key.as_str(),
            "the key does not belong to the certificate",
        ),
    ] {
        let tls = format!(
            "display_name = \"Alpha TLS\"\ntls = {{ certificate = \"{cert}\", key = \"{key}\" }}"
        );
        fleet_with_proxy(
            &fleet,
            &nginx,
            &[("alpha", pa, &tls), ("beta", pb, "")],
            None,
        );
        let out = fleet.tenantctl_expect(&["validate"], 1);
        let at = format!("{}:31:23:", fleet.file.display());
        assert!(
            out.contains(&at) && out.contains(says),
            "{at} {says}: {out}"
        );
        let out = fleet.tenantctl_expect(&["apply"], 1);
        assert!(out.contains(says), "{out}");
        // Nothing changed: alpha is served as before, over plain HTTP.
        assert_eq!(
            std::fs::read_to_string(nginx.prefix.join("conf.d/tenantctl-tenant-alpha.conf"))
                .unwrap(),
            conf_before
        );
        assert_eq!(nginx.get("alpha.example.test").map(|(s, _)| s), Some(200));
    }
}

#[test]
fn a_broken_candidate_leaves_the_old_config_serving() {
    let fleet = Fleet::new();
    let nginx = Nginx::start(&fleet);
    let (pa, pb) = (free_port(), free_port());
    fleet_with_proxy(&fleet, &nginx, &[("alpha", pa, "")], None);
    fleet.apply();
    let before =
        std::fs::read_to_string(nginx.prefix.join("conf.d/tenantctl-00-common.conf")).unwrap();
    // Every candidate fails the test now (as a global syntax error would).
    fleet_with_proxy(
        &fleet,
        &nginx,
        &[("alpha", pa, ""), ("beta", pb, "")],
        Some("[\"sh\", \"-c\", \"exit 1\"]"),
    );
    let out = fleet.tenantctl_expect(&["apply"], 1);
    assert!(
        out.contains("FAIL proxy: nginx config test failed"),
        "{out}"
    );
    assert!(
        !nginx
            .prefix
            .join("conf.d/tenantctl-tenant-beta.conf")
            .exists(),
        "the candidate was rolled back"
    );
    assert_eq!(
        std::fs::read_to_string(nginx.prefix.join("conf.d/tenantctl-00-common.conf")).unwrap(),
        before
    );
    assert_eq!(
        nginx.get("alpha.example.test").unwrap().0,
        200,
        "the old config keeps serving"
    );
    assert_eq!(nginx.reloads(), 1);
}

#[test]
fn the_controller_keeps_nginx_in_step_and_reports_reload_health() {
    let fleet = Fleet::new();
    let nginx = Nginx::start(&fleet);
    let (pa, pb) = (free_port(), free_port());
    fleet_with_proxy(&fleet, &nginx, &[("alpha", pa, "")], None);
    let ctl = fleet.start_controller(&[]);
    time_until("alpha through nginx", Duration::from_secs(30), || {
        nginx
            .get("alpha.example.test")
            .is_some_and(|(s, _)| s == 200)
    });
    fleet_with_proxy(&fleet, &nginx, &[("alpha", pa, ""), ("beta", pb, "")], None);
    time_until(
        "new tenant beta through nginx",
        Duration::from_secs(30),
        || {
            nginx
                .get("beta.example.test")
                .is_some_and(|(s, _)| s == 200)
        },
    );
    let metrics = common::http("GET", ctl.listen, "/metrics", "").unwrap().1;
    assert!(
        metrics.contains("tenantctl_proxy_last_reload_successful 1"),
        "{metrics}"
    );
}
