//! `tenantctl backups verify`: an archive is re-read, its sha256 checked
//! against the manifest, extracted to a temporary folder, and every SQLite
//! database in it must pass `PRAGMA integrity_check` (SQLite's own check,
//! from rusqlite's bundled SQLite, so the host needs no sqlite3).

use super::manifest::{Manifest, Verification};
use super::store;
use std::path::{Path, PathBuf};

/// Verifies one backup and records the result in its manifest.
pub fn verify_backup(dir: &Path, m: &Manifest, now_unix: i64) -> Result<Verification, String> {
    let result = check(dir, m);
    let verification = Verification {
        at_unix: now_unix,
        ok: result.is_ok(),
        detail: match result {
            Ok(d) | Err(d) => d,
        },
    };
    let mut updated = m.clone();
    updated.verified = Some(verification.clone());
    store::save(dir, &updated).map_err(|e| e.to_string())?;
    Ok(verification)
}

fn check(dir: &Path, m: &Manifest) -> Result<String, String> {
    let folder = store::tenant_dir(dir, &m.tenant);
    let scratch = std::env::temp_dir().join(format!(
        "tenantctl-verify-{}-{}-{}",
        m.tenant,
        m.id,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&scratch);
    let result = (|| {
        let (mut files, mut databases) = (0, 0);
        for v in &m.volumes {
            let path = folder.join(&v.file);
            let sha = super::restore::sha256_file(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if sha != v.sha256 {
                return Err(format!("{}: sha256 differs from the manifest's", v.file));
            }
            let into = scratch.join(&v.key);
            std::fs::create_dir_all(&into).map_err(|e| e.to_string())?;
            let decoder =
                zstd::Decoder::new(std::fs::File::open(&path).map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
            let mut archive = tar::Archive::new(decoder);
            archive
                .unpack(&into)
                .map_err(|e| format!("{}: {e}", v.file))?;
            let extracted = regular_files(&into);
            if extracted.len() as u64 != v.files {
                return Err(format!(
                    "{}: {} files, the manifest says {}",
                    v.file,
                    extracted.len(),
                    v.files
                ));
            }
            files += extracted.len();
            for f in extracted.iter().filter(|f| is_sqlite(f)) {
                integrity(f)?;
                databases += 1;
            }
        }
        Ok(format!(
            "{files} files, {databases} SQLite database(s) pass integrity_check"
        ))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn regular_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out
}

fn is_sqlite(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"SQLite format 3\0"
}

fn integrity(path: &Path) -> Result<(), String> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    let answer: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if answer == "ok" {
        Ok(())
    } else {
        Err(format!("{}: integrity_check says {answer}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_check_passes_a_good_database_and_fails_a_damaged_one() {
        let dir =
            std::env::temp_dir().join(format!("tenantctl-verify-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("webui.db");
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch("CREATE TABLE t(x TEXT); CREATE INDEX tx ON t(x);")
            .unwrap();
        for i in 0..2000 {
            db.execute("INSERT INTO t VALUES (?1)", [format!("row {i}")])
                .unwrap();
        }
        drop(db);
        assert!(is_sqlite(&path));
        assert!(integrity(&path).is_ok());
        // Damage the pages after the first (the header stays readable).
        let mut bytes = std::fs::read(&path).unwrap();
        for b in bytes.iter_mut().skip(4096 * 2).take(4096) {
            *b = 0x5a;
        }
        std::fs::write(&path, &bytes).unwrap();
        assert!(integrity(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
