//! Which backups to keep (restic's `forget` rules): the newest `last`,
//! then for each of `daily`, `weekly`, `monthly` the newest backup of each
//! of that many most recent days, ISO weeks or months that have one. A
//! backup any rule keeps is kept. Pure, so times can be injected in tests.

use super::manifest::civil_date;
use crate::desired::Retention;
use std::collections::BTreeSet;

/// The ids to keep of `backups` (`(id, created_unix)`); all of them when
/// the retention keeps everything.
pub fn keep(backups: &[(String, i64)], rule: &Retention) -> BTreeSet<String> {
    let mut newest_first: Vec<&(String, i64)> = backups.iter().collect();
    newest_first.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    if rule.keeps_everything() {
        return newest_first.iter().map(|(id, _)| id.clone()).collect();
    }
    let mut kept: BTreeSet<String> = newest_first
        .iter()
        .take(rule.last as usize)
        .map(|(id, _)| id.clone())
        .collect();
    let buckets: [(u32, Bucket); 3] = [
        (rule.daily, |t| t.div_euclid(86_400)),
        (rule.weekly, iso_week),
        (rule.monthly, |t| {
            let (y, m, _) = civil_date(t.div_euclid(86_400));
            y * 12 + i64::from(m)
        }),
    ];
    for (count, bucket_of) in buckets {
        let mut seen = BTreeSet::new();
        for (id, t) in &newest_first {
            if seen.len() >= count as usize {
                break;
            }
            if seen.insert(bucket_of(*t)) {
                kept.insert(id.clone());
            }
        }
    }
    kept
}

/// The calendar unit a backup falls in (a day, a week, a month).
type Bucket = fn(i64) -> i64;

/// A number per ISO week (weeks start on Monday; 1970-01-01 was a Thursday).
fn iso_week(unix: i64) -> i64 {
    (unix.div_euclid(86_400) + 3).div_euclid(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    /// 2026-11-30 (a Monday) 03:00 UTC.
    const T0: i64 = 1_796_007_600;

    fn daily_for(days: i64) -> Vec<(String, i64)> {
        (0..days)
            .map(|d| {
                let t = T0 - d * DAY;
                (super::super::manifest::id_at(t), t)
            })
            .collect()
    }

    #[test]
    fn nothing_set_keeps_everything() {
        let all = daily_for(10);
        assert_eq!(keep(&all, &Retention::default()).len(), 10);
    }

    #[test]
    fn last_daily_weekly_monthly_as_restic() {
        // 90 nightly backups, plus a second one on the newest day.
        let mut all = daily_for(90);
        all.push(("20261130T150000Z".into(), T0 + 12 * 3600));
        let rule = Retention {
            last: 2,
            daily: 7,
            weekly: 4,
            monthly: 3,
        };
        let kept = keep(&all, &rule);
        // last 2: both of Nov 30; daily 7: Nov 30 (its newest) .. Nov 24;
        // weekly 4: newest of the weeks of Nov 30, 23, 16, 9 (Sundays
        // Nov 29, 22, 15 and Nov 30 itself); monthly 3: Nov 30, Oct 31, Sep 30.
        let want: BTreeSet<String> = [
            "20261130T150000Z",
            "20261130T030000Z",
            "20261129T030000Z",
            "20261128T030000Z",
            "20261127T030000Z",
            "20261126T030000Z",
            "20261125T030000Z",
            "20261124T030000Z",
            "20261122T030000Z",
            "20261115T030000Z",
            "20261031T030000Z",
            "20260930T030000Z",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(kept, want);
    }
}
