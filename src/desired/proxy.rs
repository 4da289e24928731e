//! `[proxy]` resolved: where nginx config goes, how to test and reload it,
//! and per-tenant TLS. Everything that ends up inside nginx config is
//! checked here to hold no whitespace, `;`, braces or quotes: nothing a
//! tenants file says can inject an nginx directive.

use crate::diagnostic::{Diagnostic, SourceFile};
use crate::spec::{RawProxy, RawTls};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProxySpec {
    pub config_dir: PathBuf,
    pub test_command: Vec<String>,
    pub reload_command: Vec<String>,
    /// `80` or `127.0.0.1:8080`: where the HTTP virtual hosts listen.
    pub listen: String,
    /// Where HTTPS virtual hosts listen (tenants with TLS).
    pub tls_listen: String,
    /// A wildcard certificate for every tenant without its own.
    pub tls: Option<Tls>,
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

pub fn resolve_tls(
    file: &SourceFile,
    base_dir: &Path,
    raw: &RawTls,
    diags: &mut Vec<Diagnostic>,
) -> Option<Tls> {
    let mut path = |p: &crate::spec::Spanned<String>| {
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
    let certificate = path(&raw.certificate);
    let key = path(&raw.key);
    Some(Tls {
        certificate: certificate?,
        key: key?,
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
    if raw.kind.get_ref() != "nginx" {
        err(
            raw.kind.span(),
            "proxy kind must be \"nginx\" (the only one supported)",
        );
    }
    for (cmd, name) in [
        (&raw.test_command, "test_command"),
        (&raw.reload_command, "reload_command"),
    ] {
        if cmd.get_ref().is_empty() || cmd.get_ref()[0].trim().is_empty() {
            err(
                cmd.span(),
                &format!("{name} must name a program, e.g. [\"nginx\", \"-t\"]"),
            );
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
    if !is_nginx_safe(raw.config_dir.get_ref()) {
        err(
            raw.config_dir.span(),
            "config_dir must be a path without spaces or nginx syntax",
        );
    }
    let tls = raw
        .tls
        .as_ref()
        .and_then(|t| resolve_tls(file, base_dir, t, diags));
    if diags.len() > before {
        return None;
    }
    Some(ProxySpec {
        config_dir: base_dir.join(raw.config_dir.get_ref()),
        test_command: raw.test_command.get_ref().clone(),
        reload_command: raw.reload_command.get_ref().clone(),
        listen: listen.map(|l| l.0).unwrap_or_else(|| "80".into()),
        tls_listen: tls_listen.map(|l| l.0).unwrap_or_else(|| "443".into()),
        tls,
        client_max_body_size: raw
            .client_max_body_size
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_else(|| "100m".into()),
        default_server: raw.default_server.unwrap_or(true),
        retry_after: raw.retry_after.as_ref().map(|r| *r.get_ref()).unwrap_or(30),
    })
}
