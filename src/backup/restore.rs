//! Restoring a backup: the tenant's data becomes exactly the archive's
//! content, the tenant must then pass its health check, and if anything
//! fails its previous data is put back.
//!
//! Docker's archive API can add files to a container but not delete them,
//! and the tenant's image has no shell to empty a directory with (the
//! stand-in has none, nor may the real app), so a restore works on the
//! volume's directory on this host: a bind mount's path, or a Docker
//! volume's mountpoint. tenantctl therefore restores on the Docker host it
//! runs on (as root, like the daemon). A helper container from a static
//! binary would work remotely too, but would need an image on every
//! server; the host path needs nothing.
//!
//! In each volume directory the current content is first moved (renamed,
//! same filesystem, no copy) into `.tenantctl-restore-aside/`; the archive
//! is extracted; the tenant is started and gated. Success: the aside
//! folder is renamed `.tenantctl-restore-done` and deleted. Failure: the
//! restored files are deleted and the aside ones moved back. A crash at
//! any point leaves one of those folders, and the next restore, or the
//! next apply or controller reconcile that starts the tenant
//! ([`recover_tenant`]), finishes the cleanup first: an aside folder means
//! "not committed" (the old data comes back), a done folder means
//! "committed" (it is deleted). Never a mix.

use super::manifest::Manifest;
use super::{store, BackupError};
use crate::desired::{DesiredTenant, MountSource};
use crate::docker::DockerClient;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

const ASIDE: &str = ".tenantctl-restore-aside";
const DONE: &str = ".tenantctl-restore-done";

#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// The backup folder (`[backup] dir`).
    pub dir: PathBuf,
    /// How long the restored tenant has to pass its health check.
    pub deadline: Duration,
}

#[derive(Debug)]
pub struct Restored {
    pub id: String,
    pub files: u64,
    pub downtime: Duration,
}

/// Restores `backup` (of this tenant, or another with `--from-tenant`)
/// into `tenant`'s volumes.
pub async fn restore_tenant(
    docker: &DockerClient,
    tenant: &DesiredTenant,
    backup: &Manifest,
    opts: &RestoreOptions,
) -> Result<Restored, BackupError> {
    // Everything that can be checked is checked before the data is touched.
    let folder = store::tenant_dir(&opts.dir, &backup.tenant);
    let mut plan = Vec::new();
    for v in &backup.volumes {
        let archive = folder.join(&v.file);
        check_archive(&archive, &v.sha256)?;
        let Some(mount) = tenant.mounts.iter().find(|m| m.key == v.key) else {
            return Err(BackupError::Refused(format!(
                "backup {} has volume `{}`, which tenant `{}` does not mount",
                backup.id, v.key, tenant.name
            )));
        };
        plan.push((archive, host_dir(docker, &mount.source).await?));
    }
    let _hold =
        crate::hold::hold_waiting(&tenant.fleet, &tenant.name, Duration::from_secs(60)).await?;
    let name = tenant.container_name.clone();
    match docker
        .call("inspect_container", |d| async move {
            d.inspect_container(&name, None).await
        })
        .await
    {
        Err(e) if e.is_not_found() => return Err(BackupError::NoContainer(tenant.name.clone())),
        other => other?,
    };
    for (_, dir) in &plan {
        recover(dir).map_err(|e| BackupError::io(dir, e))?;
    }
    let down = std::time::Instant::now();
    stop(docker, tenant).await?;
    let mut files = 0;
    let mut failed = None;
    for (archive, dir) in &plan {
        let step = set_aside(dir).and_then(|()| extract(archive, dir));
        match step {
            Ok(n) => files += n,
            Err(e) => {
                failed = Some(BackupError::io(dir, e));
                break;
            }
        }
    }
    let healthy = match failed {
        Some(e) => Err(e),
        None => start_and_gate(docker, tenant, opts.deadline).await,
    };
    match healthy {
        Ok(()) => {
            for (_, dir) in &plan {
                commit(dir).map_err(|e| BackupError::io(dir, e))?;
            }
            Ok(Restored {
                id: backup.id.clone(),
                files,
                downtime: down.elapsed(),
            })
        }
        Err(e) => {
            tracing::warn!(tenant = %tenant.name, error = %e, "the restore failed; putting the previous data back");
            let _ = stop(docker, tenant).await;
            for (_, dir) in &plan {
                recover(dir).map_err(|err| BackupError::io(dir, err))?;
            }
            let name = tenant.container_name.clone();
            docker
                .call("start_container", |d| async move {
                    d.start_container(&name, None).await
                })
                .await?;
            Err(BackupError::RolledBack(Box::new(e)))
        }
    }
}

