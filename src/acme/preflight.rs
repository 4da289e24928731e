//! The check before every order: nginx must already answer the domain's
//! challenge path from the webroot.

use super::store;
use std::time::{Duration, SystemTime};

/// How long the pre-flight waits for nginx to answer a domain's challenge
/// (a reload's new workers take a moment).
const PREFLIGHT_WAIT: Duration = Duration::from_secs(5);

/// Before asking the CA: does nginx serve this domain's challenge path
/// from the webroot? A test file is put there and fetched through nginx's
/// `listen` with the domain as Host. An order sent before the virtual host
/// is live would fail at the CA and count against its rate limits.
pub async fn preflight(proxy: &crate::desired::ProxySpec, domain: &str) -> Result<(), String> {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let name = format!("tenantctl-preflight-{}-{nanos}", std::process::id());
    let content = format!("tenantctl {domain} {nanos}");
    let file = proxy
        .acme
        .webroot()
        .join(".well-known/acme-challenge")
        .join(&name);
    store::write_atomic(&file, content.as_bytes(), 0o644)
        .map_err(|e| format!("cannot write into the webroot {}: {e}", file.display()))?;
    let addr = crate::proxy::listen_addr(&proxy.listen);
    let path = format!("/.well-known/acme-challenge/{name}");
    let deadline = tokio::time::Instant::now() + PREFLIGHT_WAIT;
    let result = loop {
        let got = crate::probe::http_get(&addr, domain, &path, 4096, Duration::from_secs(2)).await;
        let result = match got {
            Ok((200, body)) if body == content.as_bytes() => Ok(()),
            Ok((status, _)) => Err(format!(
                "nginx at {addr} answers {status} for {domain}{path}"
            )),
            Err(e) => Err(format!("nginx at {addr}: {e}")),
        };
        if result.is_ok() || tokio::time::Instant::now() >= deadline {
            break result;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = std::fs::remove_file(&file);
    result
}
