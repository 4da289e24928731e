//! Taking a backup of one tenant through the Docker Engine's archive API
//! (no helper image, nothing pulled): each backed-up volume is read as a
//! tar stream from the tenant's container — paused (or stopped) only
//! while it is read, as its `consistency` says — compressed with zstd on
//! a writer thread, hashed, fsynced and renamed into place; the manifest
//! is written last. The tenant is unfrozen on every path out.

use super::manifest::{id_at, Manifest, VolumeArchive};
use super::store;
use super::BackupError;
use crate::desired::{BackupSpec, DesiredTenant};
use crate::docker::DockerClient;
use crate::kinds::Consistency;
use bollard::query_parameters::DownloadFromContainerOptions;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// zstd level 3 (its default): at the speed of the archive API on one
/// core, and a third of gzip's CPU for a similar ratio on SQLite pages.
const ZSTD_LEVEL: i32 = 3;

/// Why a backup was taken (in its manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// `tenantctl backup`.
    #[default]
    Manual,
    /// Before a recreate onto another image: the data of the version that
    /// ran until then (the rollout work restores it with that image).
    PreUpgrade,
    /// `tenantctl purge`: the last copy of a tenant's data.
    Final,
}

/// Backs up `tenant` (see the module docs); the new manifest. Takes the
/// tenant's hold, waiting for a reconcile in flight.
pub async fn backup_tenant(
    docker: &DockerClient,
    spec: &BackupSpec,
    tenant: &DesiredTenant,
    now_unix: i64,
) -> Result<Manifest, BackupError> {
    let _hold =
        crate::hold::hold_waiting(&tenant.fleet, &tenant.name, Duration::from_secs(60)).await?;
    backup_held(docker, spec, tenant, now_unix, Reason::Manual).await
}

/// [`backup_tenant`] for a caller that holds the tenant already (apply,
/// before an upgrade).
pub async fn backup_held(
    docker: &DockerClient,
    spec: &BackupSpec,
    tenant: &DesiredTenant,
    now_unix: i64,
    reason: Reason,
) -> Result<Manifest, BackupError> {
    if tenant.backup_volumes.is_empty() {
        return Err(BackupError::Nothing(tenant.name.clone()));
    }
    let name = tenant.container_name.clone();
    let inspect = match docker
        .call("inspect_container", |d| async move {
            d.inspect_container(&name, None).await
        })
        .await
    {
        Ok(i) => i,
        Err(e) if e.is_not_found() => return Err(BackupError::NoContainer(tenant.name.clone())),
        Err(e) => return Err(e.into()),
    };
    let labels = inspect
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    let labels: std::collections::BTreeMap<String, String> = labels.into_iter().collect();
    if !crate::labels::belongs_to(&labels, &tenant.fleet, &tenant.name) {
        return Err(BackupError::NotOurs(tenant.container_name.clone()));
    }
    let folder = store::tenant_dir(&spec.dir, &tenant.name);
    std::fs::create_dir_all(&folder).map_err(|e| BackupError::io(&folder, e))?;
    store::sweep(&spec.dir, &tenant.name).map_err(BackupError::Store)?;
    let id = new_id(&folder, now_unix);
    let started = Instant::now();
    let state = inspect.state.clone().unwrap_or_default();
    let running = state.running == Some(true) && state.paused != Some(true);
    let freeze = if running {
        tenant.consistency
    } else {
        Consistency::None
    };
    let sources: Vec<(String, String)> = tenant
        .backup_volumes
        .iter()
        .filter_map(|key| {
            let mount = tenant.mounts.iter().find(|m| &m.key == key)?;
            Some((key.clone(), mount.target.clone()))
        })
        .collect();
    let frozen_at = Instant::now();
    freeze_tenant(docker, tenant, freeze).await?;
    let (written, result) =
        download_all(docker, &tenant.container_name, &folder, &id, &sources).await;
    let thawed = thaw_tenant(docker, tenant, freeze).await;
    let pause_seconds = if freeze == Consistency::None {
        0.0
    } else {
        frozen_at.elapsed().as_secs_f64()
    };
    if let Err(e) = result.and(thawed) {
        discard(&written);
        return Err(e);
    }
    let volumes = finish(&folder, &written)?;
    let manifest = Manifest {
        id,
        tenant: tenant.name.clone(),
        fleet: tenant.fleet.clone(),
        created_unix: now_unix,
        // What ran (not what the file now wants: before an upgrade they differ).
        image: inspect
            .config
            .as_ref()
            .and_then(|c| c.image.clone())
            .unwrap_or_default(),
        image_id: inspect.image.clone().unwrap_or_default(),
        spec_hash: labels
            .get(crate::labels::SPEC_HASH_LABEL)
            .cloned()
            .unwrap_or_default(),
        tenantctl_version: env!("CARGO_PKG_VERSION").to_string(),
        consistency: freeze,
        pause_seconds,
        duration_seconds: started.elapsed().as_secs_f64(),
        volumes,
        verified: None,
        reason,
    };
    store::save(&spec.dir, &manifest).map_err(|e| BackupError::io(&folder, e))?;
    Ok(manifest)
}

