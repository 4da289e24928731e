//! Applying rendered config to a real nginx, transactionally. tenantctl
//! owns only the `tenantctl-*.conf` files in `config_dir`.
//!
//! 1. Nothing changed on disk → nothing is written and nginx is not reloaded.
//! 2. Write the candidate (each file via temp + rename), run `test_command`.
//! 3. If the test fails, restore the previous files and find the tenants
//!    whose block alone breaks it; they are set aside (last good block
//!    kept, or a plain-HTTP 503 block), and the rest is applied.
//! 4. Reload, then probe one serving tenant through nginx with its Host
//!    header. A failed reload or probe restores the previous files and
//!    reloads them again.

use super::render::{render_tenant, tenant_file, tenant_of_file, FILE_PREFIX};
use crate::desired::{DesiredState, ProxySpec};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot write nginx config in {dir}: {source}")]
    Io {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    /// The host could not be read to render the config from (the
    /// executor renders from the host as the tenant steps left it).
    #[error("cannot read the Docker host to render nginx config: {0}")]
    Host(String),
    #[error("nginx config test failed (previous config restored): {0}")]
    Test(String),
    /// Caddy's admin API could not be used (not running, not reachable).
    #[error("{0}")]
    Admin(String),
    #[error("Caddy refused the config (it keeps serving the previous one): {0}")]
    Refused(String),
    #[error("nginx reload failed (previous config restored): {0}")]
    Reload(String),
    #[error(
        "nginx did not serve tenant {tenant} after the reload (previous config restored): {detail}"
    )]
    Probe { tenant: String, detail: String },
}

#[derive(Debug, Default)]
pub struct ProxyOutcome {
    /// Files written or removed.
    pub changed_files: Vec<String>,
    pub reloaded: bool,
    /// Tenants whose block was not applied, with nginx's reason.
    pub set_aside: BTreeMap<String, String>,
    pub error: Option<ProxyError>,
}

/// Our files now in `dir` (name → content); a missing dir has none.
pub fn read_current(dir: &Path) -> Result<BTreeMap<String, String>, std::io::Error> {
    let mut files = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(FILE_PREFIX) && name.ends_with(".conf") {
            files.insert(name, std::fs::read_to_string(entry.path())?);
        }
    }
    Ok(files)
}

fn write_files(
    dir: &Path,
    current: &BTreeMap<String, String>,
    target: &BTreeMap<String, String>,
) -> Result<(), ProxyError> {
    let io = |source| ProxyError::Io {
        dir: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    for (name, content) in target {
        if current.get(name) != Some(content) {
            // Temp name outside the `*.conf` include glob, then an atomic rename.
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, content).map_err(io)?;
            std::fs::rename(&tmp, dir.join(name)).map_err(io)?;
        }
    }
    for name in current.keys().filter(|n| !target.contains_key(*n)) {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
    }
    Ok(())
}

/// Writes `target`; if that fails half-way, puts `current` back.
fn write_or_restore(
    dir: &Path,
    current: &BTreeMap<String, String>,
    target: &BTreeMap<String, String>,
) -> Result<(), ProxyError> {
    write_files(dir, current, target).inspect_err(|_| {
        let _ = write_files(dir, target, current);
    })
}

/// Runs the test command against `trial` on disk, then puts `current` back.
async fn test_trial(
    proxy: &ProxySpec,
    current: &BTreeMap<String, String>,
    trial: &BTreeMap<String, String>,
) -> Result<Result<(), String>, ProxyError> {
    let dir = proxy.config_dir.as_path();
    write_or_restore(dir, current, trial)?;
    let result = run_command(&proxy.test_command).await;
    write_files(dir, trial, current)?;
    Ok(result)
}

async fn run_command(argv: &[String]) -> Result<(), String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("empty command".into());
    };
    let child = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(COMMAND_TIMEOUT, child).await {
        Err(_) => Err(format!(
            "`{}` timed out after {COMMAND_TIMEOUT:?}",
            argv.join(" ")
        )),
        Ok(Err(e)) => Err(format!("cannot run `{program}`: {e}")),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr
                .lines()
                .filter(|l| !l.trim().is_empty())
                .take(3)
                .collect::<Vec<_>>()
                .join(" | ");
            Err(format!(
                "`{}` exited with {}: {last}",
                argv.join(" "),
                out.status
            ))
        }
    }
}

/// Where to reach nginx's `listen` from this host (`80` → loopback).
pub fn listen_addr(listen: &str) -> String {
    if listen.contains(':') {
        listen.to_string()
    } else {
        format!("127.0.0.1:{listen}")
    }
}

/// GET / with the tenant's Host through nginx; any answer but a gateway
/// error (502/504) or none at all means nginx routes it.
async fn probe(listen: &str, host: &str) -> Result<(), String> {
    let addr = listen_addr(listen);
    match crate::probe::http_status(&addr, host, "/", Duration::from_secs(10)).await? {
        code @ (502 | 504) => Err(format!("answered {code}")),
        _ => Ok(()),
    }
}

