//! Trailing debounce for re-reading the file: wait for `QUIET` without a
//! new change, but never longer than `MAX_WAIT` after the first one, so a
//! burst of edits costs a couple of reloads and a long burst still makes
//! progress.

use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct ReloadDebounce {
    first: Option<Instant>,
    due: Option<Instant>,
}

impl ReloadDebounce {
    pub const QUIET: Duration = Duration::from_millis(200);
    pub const MAX_WAIT: Duration = Duration::from_secs(1);

    pub fn touch(&mut self, now: Instant) {
        let first = *self.first.get_or_insert(now);
        self.due = Some((now + Self::QUIET).min(first + Self::MAX_WAIT));
    }

    pub fn due_at(&self) -> Option<Instant> {
        self.due
    }

    pub fn take_due(&mut self, now: Instant) -> bool {
        if self.due.is_some_and(|d| d <= now) {
            *self = Self::default();
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_waits_for_quiet_but_not_forever() {
        let t0 = Instant::now();
        let mut d = ReloadDebounce::default();
        d.touch(t0);
        assert!(!d.take_due(t0 + Duration::from_millis(100)));
        // Edits every 40 ms keep pushing the reload out, up to MAX_WAIT.
        let mut t = t0;
        for _ in 0..20 {
            t += Duration::from_millis(40);
            d.touch(t);
        }
        assert_eq!(d.due_at(), Some(t0 + ReloadDebounce::MAX_WAIT));
        assert!(d.take_due(t0 + ReloadDebounce::MAX_WAIT));
        assert_eq!(d.due_at(), None);
    }
}
