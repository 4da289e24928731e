//! Driving a real Caddy through its admin API: read the config it holds,
//! load a new one with one `POST /load` (Caddy swaps configs atomically
//! and keeps the old one when it refuses the new), probe one tenant
//! through it. A pass whose rendered config equals what Caddy holds
//! sends nothing. When Caddy refuses a candidate, the tenants whose part
//! changed are tried one at a time without their route: a tenant whose
//! route alone breaks the config is set aside (its site keeps what Caddy
//! served before, if anything) and the rest is applied, as the nginx kind
//! does with `nginx -t`.

use super::caddy_config::{pretty, render, CADDY_FILE};
use super::nginx::{ProxyError, ProxyOutcome};
use crate::desired::{DesiredState, ProxyKind, ProxySpec};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_CONFIG: usize = 64 << 20;

fn admin_of(proxy: &ProxySpec) -> &str {
    match &proxy.kind {
        ProxyKind::Caddy { admin } => admin,
        ProxyKind::Nginx => "",
    }
}

/// The config Caddy runs now (`null` when it has none).
pub async fn read_config(admin: &str) -> Result<Value, String> {
    let (status, body) = crate::probe::http_call(
        admin,
        "GET",
        admin,
        "/config/",
        None,
        MAX_CONFIG,
        ADMIN_TIMEOUT,
    )
    .await
    .map_err(|e| format!("Caddy's admin API at {admin}: {e}"))?;
    if status != 200 {
        return Err(format!(
            "Caddy's admin API at {admin} answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("Caddy's config is not JSON: {e}"))
}

/// The plan's view of Caddy: its config as the one file.
pub async fn current_files(proxy: &ProxySpec) -> Result<BTreeMap<String, String>, String> {
    let config = read_config(admin_of(proxy)).await?;
    Ok(match config {
        Value::Null => BTreeMap::new(),
        config => BTreeMap::from([(CADDY_FILE.to_string(), pretty(&config))]),
    })
}

/// `POST /load`: `Err` with Caddy's reason when it refuses.
async fn load(admin: &str, config: &Value) -> Result<(), String> {
    let (status, body) = crate::probe::http_call(
        admin,
        "POST",
        admin,
        "/load",
        Some(config.to_string()),
        1 << 20,
        ADMIN_TIMEOUT,
    )
    .await
    .map_err(|e| format!("Caddy's admin API at {admin}: {e}"))?;
    if status == 200 {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(&body);
        let reason = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.trim().to_string());
        Err(format!("Caddy answered {status}: {reason}"))
    }
}

/// Brings Caddy to `candidate` (see module docs).
pub async fn sync(
    desired: &DesiredState,
    proxy: &ProxySpec,
    candidate: BTreeMap<String, String>,
    unavailable: &BTreeSet<String>,
) -> ProxyOutcome {
    let admin = admin_of(proxy);
    let mut outcome = ProxyOutcome::default();
    let current = match read_config(admin).await {
        Ok(c) => c,
        Err(e) => {
            outcome.error = Some(ProxyError::Admin(e));
            return outcome;
        }
    };
    let Some(Ok(wanted)) = candidate
        .get(CADDY_FILE)
        .map(|text| serde_json::from_str::<Value>(text))
    else {
        outcome.error = Some(ProxyError::Admin("no Caddy config was rendered".into()));
        return outcome;
    };
    if wanted == current {
        return outcome;
    }
    let mut left_out = BTreeSet::new();
    let loaded = match load(admin, &wanted).await {
        Ok(()) => wanted,
        Err(why) => match isolate(desired, proxy, unavailable, &current, &mut outcome).await {
            Some((config, set_aside)) => {
                left_out = set_aside;
                config
            }
            None => {
                tracing::warn!(error = %why, "Caddy refused the candidate config; it keeps the previous one");
                outcome.error = Some(ProxyError::Refused(why));
                return outcome;
            }
        },
    };
    if loaded == current {
        return outcome;
    }
    // Probe one plain-HTTP tenant that should be served.
    let probe = desired.tenants.values().find(|t| {
        t.domain.is_some()
            && t.tls.is_none()
            && !unavailable.contains(&t.name)
            && !left_out.contains(&t.name)
    });
    if let Some(t) = probe {
        let addr = super::listen_addr(&proxy.listen);
        let host = t.domain.as_deref().unwrap_or_default();
        let mut result = Err(String::new());
        for _ in 0..10 {
            result =
                match crate::probe::http_status(&addr, host, "/", Duration::from_secs(10)).await {
                    Ok(code @ (502 | 504)) => Err(format!("answered {code}")),
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                };
            if result.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if let Err(detail) = result {
            if !current.is_null() {
                let _ = load(admin, &current).await;
            }
            outcome.error = Some(ProxyError::Probe {
                tenant: t.name.clone(),
                detail,
            });
            return outcome;
        }
    }
    outcome.reloaded = true;
    outcome.changed_files = vec![CADDY_FILE.to_string()];
    outcome
}

/// At most this many trial loads after a refusal.
const MAX_TRIALS: usize = 50;

/// Caddy refused the candidate: try it without one tenant at a time, the
/// tenants Caddy does not serve yet first (a new route is the likeliest
/// culprit). The first config Caddy takes is kept, with the tenant left
/// out in `set_aside`.
async fn isolate(
    desired: &DesiredState,
    proxy: &ProxySpec,
    unavailable: &BTreeSet<String>,
    current: &Value,
    outcome: &mut ProxyOutcome,
) -> Option<(Value, BTreeSet<String>)> {
    let admin = admin_of(proxy);
    let before = current.to_string();
    let (new, known): (Vec<_>, Vec<_>) = desired
        .tenants
        .values()
        .filter_map(|t| Some((&t.name, t.domain.as_deref()?)))
        .partition(|(_, domain)| !before.contains(&format!("\"{domain}\"")));
    for (tenant, _) in new.into_iter().chain(known).take(MAX_TRIALS) {
        let left_out = BTreeSet::from([tenant.clone()]);
        let trial: Value =
            serde_json::from_str(&render(desired, proxy, unavailable, &left_out)).ok()?;
        if load(admin, &trial).await.is_ok() {
            tracing::warn!(
                tenant,
                "tenant's route breaks Caddy's config; set aside, the others are applied"
            );
            outcome.set_aside.insert(
                tenant.clone(),
                "Caddy refused the config with this tenant's route".into(),
            );
            return Some((trial, left_out));
        }
    }
    None
}
