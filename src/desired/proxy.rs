//! `[proxy]` resolved: where nginx config goes, how to test and reload it,
//! and per-tenant TLS. Everything that ends up inside nginx config is
//! checked here to hold no whitespace, `;`, braces or quotes: nothing a
//! tenants file says can inject an nginx directive.

use crate::diagnostic::{Diagnostic, SourceFile};
use crate::spec::{RawAcme, RawProxy, RawTls, Spanned};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Let's Encrypt's production directory: the default CA.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (`directory = "letsencrypt-staging"`):
/// untrusted certificates, generous rate limits, for trying things out.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
/// Where ACME keys and certificates live unless `state_dir` says.
pub const ACME_STATE_DIR: &str = "/var/lib/tenantctl/acme";

/// How a tenant's site gets HTTPS.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum TlsSource {
    /// A certificate and key someone else puts on disk.
    Files(Tls),
    /// tenantctl obtains and renews one from `[proxy.acme]`'s CA.
    Acme,
}

impl TlsSource {
    pub fn files(&self) -> Option<&Tls> {
        match self {
            TlsSource::Files(tls) => Some(tls),
            TlsSource::Acme => None,
        }
    }
}

/// `[proxy.acme]` resolved (defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AcmeSpec {
    /// The CA's directory URL.
    pub directory: String,
    pub email: Option<String>,
    /// The account's private key (PKCS#8 PEM); made on first use.
    pub account_key: PathBuf,
    /// A CA certificate to trust for the directory's own HTTPS (a private
    /// ACME server); the system's roots otherwise.
    pub directory_ca: Option<PathBuf>,
    /// Renew when the certificate expires within this.
    pub renew_before: Duration,
    /// Keys, certificates and the HTTP-01 webroot.
    pub state_dir: PathBuf,
}

impl AcmeSpec {
    /// Where nginx serves `/.well-known/acme-challenge/` from.
    pub fn webroot(&self) -> PathBuf {
        self.state_dir.join("webroot")
    }

    /// The certificate chain and key files for `domain`.
    pub fn files_for(&self, domain: &str) -> Tls {
        let dir = self.state_dir.join("certificates").join(domain);
        Tls {
            certificate: dir.join("fullchain.pem"),
            key: dir.join("key.pem"),
        }
    }
}

/// Which reverse proxy tenantctl drives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum ProxyKind {
    /// Files in `config_dir`, `test_command`, `reload_command`.
    Nginx,
    /// Caddy's admin API at `admin` (host:port): the whole config as JSON
    /// in one request, which Caddy swaps in atomically.
    Caddy { admin: String },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProxySpec {
    pub kind: ProxyKind,
    /// nginx only (empty for Caddy), as are the two commands.
    pub config_dir: PathBuf,
    pub test_command: Vec<String>,
    pub reload_command: Vec<String>,
    /// `80` or `127.0.0.1:8080`: where the HTTP virtual hosts listen.
    pub listen: String,
    /// Where HTTPS virtual hosts listen (tenants with TLS).
    pub tls_listen: String,
    /// A wildcard certificate (or `"acme"`) for every tenant without its own.
    pub tls: Option<TlsSource>,
    /// Where `tls = "acme"` certificates come from (defaults when the file
    /// has no `[proxy.acme]`).
    pub acme: AcmeSpec,
    pub client_max_body_size: String,
    /// Render a catch-all server that answers unknown hosts with 444.
    pub default_server: bool,
    /// Seconds in the 503 page's `Retry-After`.
    pub retry_after: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tls {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

/// Safe inside an nginx directive without quoting.
fn is_nginx_safe(text: &str) -> bool {
    !text.is_empty()
        && !text.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, ';' | '{' | '}' | '"' | '\'' | '#' | '$' | '\\')
        })
}

fn is_listen(text: &str) -> bool {
    let port = text.rsplit(':').next().unwrap_or("");
    port.parse::<u16>().is_ok_and(|p| p > 0)
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
}

