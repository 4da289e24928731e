//! Caddy's whole configuration as JSON, rendered from the desired state
//! (pure; the counterpart of `render` for nginx). Two servers:
//! - `tenantctl_http` on `listen`: plain-HTTP tenants, and a redirect to
//!   HTTPS for the others (Caddy answers ACME HTTP-01 challenges on this
//!   port before any route);
//! - `tenantctl_https` on `tls_listen`: HTTPS tenants, with certificates
//!   from Caddy's automatic HTTPS (`tls = "acme"`, through `[proxy.acme]`'s
//!   CA: its `acme_ca`, `ca_root` and email) or loaded from files.
//!
//! Per tenant: a route for its domain to `127.0.0.1:<port>` (streaming,
//! websockets and the forwarding headers as the nginx kind sends them), the
//! 503 page with `Retry-After` when it is down or nothing answers there.
//! A request for an unknown host is dropped (nginx's `return 444`): it
//! never reaches a tenant. Values were validated (hostnames, ports), and
//! JSON escapes the rest.

use super::render::{tls_files, upstream_addr, Certified};
use crate::desired::{DesiredState, DesiredTenant, ProxyKind, ProxySpec, TlsSource};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The one "file" of the Caddy kind in plans and diffs.
pub const CADDY_FILE: &str = "caddy.json";

/// `80` → `:80`; addresses are kept.
fn caddy_listen(listen: &str) -> String {
    if listen.contains(':') {
        listen.to_string()
    } else {
        format!(":{listen}")
    }
}