/// A fresh backup id for the folder (a second backup within the same
/// second gets `-2`, `-3`…).
pub(super) fn new_id(folder: &Path, now_unix: i64) -> String {
    let mut id = id_at(now_unix);
    let mut n = 1;
    while folder.join(Manifest::file_name(&id)).exists() {
        n += 1;
        id = format!("{}-{n}", id_at(now_unix));
    }
    id
}

/// One volume's archive as written, not yet under its final name.
pub(super) struct Written {
    key: String,
    target: String,
    path: PathBuf,
    sha256: String,
    size: u64,
    raw_size: u64,
    files: u64,
}

/// Downloads each `(key, path in the container)` into `.partial` files;
/// what was written, and whether all of it was.
pub(super) async fn download_all(
    docker: &DockerClient,
    container: &str,
    folder: &Path,
    id: &str,
    sources: &[(String, String)],
) -> (Vec<Written>, Result<(), BackupError>) {
    let mut written = Vec::new();
    for (key, target) in sources {
        let path = folder.join(store::archive_name(id, key));
        match download(docker, container, target, &store::partial(&path)).await {
            Ok((sha256, size, raw_size, files)) => written.push(Written {
                key: key.clone(),
                target: target.clone(),
                path,
                sha256,
                size,
                raw_size,
                files,
            }),
            Err(e) => return (written, Err(e)),
        }
    }
    (written, Ok(()))
}

/// Removes the `.partial` files of a backup that will not be.
pub(super) fn discard(written: &[Written]) {
    for w in written {
        let _ = std::fs::remove_file(store::partial(&w.path));
    }
}

/// Gives each archive its final name (it was hashed, its tar walked and
/// fsynced as it was written); the manifest's entries.
pub(super) fn finish(
    folder: &Path,
    written: &[Written],
) -> Result<Vec<VolumeArchive>, BackupError> {
    let volumes = written
        .iter()
        .map(|w| VolumeArchive {
            key: w.key.clone(),
            target: w.target.clone(),
            file: w
                .path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            sha256: w.sha256.clone(),
            size: w.size,
            raw_size: w.raw_size,
            files: w.files,
        })
        .collect();
    for w in written {
        if let Err(e) = std::fs::rename(store::partial(&w.path), &w.path) {
            discard(written);
            return Err(BackupError::io(&w.path, e));
        }
    }
    store::sync_dir(&folder.join("x")).map_err(|e| BackupError::io(folder, e))?;
    Ok(volumes)
}

async fn freeze_tenant(
    docker: &DockerClient,
    t: &DesiredTenant,
    how: Consistency,
) -> Result<(), BackupError> {
    let name = t.container_name.clone();
    match how {
        Consistency::None => Ok(()),
        Consistency::Pause => Ok(docker
            .call("pause_container", |d| async move {
                d.pause_container(&name).await
            })
            .await?),
        Consistency::Stop => {
            Ok(crate::lifecycle::stop(docker, &t.container_name, t.stop_timeout_secs).await?)
        }
    }
}