fn is_size(text: &str) -> bool {
    let digits = text.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G']);
    !digits.is_empty()
        && digits.len() + 1 >= text.len()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `tls = "acme"` or `tls = { certificate, key }`. Static files must
/// exist and hold a certificate and its key, checked now rather than when
/// nginx refuses them.
pub fn resolve_tls(
    file: &SourceFile,
    base_dir: &Path,
    raw: &Spanned<RawTls>,
    diags: &mut Vec<Diagnostic>,
) -> Option<TlsSource> {
    let files = match raw.get_ref() {
        RawTls::Mode(word) if word == "acme" => return Some(TlsSource::Acme),
        RawTls::Mode(word) => {
            diags.push(file.diag(
                Some(raw.span()),
                format!("tls = \"{word}\": write tls = \"acme\" (certificates obtained by tenantctl) or tls = {{ certificate = \"...\", key = \"...\" }}"),
            ));
            return None;
        }
        RawTls::Files(files) => files,
    };
    let mut path = |p: &Spanned<String>| {
        if is_nginx_safe(p.get_ref()) {
            Some(base_dir.join(p.get_ref()))
        } else {
            diags.push(file.diag(
                Some(p.span()),
                "TLS paths must hold no spaces, quotes, `;`, `#`, `$` or braces",
            ));
            None
        }
    };
    let certificate = path(&files.certificate);
    let key = path(&files.key);
    let tls = Tls {
        certificate: certificate?,
        key: key?,
    };
    if let Err(why) = crate::certfile::check_pair(&tls.certificate, &tls.key) {
        diags.push(file.diag(Some(files.certificate.span()), why));
        return None;
    }
    Some(TlsSource::Files(tls))
}

fn resolve_acme(
    file: &SourceFile,
    base_dir: &Path,
    raw: &RawAcme,
    diags: &mut Vec<Diagnostic>,
) -> Option<AcmeSpec> {
    let before = diags.len();
    let mut err = |span, msg: String| diags.push(file.diag(Some(span), msg));
    let directory = match raw
        .directory
        .as_ref()
        .map(|d| (d.get_ref().as_str(), d.span()))
    {
        None | Some(("letsencrypt", _)) => LETS_ENCRYPT.to_string(),
        Some(("letsencrypt-staging", _)) => LETS_ENCRYPT_STAGING.to_string(),
        Some((url, _)) if url.starts_with("https://") && url.len() > 8 => url.to_string(),
        Some((url, span)) => {
            err(span, format!("directory `{url}` must be an https:// URL, \"letsencrypt\" or \"letsencrypt-staging\""));
            String::new()
        }
    };
    if let Some(email) = &raw.email {
        let e = email.get_ref();
        if !e.contains('@') || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
            err(email.span(), format!("email `{e}` is not an email address"));
        }
    }
    let renew_before = match &raw.renew_before {
        None => Duration::from_secs(30 * 86400),
        Some(r) => match crate::quantity::parse_duration(r.get_ref()) {
            Ok(n) if n > 0 => Duration::from_nanos(n as u64),
            Ok(_) => {
                err(
                    r.span(),
                    "renew_before must be more than 0, e.g. \"30d\"".into(),
                );
                Duration::ZERO
            }
            Err(e) => {
                err(r.span(), format!("renew_before: {e}"));
                Duration::ZERO
            }
        },
    };
    let state_dir = match &raw.state_dir {
        None => PathBuf::from(ACME_STATE_DIR),
        Some(d) if is_nginx_safe(d.get_ref()) => base_dir.join(d.get_ref()),
        Some(d) => {
            err(
                d.span(),
                "state_dir must be a path without spaces or nginx syntax".into(),
            );
            PathBuf::new()
        }
    };
    let directory_ca = raw.directory_ca.as_ref().and_then(|ca| {
        let path = base_dir.join(ca.get_ref());
        match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|pem| crate::certfile::cert_info(&pem).map(|_| ()))
        {
            Ok(()) => Some(path),
            Err(e) => {
                err(ca.span(), format!("directory_ca {}: {e}", path.display()));
                None
            }
        }
    });
    let account_key = raw
        .account_key
        .as_ref()
        .map(|k| base_dir.join(k.get_ref()))
        .unwrap_or_else(|| state_dir.join("account.key"));
    if diags.len() > before {
        return None;
    }
    Some(AcmeSpec {
        directory,
        email: raw.email.as_ref().map(|e| e.get_ref().clone()),
        account_key,
        directory_ca,
        renew_before,
        state_dir,
    })
}