/// Finishes a restore that was killed half-way (see the module docs) in
/// each of the tenant's volumes this host can see; whether there was one.
/// Called by whoever converges the tenant next (apply, the controller)
/// while holding it, so a killed restore never leaves its data mixed.
pub async fn recover_tenant(
    docker: &DockerClient,
    tenant: &DesiredTenant,
) -> Result<bool, BackupError> {
    let mut found = false;
    for m in &tenant.mounts {
        let Ok(dir) = host_dir(docker, &m.source).await else {
            continue;
        };
        if dir.join(ASIDE).exists() || dir.join(DONE).exists() {
            recover(&dir).map_err(|e| BackupError::io(&dir, e))?;
            tracing::warn!(tenant = %tenant.name, volume = %m.key, "finished a restore that was cut short (its data is whole again)");
            found = true;
        }
    }
    Ok(found)
}

/// The archive matches its manifest and reads back whole.
fn check_archive(path: &Path, sha256: &str) -> Result<(), BackupError> {
    let bytes_hash =
        sha256_file(path).map_err(|e| BackupError::Corrupt(format!("{}: {e}", path.display())))?;
    if bytes_hash != sha256 {
        return Err(BackupError::Corrupt(format!(
            "{}: sha256 {} is not the manifest's {}",
            path.display(),
            &bytes_hash[..12],
            &sha256[..sha256.len().min(12)]
        )));
    }
    super::take::count_files(path)
        .map_err(|e| BackupError::Corrupt(format!("{}: {e}", path.display())))?;
    Ok(())
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut f = std::fs::File::open(path)?;
    std::io::copy(&mut f, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// The directory on this host behind a mount.
async fn host_dir(docker: &DockerClient, source: &MountSource) -> Result<PathBuf, BackupError> {
    let dir = match source {
        MountSource::Bind(path) => PathBuf::from(path),
        MountSource::Volume(name) | MountSource::Named(name) => {
            let owned = name.clone();
            let v = docker
                .call("inspect_volume", |d| async move {
                    d.inspect_volume(&owned).await
                })
                .await?;
            PathBuf::from(v.mountpoint)
        }
    };
    if !dir.is_dir() {
        return Err(BackupError::Refused(format!(
            "{} is not a directory on this host: restore works on the Docker host itself (as root), where the volume's files are",
            dir.display()
        )));
    }
    Ok(dir)
}

async fn stop(docker: &DockerClient, t: &DesiredTenant) -> Result<(), BackupError> {
    Ok(crate::lifecycle::stop(docker, &t.container_name, t.stop_timeout_secs).await?)
}

async fn start_and_gate(
    docker: &DockerClient,
    t: &DesiredTenant,
    deadline: Duration,
) -> Result<(), BackupError> {
    let name = t.container_name.clone();
    docker
        .call("start_container", |d| async move {
            d.start_container(&name, None).await
        })
        .await?;
    Ok(crate::lifecycle::wait_healthy(docker, t, &t.container_name, deadline).await?)
}

/// Moves everything in `dir` into `dir/.tenantctl-restore-aside/`.
fn set_aside(dir: &Path) -> std::io::Result<()> {
    let aside = dir.join(ASIDE);
    std::fs::create_dir(&aside)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == ASIDE || name == DONE {
            continue;
        }
        std::fs::rename(entry.path(), aside.join(&name))?;
    }
    store::sync_dir(&aside.join("x"))?;
    store::sync_dir(&dir.join("x"))
}

/// Extracts the archive's entries (below its top folder, the volume's
/// own name) into `dir`, with their owners, modes and times; the number
/// of regular files.
fn extract(archive: &Path, dir: &Path) -> std::io::Result<u64> {
    let decoder = zstd::Decoder::new(std::fs::File::open(archive)?)?;
    let mut tar = tar::Archive::new(decoder);
    tar.set_preserve_permissions(true);
    tar.set_preserve_mtime(true);
    tar.set_preserve_ownerships(true);
    tar.set_overwrite(true);
    let mut files = 0;
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let rest: PathBuf = path.components().skip(1).collect();
        if rest.as_os_str().is_empty() {
            continue;
        }
        if !rest.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(std::io::Error::other(format!(
                "archive entry {} leaves the volume",
                path.display()
            )));
        }
        if entry.header().entry_type().is_file() {
            files += 1;
        }
        super::progress::add(entry.size());
        entry.unpack(dir.join(rest))?;
    }
    store::sync_dir(&dir.join("x"))?;
    Ok(files)
}

