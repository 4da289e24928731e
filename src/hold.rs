//! A hold on one tenant: while `tenantctl backup` or `restore` works on a
//! tenant (pausing it, stopping it, swapping its data), nothing else may
//! converge it — the controller would unpause, start or recreate it and
//! undo the work within a second. Every apply of a tenant's steps (the
//! controller's reconciles and `tenantctl apply` alike) takes the hold for
//! its duration, and a backup or restore takes it for theirs; whoever
//! finds it taken backs off.
//!
//! Like the host lock (`lock.rs`), it is an abstract unix socket: the
//! kernel frees it when its holder dies, so a `kill -9` of a restore never
//! leaves a tenant held, and the controller's next try converges it
//! (unpausing a tenant the dead backup froze).

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::time::{Duration, Instant};

/// Held for as long as the value lives.
#[derive(Debug)]
pub struct TenantHold {
    _socket: UnixListener,
}

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("tenant `{tenant}` is held by another tenantctl process (a backup, restore or apply of it is running)")]
    Held { tenant: String },
    #[error("cannot hold tenant `{tenant}`: {source}")]
    Io {
        tenant: String,
        #[source]
        source: std::io::Error,
    },
}

fn name(fleet: &str, tenant: &str) -> Vec<u8> {
    let digest = crate::desired::sha256_hex(format!("{fleet}\0{tenant}").as_bytes());
    format!("tenantctl-hold-{}", &digest[..32]).into_bytes()
}

/// Takes the tenant's hold, or says it is taken.
pub fn hold(fleet: &str, tenant: &str) -> Result<TenantHold, HoldError> {
    let io = |source| HoldError::Io {
        tenant: tenant.to_string(),
        source,
    };
    let addr = SocketAddr::from_abstract_name(name(fleet, tenant)).map_err(io)?;
    match UnixListener::bind_addr(&addr) {
        Ok(socket) => Ok(TenantHold { _socket: socket }),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(HoldError::Held {
            tenant: tenant.to_string(),
        }),
        Err(e) => Err(io(e)),
    }
}

/// [`hold`], waiting up to `wait` for another holder (an in-flight
/// reconcile, say) to finish.
pub async fn hold_waiting(
    fleet: &str,
    tenant: &str,
    wait: Duration,
) -> Result<TenantHold, HoldError> {
    let deadline = Instant::now() + wait;
    loop {
        match hold(fleet, tenant) {
            Err(HoldError::Held { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_is_held_once_and_free_again_when_dropped() {
        let fleet = format!("hold-test-{}", std::process::id());
        let first = hold(&fleet, "a").unwrap();
        assert!(matches!(hold(&fleet, "a"), Err(HoldError::Held { .. })));
        assert!(hold(&fleet, "b").is_ok(), "another tenant is not held");
        drop(first);
        assert!(hold(&fleet, "a").is_ok());
    }
}