pub fn resolve_proxy(
    file: &SourceFile,
    base_dir: &Path,
    raw: &RawProxy,
    diags: &mut Vec<Diagnostic>,
) -> Option<ProxySpec> {
    let before = diags.len();
    let mut err = |span, msg: &str| diags.push(file.diag(Some(span), msg));
    let kind = match raw.kind.get_ref().as_str() {
        "nginx" => Some(ProxyKind::Nginx),
        "caddy" => Some(ProxyKind::Caddy {
            admin: raw
                .admin
                .as_ref()
                .map(|a| a.get_ref().clone())
                .unwrap_or_else(|| "localhost:2019".into()),
        }),
        other => {
            err(
                raw.kind.span(),
                &format!("proxy kind `{other}`: write \"nginx\" or \"caddy\""),
            );
            None
        }
    };
    match &kind {
        None => {}
        Some(ProxyKind::Nginx) => {
            for (cmd, name, example) in [
                (&raw.test_command, "test_command", "[\"nginx\", \"-t\"]"),
                (
                    &raw.reload_command,
                    "reload_command",
                    "[\"nginx\", \"-s\", \"reload\"]",
                ),
            ] {
                match cmd {
                    None => err(
                        raw.kind.span(),
                        &format!("kind = \"nginx\" needs {name}, e.g. {example}"),
                    ),
                    Some(cmd) if cmd.get_ref().is_empty() || cmd.get_ref()[0].trim().is_empty() => {
                        err(
                            cmd.span(),
                            &format!("{name} must name a program, e.g. {example}"),
                        )
                    }
                    Some(_) => {}
                }
            }
            match &raw.config_dir {
                None => err(
                    raw.kind.span(),
                    "kind = \"nginx\" needs config_dir (where tenantctl writes its files, e.g. \"/etc/nginx/conf.d\")",
                ),
                Some(dir) if !is_nginx_safe(dir.get_ref()) => err(
                    dir.span(),
                    "config_dir must be a path without spaces or nginx syntax",
                ),
                Some(_) => {}
            }
            if let Some(admin) = &raw.admin {
                err(
                    admin.span(),
                    "admin is Caddy's admin API: only for kind = \"caddy\"",
                );
            }
        }
        Some(ProxyKind::Caddy { admin }) => {
            for (span, name) in [
                (raw.config_dir.as_ref().map(|s| s.span()), "config_dir"),
                (raw.test_command.as_ref().map(|s| s.span()), "test_command"),
                (
                    raw.reload_command.as_ref().map(|s| s.span()),
                    "reload_command",
                ),
                (
                    raw.client_max_body_size.as_ref().map(|s| s.span()),
                    "client_max_body_size",
                ),
            ] {
                if let Some(span) = span {
                    err(
                        span,
                        &format!(
                            "{name} is for kind = \"nginx\"; Caddy is driven through its admin API"
                        ),
                    );
                }
            }
            if !is_listen(admin) || admin.contains('[') {
                err(
                    raw.admin
                        .as_ref()
                        .map(|a| a.span())
                        .unwrap_or(raw.kind.span()),
                    "admin must be host:port of Caddy's admin API, e.g. \"localhost:2019\"",
                );
            }
        }
    }
    let listen = raw.listen.as_ref().map(|l| (l.get_ref().clone(), l.span()));
    let tls_listen = raw
        .tls_listen
        .as_ref()
        .map(|l| (l.get_ref().clone(), l.span()));
    for (value, span) in listen.iter().chain(tls_listen.iter()) {
        if !is_listen(value) {
            err(
                span.clone(),
                "listen must be a port (`80`) or address:port (`127.0.0.1:8080`)",
            );
        }
    }
    if let Some(size) = &raw.client_max_body_size {
        if !is_size(size.get_ref()) {
            err(
                size.span(),
                "client_max_body_size is an nginx size such as `100m` or `1g`",
            );
        }
    }
    if let Some(r) = &raw.retry_after {
        if !(1..=86400).contains(r.get_ref()) {
            err(r.span(), "retry_after is in seconds, 1-86400");
        }
    }
    let tls = raw
        .tls
        .as_ref()
        .and_then(|t| resolve_tls(file, base_dir, t, diags));
    let acme = resolve_acme(file, base_dir, &raw.acme.clone().unwrap_or_default(), diags);
    if diags.len() > before {
        return None;
    }
    Some(ProxySpec {
        kind: kind?,
        config_dir: raw
            .config_dir
            .as_ref()
            .map(|d| base_dir.join(d.get_ref()))
            .unwrap_or_default(),
        test_command: raw
            .test_command
            .as_ref()
            .map(|c| c.get_ref().clone())
            .unwrap_or_default(),
        reload_command: raw
            .reload_command
            .as_ref()
            .map(|c| c.get_ref().clone())
            .unwrap_or_default(),
        listen: listen.map(|l| l.0).unwrap_or_else(|| "80".into()),
        tls_listen: tls_listen.map(|l| l.0).unwrap_or_else(|| "443".into()),
        tls,
        acme: acme?,
        client_max_body_size: raw
            .client_max_body_size
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_else(|| "100m".into()),
        default_server: raw.default_server.unwrap_or(true),
        retry_after: raw.retry_after.as_ref().map(|r| *r.get_ref()).unwrap_or(30),
    })
}
