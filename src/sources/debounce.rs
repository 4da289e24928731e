//! When to re-read the tenants file after it changed. The first change of a
//! burst is acted on at once (adding a tenant should not wait for quiet);
//! what follows is coalesced into one trailing re-read after `QUIET`
//! without a new change, but never later than `MAX_WAIT` after the first,
//! so a burst of edits costs a couple of reloads and a long burst still
//! makes progress.

use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Debounce {
    first: Option<Instant>,
    due: Option<Instant>,
    /// A burst's trailing read was just done: changes until this instant
    /// continue the burst (no new leading read).
    settle_until: Option<Instant>,
}

impl Debounce {
    pub const QUIET: Duration = Duration::from_millis(200);
    pub const MAX_WAIT: Duration = Duration::from_secs(1);

    /// Records a change. True when it starts a burst: re-read now.
    pub fn touch(&mut self, now: Instant) -> bool {
        let leading = self.first.is_none() && self.settle_until.is_none_or(|s| now >= s);
        let first = *self.first.get_or_insert(now);
        self.due = Some((now + Self::QUIET).min(first + Self::MAX_WAIT));
        leading
    }

    pub fn due_at(&self) -> Option<Instant> {
        self.due
    }

    /// Forgets a burst whose first read found nothing new.
    pub fn cancel(&mut self) {
        self.first = None;
        self.due = None;
    }

    /// Whether a burst is being coalesced (a trailing read is pending).
    pub fn pending(&self) -> bool {
        self.due.is_some()
    }

    /// True (once) when the trailing re-read is due.
    pub fn take_due(&mut self, now: Instant) -> bool {
        if self.due.is_some_and(|d| d <= now) {
            *self = Self {
                settle_until: Some(now + Self::QUIET),
                ..Self::default()
            };
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
    fn the_first_change_is_acted_on_at_once_and_the_rest_coalesce() {
        let t0 = Instant::now();
        let mut d = Debounce::default();
        assert!(d.touch(t0), "leading edge");
        assert!(!d.take_due(t0 + Duration::from_millis(100)));
        // Edits every 40 ms keep pushing the trailing read out, up to MAX_WAIT.
        let mut t = t0;
        for _ in 0..20 {
            t += Duration::from_millis(40);
            assert!(!d.touch(t), "inside the burst: coalesced");
        }
        assert_eq!(d.due_at(), Some(t0 + Debounce::MAX_WAIT));
        assert!(d.take_due(t0 + Debounce::MAX_WAIT));
        assert_eq!(d.due_at(), None);
        let mut fresh = Debounce::default();
        assert!(fresh.touch(t0));
        fresh.cancel();
        assert!(fresh.touch(t0), "a cancelled burst: the next change leads");
        let after = t0 + Debounce::MAX_WAIT;
        assert!(!d.touch(after), "right after a trailing read: same burst");
        assert!(d.take_due(after + Debounce::QUIET));
        assert!(
            d.touch(after + Debounce::QUIET * 2),
            "after a quiet spell: a new burst"
        );
    }
}
