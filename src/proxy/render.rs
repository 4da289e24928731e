//! nginx configuration rendered from the desired state: one file per tenant
//! plus one shared file. Pure and golden-file tested. Every value that
//! reaches the text was validated (hostnames, paths, sizes, listen
//! addresses), so a tenants file cannot inject directives.

use crate::desired::{DesiredState, DesiredTenant, ProxySpec, Tls, TlsSource};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Every file tenantctl writes starts with this and is named `tenantctl-*`.
pub const FILE_PREFIX: &str = "tenantctl-";
pub const COMMON_FILE: &str = "tenantctl-00-common.conf";

pub fn tenant_file(tenant: &str) -> String {
    format!("{FILE_PREFIX}tenant-{tenant}.conf")
}

/// The tenant a file belongs to, if it is a tenant file.
pub fn tenant_of_file(file: &str) -> Option<&str> {
    file.strip_prefix("tenantctl-tenant-")?
        .strip_suffix(".conf")
}

pub use crate::certified::Certified;

/// File name → content for the whole fleet. Tenants in `unavailable`
/// (paused, stopped, failing health) get a 503 page instead of a proxy;
/// `tls = "acme"` tenants get their HTTPS block once they are in
/// `certified`, plain HTTP until then.
pub(super) fn render(
    desired: &DesiredState,
    proxy: &ProxySpec,
    unavailable: &BTreeSet<String>,
    certified: &Certified,
) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let any_tls = desired
        .tenants
        .values()
        .any(|t| t.domain.is_some() && tls_files(t, proxy, certified).is_some());
    files.insert(COMMON_FILE.to_string(), render_common(proxy, any_tls));
    for t in desired.tenants.values() {
        if t.domain.is_some() {
            let available = !unavailable.contains(&t.name);
            files.insert(
                tenant_file(&t.name),
                render_tenant_file(t, proxy, available, certified),
            );
        }
    }
    files
}

/// One tenant's whole file: [`render_tenant`] with the certificate it has
/// now, and an ACME certificate's serial (see [`Certified`]).
pub fn render_tenant_file(
    t: &DesiredTenant,
    proxy: &ProxySpec,
    available: bool,
    certified: &Certified,
) -> String {
    let tls = tls_files(t, proxy, certified);
    let mut text = render_tenant(t, proxy, available, tls.as_ref());
    if let (Some(_), Some(serial)) = (&tls, certified.get(&t.name)) {
        let _ = writeln!(text, "# certificate serial {serial}");
    }
    text
}

/// The certificate and key a tenant's HTTPS block uses, if it has one
/// now: its static files, or its ACME certificate once issued.
pub fn tls_files(t: &DesiredTenant, proxy: &ProxySpec, certified: &Certified) -> Option<Tls> {
    match t.tls.as_ref()? {
        TlsSource::Files(tls) => Some(tls.clone()),
        TlsSource::Acme if certified.contains_key(&t.name) => {
            Some(proxy.acme.files_for(t.domain.as_deref()?))
        }
        TlsSource::Acme => None,
    }
}

/// The websocket upgrade map and the catch-all servers that keep a request
/// for an unknown host from ever reaching a tenant.
pub fn render_common(proxy: &ProxySpec, any_tls: bool) -> String {
    let mut out = String::from("# Managed by tenantctl; changes are overwritten.\n");
    out.push_str("map $http_upgrade $tenantctl_connection_upgrade {\n    default upgrade;\n    ''      close;\n}\n");
    if proxy.default_server {
        let _ = write!(
            out,
            "\n# Unknown hosts get no answer at all, never another tenant's site.\nserver {{\n    listen {} default_server;\n    server_name _;\n    return 444;\n}}\n",
            proxy.listen
        );
        if any_tls {
            let _ = write!(
                out,
                "\nserver {{\n    listen {} ssl default_server;\n    server_name _;\n    ssl_reject_handshake on;\n}}\n",
                proxy.tls_listen
            );
        }
    }
    out
}