/// The restore is kept: the old data goes.
fn commit(dir: &Path) -> std::io::Result<()> {
    let (aside, done) = (dir.join(ASIDE), dir.join(DONE));
    if aside.exists() {
        std::fs::rename(&aside, &done)?;
        store::sync_dir(&done)?;
    }
    if done.exists() {
        std::fs::remove_dir_all(&done)?;
    }
    Ok(())
}

/// Finishes what a failed or killed restore left: a done folder is
/// deleted (that restore was committed); an aside folder means it was
/// not, so whatever is next to it goes and its content comes back.
pub fn recover(dir: &Path) -> std::io::Result<()> {
    let (aside, done) = (dir.join(ASIDE), dir.join(DONE));
    if done.exists() {
        std::fs::remove_dir_all(&done)?;
    }
    if !aside.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == ASIDE {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    for entry in std::fs::read_dir(&aside)? {
        let entry = entry?;
        std::fs::rename(entry.path(), dir.join(entry.file_name()))?;
    }
    std::fs::remove_dir(&aside)?;
    store::sync_dir(&dir.join("x"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("tenantctl-restore-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn names(d: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn an_uncommitted_restore_is_undone_whole() {
        let d = dir("undo");
        std::fs::write(d.join("webui.db"), "old").unwrap();
        std::fs::create_dir(d.join("uploads")).unwrap();
        set_aside(&d).unwrap();
        assert_eq!(names(&d), [ASIDE]);
        // Half of a restore, then a crash.
        std::fs::write(d.join("webui.db"), "new").unwrap();
        std::fs::write(d.join("webui.db-wal"), "new").unwrap();
        recover(&d).unwrap();
        assert_eq!(names(&d), ["uploads", "webui.db"]);
        assert_eq!(std::fs::read_to_string(d.join("webui.db")).unwrap(), "old");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_committed_restore_only_loses_its_old_data() {
        let d = dir("commit");
        std::fs::write(d.join("webui.db"), "old").unwrap();
        set_aside(&d).unwrap();
        std::fs::write(d.join("webui.db"), "new").unwrap();
        std::fs::rename(d.join(ASIDE), d.join(DONE)).unwrap();
        // A crash before the done folder was deleted.
        recover(&d).unwrap();
        assert_eq!(names(&d), ["webui.db"]);
        assert_eq!(std::fs::read_to_string(d.join("webui.db")).unwrap(), "new");
        let _ = std::fs::remove_dir_all(&d);
    }
}
