//! What a backup is: its manifest, written next to its archives, last and
//! atomically, so a backup exists exactly when its manifest does. Pure.

use serde::{Deserialize, Serialize};

/// One volume's archive: a zstd-compressed tar of the volume's content as
/// Docker's archive API gives it (entries under the mount's base name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeArchive {
    /// The chart's volume key (`data`).
    pub key: String,
    /// Where it is mounted in the container (`/app/backend/data`).
    pub target: String,
    /// File name in the tenant's backup folder.
    pub file: String,
    /// sha256 of the compressed file.
    pub sha256: String,
    /// Size of the compressed file.
    pub size: u64,
    /// Size of the tar stream before compression.
    pub raw_size: u64,
    /// Regular files in the archive.
    pub files: u64,
}

/// The result of `tenantctl backups verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub at_unix: i64,
    pub ok: bool,
    /// What failed, or what was checked (`3 files, 1 SQLite database ok`).
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `20261201T020304Z` (UTC), unique per tenant.
    pub id: String,
    pub tenant: String,
    pub fleet: String,
    pub created_unix: i64,
    /// The image the tenant ran when it was backed up: which version of the
    /// app the data belongs to (an upgrade may migrate it).
    pub image: String,
    pub image_id: String,
    pub spec_hash: String,
    pub tenantctl_version: String,
    pub consistency: crate::kinds::Consistency,
    /// How long the tenant was frozen (or stopped) while it was read.
    pub pause_seconds: f64,
    pub duration_seconds: f64,
    pub volumes: Vec<VolumeArchive>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<Verification>,
    #[serde(default)]
    pub reason: super::take::Reason,
}

impl Manifest {
    pub fn size(&self) -> u64 {
        self.volumes.iter().map(|v| v.size).sum()
    }

    pub fn file_name(id: &str) -> String {
        format!("{id}.json")
    }
}

/// A backup id from a time: `YYYYMMDDTHHMMSSZ`, sortable as text.
pub fn id_at(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// `YYYY-MM-DD HH:MM:SS` UTC, for humans.
pub fn shown_time(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}Z")
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's algorithm.
pub fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn civil(unix: i64) -> (i64, u32, u32, i64, i64, i64) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_date(days);
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_utc_timestamps_that_sort() {
        assert_eq!(id_at(0), "19700101T000000Z");
        assert_eq!(id_at(1_796_090_400), "20261201T020000Z");
        assert_eq!(shown_time(951_782_400), "2000-02-29 00:00:00Z");
        assert!(id_at(1_796_090_400) < id_at(1_796_090_401));
    }
}