/// `host:port` where the proxy reaches the tenant (both kinds).
pub(super) fn upstream_addr(t: &DesiredTenant) -> String {
    let host = match t.host_ip.as_str() {
        "0.0.0.0" | "" => "127.0.0.1".to_string(),
        "::" => "[::1]".to_string(),
        // nginx reads `::1:8001` as a broken address: IPv6 goes in brackets.
        ip if ip.contains(':') => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("{host}:{}", t.port)
}

fn upstream(t: &DesiredTenant) -> String {
    format!("http://{}", upstream_addr(t))
}

/// One tenant's server block(s): HTTPS with `tls` (and a port-80 server
/// that redirects), plain HTTP without (also the 503 stand-in when a
/// certificate is unusable). An ACME tenant's port-80 server answers the
/// CA's HTTP-01 challenge from the webroot either way.
pub fn render_tenant(
    t: &DesiredTenant,
    proxy: &ProxySpec,
    available: bool,
    tls: Option<&Tls>,
) -> String {
    let domain = t.domain.as_deref().unwrap_or_default();
    let mut out = format!(
        "# Managed by tenantctl for tenant {}; changes are overwritten.\n",
        t.name
    );
    let location = if available {
        format!(
            "    location / {{
        proxy_pass {};
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $tenantctl_connection_upgrade;
        # Streamed model answers and websockets: no buffering, long reads.
        proxy_buffering off;
        proxy_request_buffering off;
        proxy_read_timeout 3600s;
        proxy_send_timeout 3600s;
    }}

    # Nothing answers on the tenant's port (it went down between two
    # passes, or tenantctl is not running): the 503 page, not a bare 502.
    error_page 502 504 =503 @tenantctl_unavailable;
    location @tenantctl_unavailable {{
        default_type text/plain;
        add_header Retry-After {retry} always;
        return 503 \"{name} is temporarily unavailable; please retry shortly.\\n\";
    }}
",
            upstream(t),
            retry = proxy.retry_after,
            name = t.name,
        )
    } else {
        format!(
            "    # The tenant is paused, stopped or failing its health check.
    location / {{
        default_type text/plain;
        add_header Retry-After {} always;
        return 503 \"{} is temporarily unavailable; please retry shortly.\\n\";
    }}
",
            proxy.retry_after, t.name
        )
    };
    let challenge = if t.tls == Some(TlsSource::Acme) {
        format!(
            "    # The ACME CA's HTTP-01 challenge (tenantctl writes the answers).
    location ^~ /.well-known/acme-challenge/ {{
        root {};
        default_type text/plain;
    }}

",
            proxy.acme.webroot().display()
        )
    } else {
        String::new()
    };
    // The port-80 server of an HTTPS tenant: a redirect, after the
    // challenge location for an ACME tenant (its renewals come over HTTP).
    let redirect = if challenge.is_empty() {
        "    return 301 https://$host$request_uri;\n".to_string()
    } else {
        format!("\n{challenge}    location / {{\n        return 301 https://$host$request_uri;\n    }}\n")
    };
    match tls {
        Some(tls) => {
            let _ = write!(
                out,
                "server {{
    listen {listen};
    server_name {domain};
{redirect}}}

server {{
    listen {tls_listen} ssl;
    server_name {domain};
    ssl_certificate {cert};
    ssl_certificate_key {key};
    client_max_body_size {size};

{location}}}
",
                listen = proxy.listen,
                tls_listen = proxy.tls_listen,
                cert = tls.certificate.display(),
                key = tls.key.display(),
                size = proxy.client_max_body_size,
            );
        }
        None => {
            let _ = write!(
                out,
                "server {{
    listen {listen};
    server_name {domain};
    client_max_body_size {size};

{challenge}{location}}}
",
                listen = proxy.listen,
                size = proxy.client_max_body_size,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::desired_state;

    fn proxy() -> ProxySpec {
        ProxySpec {
            kind: crate::desired::ProxyKind::Nginx,
            config_dir: "/etc/nginx/conf.d".into(),
            test_command: vec!["nginx".into(), "-t".into()],
            reload_command: vec!["nginx".into(), "-s".into(), "reload".into()],
            listen: "80".into(),
            tls_listen: "443".into(),
            tls: None,
            acme: crate::desired::AcmeSpec {
                directory: crate::desired::LETS_ENCRYPT.into(),
                email: None,
                account_key: "/var/lib/tenantctl/acme/account.key".into(),
                directory_ca: None,
                renew_before: std::time::Duration::from_secs(30 * 86400),
                state_dir: "/var/lib/tenantctl/acme".into(),
            },
            client_max_body_size: "100m".into(),
            default_server: true,
            retry_after: 30,
        }
    }

    /// Compares with `tests/golden/NAME`; `UPDATE_GOLDEN=1` rewrites it.
    fn golden(name: &str, text: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, text).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            text, want,
            "{name} differs from its golden file (UPDATE_GOLDEN=1 to accept)"
        );
    }

    #[test]
    fn a_tenant_block_proxies_with_websocket_and_streaming_settings() {
        let t = DesiredTenant::test("acme", 8001);
        golden(
            "tenant-http.conf",
            &render_tenant(
                &t,
                &proxy(),
                true,
                t.tls.as_ref().and_then(TlsSource::files),
            ),
        );
    }

    #[test]
    fn an_unavailable_tenant_gets_a_503_page_with_retry_after() {
        let t = DesiredTenant::test("acme", 8001);
        golden("tenant-503.conf", &render_tenant(&t, &proxy(), false, None));
    }

    #[test]
    fn a_tls_tenant_redirects_http_to_https() {
        let mut t = DesiredTenant::test("acme", 8001);
        t.tls = Some(TlsSource::Files(Tls {
            certificate: "/etc/ssl/acme.pem".into(),
            key: "/etc/ssl/acme.key".into(),
        }));
        golden(
            "tenant-tls.conf",
            &render_tenant(
                &t,
                &proxy(),
                true,
                t.tls.as_ref().and_then(TlsSource::files),
            ),
        );
    }

    #[test]
    fn the_common_file_has_the_upgrade_map_and_catch_all_servers() {
        golden("common.conf", &render_common(&proxy(), true));
    }

    #[test]
    fn the_fleet_renders_one_file_per_tenant_with_a_domain() {
        let mut no_domain = DesiredTenant::test("nodomain", 8003);
        no_domain.domain = None;
        let desired = desired_state(vec![
            DesiredTenant::test("acme", 8001),
            DesiredTenant::test("globex", 8002),
            no_domain,
        ]);
        let files = render(
            &desired,
            &proxy(),
            &BTreeSet::from(["globex".to_string()]),
            &Certified::new(),
        );
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            vec![
                "tenantctl-00-common.conf",
                "tenantctl-tenant-acme.conf",
                "tenantctl-tenant-globex.conf"
            ]
        );
        assert!(files["tenantctl-tenant-globex.conf"].contains("return 503"));
        assert!(files["tenantctl-tenant-acme.conf"].contains("proxy_pass http://127.0.0.1:8001;"));
        assert_eq!(tenant_of_file("tenantctl-tenant-acme.conf"), Some("acme"));
        assert_eq!(tenant_of_file(COMMON_FILE), None);
    }

    #[test]
    fn an_ipv6_upstream_is_bracketed() {
        let mut t = DesiredTenant::test("acme", 8001);
        t.host_ip = "::1".into();
        let block = render_tenant(&t, &proxy(), true, None);
        assert!(block.contains("proxy_pass http://[::1]:8001;"), "{block}");
        t.host_ip = "::".into();
        assert!(render_tenant(&t, &proxy(), true, None).contains("http://[::1]:8001;"));
    }
}