/// Undoes [`freeze_tenant`]; retried a few times, since a tenant left
/// frozen is down (the controller or the next apply unpauses it too).
async fn thaw_tenant(
    docker: &DockerClient,
    t: &DesiredTenant,
    how: Consistency,
) -> Result<(), BackupError> {
    let mut last = Ok(());
    for _ in 0..3 {
        let name = t.container_name.clone();
        last = match how {
            Consistency::None => return Ok(()),
            Consistency::Pause => {
                docker
                    .call("unpause_container", |d| async move {
                        d.unpause_container(&name).await
                    })
                    .await
            }
            Consistency::Stop => {
                docker
                    .call("start_container", |d| async move {
                        d.start_container(&name, None).await
                    })
                    .await
            }
        };
        if last.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(last?)
}

/// Streams `path` of the container into a zstd file at `out`; (sha256 of
/// the file, its size, the tar stream's size).
async fn download(
    docker: &DockerClient,
    container: &str,
    path: &str,
    out: &Path,
) -> Result<(String, u64, u64, u64), BackupError> {
    docker.count("download_archive");
    let options = DownloadFromContainerOptions {
        path: path.to_string(),
    };
    let mut stream = docker
        .api()
        .download_from_container(container, Some(options));
    let (tx, rx) = std::sync::mpsc::sync_channel::<hyper::body::Bytes>(32);
    let out_path = out.to_path_buf();
    let writer = tokio::task::spawn_blocking(move || write_compressed(&out_path, rx));
    let mut raw_size = 0u64;
    let mut failure = None;
    loop {
        match tokio::time::timeout(docker.timeout(), stream.next()).await {
            Err(_) => {
                failure = Some(BackupError::Docker(crate::docker::DockerError::Timeout {
                    operation: "download_archive",
                    seconds: docker.timeout().as_secs(),
                }));
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                failure = Some(docker.error("download_archive", e).into());
                break;
            }
            Ok(Some(Ok(chunk))) => {
                raw_size += chunk.len() as u64;
                super::progress::add(chunk.len() as u64);
                if tx.send(chunk).is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| BackupError::Store(e.to_string()))?;
    if let Some(e) = failure {
        let _ = std::fs::remove_file(out);
        return Err(e);
    }
    let (sha256, size, files) = written.map_err(|e| {
        let _ = std::fs::remove_file(out);
        BackupError::io(out, e)
    })?;
    Ok((sha256, size, raw_size, files))
}

/// The writer thread: walks the tar stream as it passes (counting its
/// files, so nothing has to be read back), compresses, hashes what lands
/// on disk, fsyncs. A stream that is not a whole tar fails here.
fn write_compressed(
    out: &Path,
    rx: std::sync::mpsc::Receiver<hyper::body::Bytes>,
) -> std::io::Result<(String, u64, u64)> {
    let file = std::fs::File::create(out)?;
    let hashing = HashingWriter {
        inner: std::io::BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        bytes: 0,
    };
    let encoder = zstd::Encoder::new(hashing, ZSTD_LEVEL)?;
    let mut tee = Tee {
        rx,
        chunk: hyper::body::Bytes::new(),
        sink: encoder,
    };
    let mut files = 0;
    {
        let mut archive = tar::Archive::new(&mut tee);
        for entry in archive.entries()? {
            let mut entry = entry?;
            if entry.header().entry_type().is_file() {
                files += 1;
            }
            std::io::copy(&mut entry, &mut std::io::sink())?;
        }
    }
    // The end-of-archive blocks and whatever follows them.
    std::io::copy(&mut tee, &mut std::io::sink())?;
    let mut hashing = tee.sink.finish()?;
    hashing.flush()?;
    let HashingWriter {
        inner,
        hasher,
        bytes,
    } = hashing;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok((format!("{:x}", hasher.finalize()), bytes, files))
}

/// Reads the downloaded chunks and writes every byte read into `sink`.
struct Tee<W> {
    rx: std::sync::mpsc::Receiver<hyper::body::Bytes>,
    chunk: hyper::body::Bytes,
    sink: W,
}

impl<W: Write> std::io::Read for Tee<W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.recv() {
                Ok(next) => self.chunk = next,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        let taken = self.chunk.split_to(n);
        buf[..n].copy_from_slice(&taken);
        self.sink.write_all(&taken)?;
        Ok(n)
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Regular files in an archive, read back whole (a torn write fails here).
pub fn count_files(path: &Path) -> std::io::Result<u64> {
    let decoder = zstd::Decoder::new(std::fs::File::open(path)?)?;
    let mut archive = tar::Archive::new(decoder);
    let mut n = 0;
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type().is_file() {
            n += 1;
        }
        std::io::copy(&mut entry, &mut std::io::sink())?;
    }
    Ok(n)
}