fn port_of(listen: &str) -> u16 {
    listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

fn host_match(t: &DesiredTenant) -> Value {
    json!([{ "host": [t.domain.as_deref().unwrap_or_default()] }])
}

fn unavailable_page(t: &DesiredTenant, proxy: &ProxySpec) -> Value {
    json!({
        "handler": "static_response",
        "status_code": 503,
        "headers": {
            "Content-Type": ["text/plain; charset=utf-8"],
            "Retry-After": [proxy.retry_after.to_string()],
        },
        "body": format!("{} is temporarily unavailable; please retry shortly.\n", t.name),
    })
}

/// The tenant's route on the server that serves it.
fn serving_route(t: &DesiredTenant, proxy: &ProxySpec, available: bool) -> Value {
    let handler = if available {
        json!({
            "handler": "reverse_proxy",
            "upstreams": [{ "dial": upstream_addr(t) }],
            // Streamed model answers: every chunk goes out as it comes.
            "flush_interval": -1,
            "headers": { "request": { "set": {
                "X-Real-IP": ["{http.request.remote.host}"],
            } } },
        })
    } else {
        unavailable_page(t, proxy)
    };
    json!({ "match": host_match(t), "handle": [handler], "terminal": true })
}

fn redirect_route(t: &DesiredTenant) -> Value {
    json!({
        "match": host_match(t),
        "handle": [{
            "handler": "static_response",
            "status_code": 301,
            "headers": { "Location": ["https://{http.request.host}{http.request.uri}"] },
        }],
        "terminal": true,
    })
}

/// Unknown hosts: the connection is closed without an answer.
fn drop_unknown() -> Value {
    json!({ "handle": [{ "handler": "static_response", "abort": true }] })
}

/// Errors (nothing answers on a tenant's port): its 503 page.
fn error_routes(tenants: &[&DesiredTenant], proxy: &ProxySpec) -> Value {
    let routes: Vec<Value> = tenants
        .iter()
        .map(|t| json!({ "match": host_match(t), "handle": [unavailable_page(t, proxy)], "terminal": true }))
        .collect();
    json!({ "routes": routes })
}

/// The whole config (pretty JSON). `left_out`: tenants rendered as if they
/// had no domain (set aside after Caddy refused a config with them).
pub fn render(
    desired: &DesiredState,
    proxy: &ProxySpec,
    unavailable: &BTreeSet<String>,
    left_out: &BTreeSet<String>,
) -> String {
    let ProxyKind::Caddy { admin } = &proxy.kind else {
        return String::new();
    };
    // tls_files answers "has a certificate now" for static files; Caddy
    // obtains ACME ones itself, so every ACME tenant counts as certified.
    let all: Certified = desired
        .tenants
        .keys()
        .map(|t| (t.clone(), String::new()))
        .collect();
    let served: Vec<&DesiredTenant> = desired
        .tenants
        .values()
        .filter(|t| t.domain.is_some() && !left_out.contains(&t.name))
        .map(|t| &**t)
        .collect();
    let (https, http): (Vec<&DesiredTenant>, Vec<&DesiredTenant>) = served
        .iter()
        .partition(|t| tls_files(t, proxy, &all).is_some());
    let available = |t: &DesiredTenant| !unavailable.contains(&t.name);

    let mut http_routes: Vec<Value> = http
        .iter()
        .map(|t| serving_route(t, proxy, available(t)))
        .collect();
    http_routes.extend(https.iter().map(|t| redirect_route(t)));
    http_routes.push(drop_unknown());
    let mut servers = serde_json::Map::new();
    servers.insert(
        "tenantctl_http".into(),
        json!({
            "listen": [caddy_listen(&proxy.listen)],
            "routes": http_routes,
            "errors": error_routes(&http, proxy),
            "automatic_https": { "disable": true },
        }),
    );
    let acme_hosts: Vec<&str> = https
        .iter()
        .filter(|t| t.tls == Some(TlsSource::Acme))
        .filter_map(|t| t.domain.as_deref())
        .collect();
    let file_tenants: Vec<&&DesiredTenant> = https
        .iter()
        .filter(|t| matches!(t.tls, Some(TlsSource::Files(_))))
        .collect();
    if !https.is_empty() {
        let mut routes: Vec<Value> = https
            .iter()
            .map(|t| serving_route(t, proxy, available(t)))
            .collect();
        routes.push(drop_unknown());
        let skip: Vec<&str> = file_tenants
            .iter()
            .filter_map(|t| t.domain.as_deref())
            .collect();
        servers.insert(
            "tenantctl_https".into(),
            json!({
                "listen": [caddy_listen(&proxy.tls_listen)],
                "routes": routes,
                "errors": error_routes(&https, proxy),
                // Redirects are the HTTP server's routes; certificates
                // for file tenants are loaded, not obtained.
                "automatic_https": { "disable_redirects": true, "skip_certificates": skip },
            }),
        );
    }
    let mut apps = serde_json::Map::new();
    apps.insert(
        "http".into(),
        json!({
            "http_port": port_of(&proxy.listen),
            "https_port": port_of(&proxy.tls_listen),
            "servers": servers,
        }),
    );
    let mut tls = serde_json::Map::new();
    if !acme_hosts.is_empty() {
        let acme = &proxy.acme;
        let mut issuer = json!({
            "module": "acme",
            "ca": acme.directory,
            // HTTP-01 on `listen`, as the nginx kind: the TLS port may
            // not be the one the CA connects to.
            "challenges": { "tls-alpn": { "disabled": true } },
        });
        if let Some(email) = &acme.email {
            issuer["email"] = json!(email);
        }
        if let Some(ca) = &acme.directory_ca {
            issuer["trusted_roots_pem_files"] = json!([ca.display().to_string()]);
        }
        tls.insert(
            "automation".into(),
            json!({ "policies": [{ "subjects": acme_hosts, "issuers": [issuer] }] }),
        );
    }
    if !file_tenants.is_empty() {
        let files: Vec<Value> = file_tenants
            .iter()
            .filter_map(|t| t.tls.as_ref()?.files())
            .map(|f| {
                json!({
                    "certificate": f.certificate.display().to_string(),
                    "key": f.key.display().to_string(),
                })
            })
            .collect();
        tls.insert("certificates".into(), json!({ "load_files": files }));
    }
    if !tls.is_empty() {
        apps.insert("tls".into(), Value::Object(tls));
    }
    let config = json!({ "admin": { "listen": admin }, "apps": apps });
    let mut text = serde_json::to_string_pretty(&config).unwrap_or_default();
    text.push('\n');
    text
}

/// Pretty JSON of a config Caddy holds, as [`render`] writes it, for the
/// plan's diff (`null` when Caddy has none).
pub fn pretty(config: &Value) -> String {
    let mut text = serde_json::to_string_pretty(config).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{AcmeSpec, Tls};
    use crate::fixtures::desired_state;

    fn proxy() -> ProxySpec {
        ProxySpec {
            kind: ProxyKind::Caddy {
                admin: "localhost:2019".into(),
            },
            config_dir: Default::default(),
            test_command: Vec::new(),
            reload_command: Vec::new(),
            listen: "80".into(),
            tls_listen: "443".into(),
            tls: None,
            acme: AcmeSpec {
                directory: crate::desired::LETS_ENCRYPT.into(),
                email: Some("ops@example.com".into()),
                account_key: "/a".into(),
                directory_ca: None,
                renew_before: std::time::Duration::from_secs(1),
                state_dir: "/s".into(),
            },
            client_max_body_size: "100m".into(),
            default_server: true,
            retry_after: 30,
        }
    }

    #[test]
    fn each_domain_gets_its_route_unknown_hosts_are_dropped_tls_tenants_redirect() {
        let mut acme = DesiredTenant::test("acme", 8001);
        acme.tls = Some(TlsSource::Acme);
        let mut files = DesiredTenant::test("files", 8003);
        files.tls = Some(TlsSource::Files(Tls {
            certificate: "/c.pem".into(),
            key: "/k.pem".into(),
        }));
        let desired = desired_state(vec![acme, DesiredTenant::test("globex", 8002), files]);
        let text = render(
            &desired,
            &proxy(),
            &BTreeSet::from(["globex".to_string()]),
            &BTreeSet::new(),
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["admin"]["listen"], "localhost:2019");
        let http = &v["apps"]["http"]["servers"]["tenantctl_http"];
        assert_eq!(http["listen"], json!([":80"]));
        let routes = http["routes"].as_array().unwrap();
        // globex (plain, down): the 503 page; acme and files: redirects;
        // then unknown hosts dropped.
        assert_eq!(routes[0]["handle"][0]["status_code"], 503);
        assert_eq!(
            routes[0]["handle"][0]["headers"]["Retry-After"],
            json!(["30"])
        );
        assert_eq!(routes[1]["handle"][0]["status_code"], 301);
        assert_eq!(routes.last().unwrap()["handle"][0]["abort"], true);
        let https = &v["apps"]["http"]["servers"]["tenantctl_https"];
        assert_eq!(
            https["routes"][0]["handle"][0]["upstreams"][0]["dial"],
            "127.0.0.1:8001"
        );
        assert_eq!(https["routes"][0]["handle"][0]["flush_interval"], -1);
        assert_eq!(
            https["automatic_https"]["skip_certificates"],
            json!(["files.example.com"])
        );
        let policy = &v["apps"]["tls"]["automation"]["policies"][0];
        assert_eq!(policy["subjects"], json!(["acme.example.com"]));
        assert_eq!(policy["issuers"][0]["email"], "ops@example.com");
        assert_eq!(
            v["apps"]["tls"]["certificates"]["load_files"][0]["certificate"],
            "/c.pem"
        );
        // A tenant left out is in no route.
        let left = render(
            &desired,
            &proxy(),
            &BTreeSet::new(),
            &BTreeSet::from(["acme".to_string()]),
        );
        assert!(!left.contains("acme.example.com"), "{left}");
    }
}
