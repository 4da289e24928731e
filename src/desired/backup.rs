//! `[backup]` resolved: where archives go, how many are kept, what runs
//! after each one. Pure: the directory is only named here.

use crate::diagnostic::{Diagnostic, SourceFile};
use crate::spec::RawBackup;
use std::path::{Path, PathBuf};

/// How many archives of a tenant are kept (restic/borg style): the newest
/// `last`, and the newest of each of the last `daily` days, `weekly` ISO
/// weeks and `monthly` months. All zero keeps everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Retention {
    pub last: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

impl Retention {
    pub fn keeps_everything(&self) -> bool {
        *self == Retention::default()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackupSpec {
    /// One folder per tenant below it.
    pub dir: PathBuf,
    pub keep: Retention,
    /// Tenants backed up at once by `backup --all`.
    pub concurrency: usize,
    /// Run with the archive's path appended, for off-site copies.
    pub after_command: Option<Vec<String>>,
    /// When `tenantctl run` backs every tenant up: a cron pattern (UTC).
    pub schedule: Option<String>,
}

pub const DEFAULT_DIR: &str = "/var/lib/tenantctl/backups";

impl Default for BackupSpec {
    fn default() -> Self {
        BackupSpec {
            dir: PathBuf::from(DEFAULT_DIR),
            keep: Retention::default(),
            concurrency: 2,
            after_command: None,
            schedule: None,
        }
    }
}

pub fn resolve_backup(
    file: &SourceFile,
    base_dir: &Path,
    raw: Option<&RawBackup>,
    diags: &mut Vec<Diagnostic>,
) -> BackupSpec {
    let mut spec = BackupSpec::default();
    let Some(raw) = raw else { return spec };
    if let Some(dir) = &raw.dir {
        if dir.get_ref().is_empty() {
            diags.push(file.diag(Some(dir.span()), "backup dir must not be empty"));
        } else {
            spec.dir = base_dir.join(dir.get_ref());
        }
    }
    let mut count = |value: &Option<crate::spec::Spanned<i64>>, what: &str| -> u32 {
        match value {
            None => 0,
            Some(v) if (0..=10_000).contains(v.get_ref()) => *v.get_ref() as u32,
            Some(v) => {
                diags.push(file.diag(
                    Some(v.span()),
                    format!("{what} must be between 0 and 10000"),
                ));
                0
            }
        }
    };
    spec.keep = Retention {
        last: count(&raw.keep_last, "keep_last"),
        daily: count(&raw.keep_daily, "keep_daily"),
        weekly: count(&raw.keep_weekly, "keep_weekly"),
        monthly: count(&raw.keep_monthly, "keep_monthly"),
    };
    if let Some(c) = &raw.concurrency {
        if (1..=64).contains(c.get_ref()) {
            spec.concurrency = *c.get_ref() as usize;
        } else {
            diags.push(file.diag(
                Some(c.span()),
                "backup concurrency must be between 1 and 64",
            ));
        }
    }
    if let Some(schedule) = &raw.schedule {
        match cron_pattern(schedule.get_ref()) {
            Ok(pattern) => spec.schedule = Some(pattern),
            Err(e) => diags.push(file.diag(Some(schedule.span()), e)),
        }
    }
    if let Some(cmd) = &raw.after_command {
        if cmd.get_ref().is_empty() || cmd.get_ref()[0].is_empty() {
            diags.push(file.diag(
                Some(cmd.span()),
                "after_command is a program and its arguments, e.g. [\"rclone\", \"copy\"]; the archive's path is appended",
            ));
        } else {
            spec.after_command = Some(cmd.get_ref().clone());
        }
    }
    spec
}

/// `schedule` as a cron pattern: `"03:00"` and `"daily 03:00"` are
/// `"0 3 * * *"`; anything else must be a cron expression (5 fields, or
/// croner's 6 with seconds; `@daily` and friends). Times are UTC.
pub fn cron_pattern(text: &str) -> Result<String, String> {
    let t = text.trim();
    let time = t.strip_prefix("daily").map(str::trim).unwrap_or(t);
    if let Some((h, m)) = time.split_once(':') {
        if let (Ok(h), Ok(m)) = (h.parse::<u32>(), m.parse::<u32>()) {
            if h < 24 && m < 60 {
                return Ok(format!("{m} {h} * * *"));
            }
        }
        return Err(format!(
            "schedule `{text}`: the time must be HH:MM (UTC), e.g. \"daily 03:00\""
        ));
    }
    use std::str::FromStr;
    croner::Cron::from_str(t)
        .map(|_| t.to_string())
        .map_err(|e| {
            format!("schedule `{text}` is neither \"daily HH:MM\" nor a cron expression: {e}")
        })
}

/// The first time after `unix` (seconds) the pattern fires.
pub fn next_fire(pattern: &str, unix: i64) -> Option<i64> {
    use std::str::FromStr;
    let cron = croner::Cron::from_str(pattern).ok()?;
    let now = chrono::DateTime::from_timestamp(unix, 0)?;
    cron.find_next_occurrence(&now, false)
        .ok()
        .map(|t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_times_and_cron_expressions() {
        assert_eq!(cron_pattern("03:00").unwrap(), "0 3 * * *");
        assert_eq!(cron_pattern("daily 23:45").unwrap(), "45 23 * * *");
        assert_eq!(cron_pattern("*/15 * * * *").unwrap(), "*/15 * * * *");
        assert!(
            cron_pattern("*/3 * * * * *").is_ok(),
            "croner's seconds field"
        );
        assert_eq!(
            next_fire("*/3 * * * * *", 1_796_090_400),
            Some(1_796_090_403)
        );
        assert!(cron_pattern("daily 25:00").is_err());
        assert!(cron_pattern("sometimes").is_err());
        // 2026-12-01 02:00:00 UTC → 03:00 the same day; then the next day.
        let t = 1_796_090_400;
        assert_eq!(next_fire("0 3 * * *", t), Some(t + 3600));
        assert_eq!(next_fire("0 3 * * *", t + 3600), Some(t + 3600 + 86_400));
    }
}
