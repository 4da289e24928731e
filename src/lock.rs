//! One writer per Docker host: `tenantctl run` holds the host lock for its
//! whole life and `tenantctl apply` for its one pass, so two processes never
//! converge the same containers at once (on Docker 20.10 that even created
//! duplicate networks).
//!
//! The lock is an abstract unix socket named after the lock file's path:
//! the kernel frees it when the process dies, and, unlike a lock on a file,
//! nobody can delete it from under its holder (deleting the lock file
//! used to let a second controller start). The file only records the
//! holder's pid, for the refusal message.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Held for as long as the value lives; the OS drops it if we crash.
#[derive(Debug)]
pub struct InstanceLock {
    _socket: UnixListener,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another tenantctl process holds the host lock {path} (pid {holder}); only one may change a host at a time{hint}")]
    Held {
        path: PathBuf,
        holder: String,
        hint: &'static str,
    },
    #[error("cannot take the host lock {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `/run/lock/tenantctl.lock` where that exists, else the temp directory.
pub fn default_lock_path() -> PathBuf {
    let run_lock = Path::new("/run/lock");
    if run_lock.is_dir() {
        run_lock.join("tenantctl.lock")
    } else {
        std::env::temp_dir().join("tenantctl.lock")
    }
}

/// The abstract socket name for a lock path: the same path (however it
/// was spelled) gives the same name.
fn socket_name(path: &Path) -> Vec<u8> {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let digest = crate::desired::sha256_hex(absolute.as_os_str().as_encoded_bytes());
    format!("tenantctl-lock-{}", &digest[..32]).into_bytes()
}

/// Takes the lock or says who holds it.
pub fn acquire(path: &Path) -> Result<InstanceLock, LockError> {
    let io = |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    let addr = SocketAddr::from_abstract_name(socket_name(path)).map_err(io)?;
    match UnixListener::bind_addr(&addr) {
        Ok(socket) => {
            std::fs::write(path, std::process::id().to_string()).map_err(io)?;
            Ok(InstanceLock {
                _socket: socket,
                path: path.to_path_buf(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(LockError::Held {
            path: path.to_path_buf(),
            holder: std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown".into()),
            hint: "",
        }),
        Err(e) => Err(io(e)),
    }
}

/// [`acquire`], retrying for up to `wait` while another process holds it.
pub fn acquire_waiting(path: &Path, wait: Duration) -> Result<InstanceLock, LockError> {
    let deadline = Instant::now() + wait;
    loop {
        match acquire(path) {
            Err(LockError::Held { path, holder, .. }) => {
                if Instant::now() >= deadline {
                    return Err(LockError::Held {
                        path,
                        holder,
                        hint: "; `--wait-lock 5m` waits for it",
                    });
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_file_is_refused() {
        let path = std::env::temp_dir().join(format!("tenantctl-lock-test-{}", std::process::id()));
        let first = acquire(&path).unwrap();
        let err = acquire(&path).unwrap_err();
        assert!(
            err.to_string().contains(&std::process::id().to_string()),
            "{err}"
        );
        drop(first);
        assert!(acquire(&path).is_ok());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn deleting_the_lock_file_does_not_release_the_lock() {
        let path = std::env::temp_dir().join(format!("tenantctl-lock-del-{}", std::process::id()));
        let _first = acquire(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(acquire(&path), Err(LockError::Held { .. })));
        let _ = std::fs::remove_file(&path);
    }
}