/// Brings `config_dir` to `candidate`, transactionally (see module docs).
pub async fn sync(
    desired: &DesiredState,
    proxy: &ProxySpec,
    candidate: BTreeMap<String, String>,
    unavailable: &BTreeSet<String>,
) -> ProxyOutcome {
    let dir = proxy.config_dir.as_path();
    let mut outcome = ProxyOutcome::default();
    let current = match read_current(dir) {
        Ok(c) => c,
        Err(source) => {
            outcome.error = Some(ProxyError::Io {
                dir: dir.display().to_string(),
                source,
            });
            return outcome;
        }
    };
    if current == candidate {
        return outcome;
    }
    let mut target = candidate.clone();
    if let Err(e) = write_or_restore(dir, &current, &target) {
        outcome.error = Some(e);
        return outcome;
    }
    if let Err(why) = run_command(&proxy.test_command).await {
        let _ = write_files(dir, &target, &current);
        target = match isolate(desired, proxy, &current, &candidate, &mut outcome).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %why, "nginx candidate refused; previous config restored");
                outcome.error = Some(e);
                return outcome;
            }
        };
        if target == current {
            return outcome;
        }
        if let Err(e) = write_or_restore(dir, &current, &target) {
            outcome.error = Some(e);
            return outcome;
        }
        if let Err(why) = run_command(&proxy.test_command).await {
            let _ = write_files(dir, &target, &current);
            outcome.error = Some(ProxyError::Test(why));
            return outcome;
        }
    }
    if let Err(why) = run_command(&proxy.reload_command).await {
        let _ = write_files(dir, &target, &current);
        let _ = run_command(&proxy.reload_command).await;
        outcome.error = Some(ProxyError::Reload(why));
        return outcome;
    }
    // Probe one tenant that should be served (not set aside, not 503).
    let probe_tenant = desired.tenants.values().find(|t| {
        t.domain.is_some()
            && t.tls.is_none()
            && !unavailable.contains(&t.name)
            && !outcome.set_aside.contains_key(&t.name)
    });
    if let Some(t) = probe_tenant {
        // nginx workers pick up the new config within moments of the signal.
        let mut result = Err(String::new());
        for _ in 0..10 {
            result = probe(&proxy.listen, t.domain.as_deref().unwrap_or_default()).await;
            if result.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if let Err(detail) = result {
            let _ = write_files(dir, &target, &current);
            let _ = run_command(&proxy.reload_command).await;
            outcome.error = Some(ProxyError::Probe {
                tenant: t.name.clone(),
                detail,
            });
            return outcome;
        }
    }
    outcome.reloaded = true;
    outcome.changed_files = target
        .keys()
        .chain(current.keys())
        .filter(|n| target.get(*n) != current.get(*n))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    outcome
}

/// The candidate failed `nginx -t`. Try each changed tenant file alone on
/// top of the current files: the ones that fail alone are set aside. The
/// shared file must pass on its own, or nothing can be applied.
async fn isolate(
    desired: &DesiredState,
    proxy: &ProxySpec,
    current: &BTreeMap<String, String>,
    candidate: &BTreeMap<String, String>,
    outcome: &mut ProxyOutcome,
) -> Result<BTreeMap<String, String>, ProxyError> {
    // If what is on disk fails too, the problem is not in any one tenant.
    run_command(&proxy.test_command)
        .await
        .map_err(ProxyError::Test)?;
    let changed: Vec<&String> = candidate
        .keys()
        .filter(|n| current.get(*n) != candidate.get(*n))
        .collect();
    let mut target = current.clone();
    // Removals cannot break a config; keep them.
    for name in current.keys().filter(|n| !candidate.contains_key(*n)) {
        target.remove(name);
    }
    for name in changed {
        let mut trial = target.clone();
        trial.insert(name.clone(), candidate[name].clone());
        match (
            test_trial(proxy, current, &trial).await?,
            tenant_of_file(name),
        ) {
            (Ok(()), _) => {
                target.insert(name.clone(), candidate[name].clone());
            }
            (Err(why), Some(tenant)) => {
                tracing::warn!(tenant, error = %why, "tenant's nginx block breaks the config; set aside, the others are applied");
                outcome.set_aside.insert(tenant.to_string(), why);
                if !current.contains_key(name) {
                    // No last good block: a plain-HTTP 503, if that passes.
                    if let Some(t) = desired.tenants.get(tenant) {
                        let stand_in = render_tenant(t, proxy, false, None);
                        let mut trial = target.clone();
                        trial.insert(tenant_file(tenant), stand_in.clone());
                        if test_trial(proxy, current, &trial).await?.is_ok() {
                            target.insert(tenant_file(tenant), stand_in);
                        }
                    }
                }
            }
            (Err(why), None) => return Err(ProxyError::Test(why)),
        }
    }
    Ok(target)
}
