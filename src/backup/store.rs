//! The backup folder: `<dir>/<tenant>/<id>.json` (the manifest) and
//! `<id>-<volume>.tar.zst` (one archive per backed-up volume). Files are
//! written to a `.partial` name, fsynced and renamed, the manifest last:
//! a crash or a full disk never leaves something that looks like a backup.

use super::manifest::Manifest;
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn tenant_dir(dir: &Path, tenant: &str) -> PathBuf {
    dir.join(tenant)
}

pub fn archive_name(id: &str, key: &str) -> String {
    format!("{id}-{key}.tar.zst")
}

/// The name a file is written under until it is complete.
pub fn partial(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Every backup of a tenant, oldest first. A manifest that cannot be read
/// is an error (it is reported, never silently skipped or deleted).
pub fn list(dir: &Path, tenant: &str) -> Result<Vec<Manifest>, String> {
    let folder = tenant_dir(dir, tenant);
    let entries = match std::fs::read_dir(&folder) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(format!("{}: {e}", folder.display())),
    };
    let mut all = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|x| x == "json") {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let m: Manifest = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not a backup manifest: {e}", path.display()))?;
            all.push(m);
        }
    }
    all.sort_by(|a, b| (a.created_unix, &a.id).cmp(&(b.created_unix, &b.id)));
    Ok(all)
}

/// The newest backup of a tenant, reading only its manifest (ids sort by
/// time; a second backup within one second is `<id>-2`, `-3`…): what the
/// metrics and `status` show, read every minute for every tenant.
pub fn newest(dir: &Path, tenant: &str) -> Result<Option<Manifest>, String> {
    let folder = tenant_dir(dir, tenant);
    let entries = match std::fs::read_dir(&folder) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", folder.display())),
    };
    let order = |stem: &str| -> (String, u32) {
        match stem.split_once('-') {
            Some((base, n)) => (base.to_string(), n.parse().unwrap_or(0)),
            None => (stem.to_string(), 1),
        }
    };
    let latest = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_string)
        })
        .max_by_key(|stem| order(stem));
    let Some(stem) = latest else { return Ok(None) };
    let path = folder.join(Manifest::file_name(&stem));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{}: not a backup manifest: {e}", path.display()))
}

/// Tenants that have a backup folder.
pub fn tenants(dir: &Path) -> Result<Vec<String>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Writes `text` to `path` whole or not at all.
pub fn write_atomic(path: &Path, text: &[u8]) -> std::io::Result<()> {
    let tmp = partial(path);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

/// fsync of the directory holding `path`, so a rename survives a crash.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(parent) => std::fs::File::open(parent)?.sync_all(),
        None => Ok(()),
    }
}

pub fn save(dir: &Path, m: &Manifest) -> std::io::Result<()> {
    let path = tenant_dir(dir, &m.tenant).join(Manifest::file_name(&m.id));
    let json = serde_json::to_vec_pretty(m).map_err(std::io::Error::other)?;
    write_atomic(&path, &json)
}

/// Deletes a backup: the manifest first (it stops existing), then its
/// archives (a crash in between leaves only unreferenced files, which
/// [`sweep`] removes).
pub fn remove(dir: &Path, m: &Manifest) -> std::io::Result<()> {
    let folder = tenant_dir(dir, &m.tenant);
    std::fs::remove_file(folder.join(Manifest::file_name(&m.id)))?;
    for v in &m.volumes {
        match std::fs::remove_file(folder.join(&v.file)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Removes `.partial` files and archives no manifest names: what a crash
/// or a full disk left behind.
pub fn sweep(dir: &Path, tenant: &str) -> Result<usize, String> {
    let folder = tenant_dir(dir, tenant);
    let named: std::collections::BTreeSet<String> = list(dir, tenant)?
        .iter()
        .flat_map(|m| m.volumes.iter().map(|v| v.file.clone()))
        .collect();
    let mut removed = 0;
    for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stray =
            name.ends_with(".partial") || (name.ends_with(".tar.zst") && !named.contains(&name));
        if stray && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_is_found_by_its_id_without_reading_the_others() {
        let dir = std::env::temp_dir().join(format!("tenantctl-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a")).unwrap();
        assert_eq!(newest(&dir, "a").unwrap(), None);
        let base: Manifest = serde_json::from_str(
            r#"{"id":"x","tenant":"a","fleet":"f","created_unix":1,"image":"i","image_id":"",
            "spec_hash":"","tenantctl_version":"0","consistency":"pause","pause_seconds":0.0,
            "duration_seconds":0.0,"volumes":[]}"#,
        )
        .unwrap();
        for (id, t) in [
            ("20261201T020304Z", 3),
            ("20261201T020304Z-2", 4),
            ("20261130T000000Z", 1),
        ] {
            save(
                &dir,
                &Manifest {
                    id: id.into(),
                    created_unix: t,
                    ..base.clone()
                },
            )
            .unwrap();
        }
        // The older ones need not even parse.
        std::fs::write(dir.join("a/20261129T000000Z.json"), "not json").unwrap();
        assert_eq!(newest(&dir, "a").unwrap().unwrap().id, "20261201T020304Z-2");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
