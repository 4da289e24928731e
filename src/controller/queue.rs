//! The work queue: which tenants need a reconcile, and when. Pure (time is
//! passed in), so its rules are unit-tested:
//! - a tenant is never handed out twice at once; a request that arrives
//!   while it is in flight makes it run once more afterwards;
//! - at most `concurrency` tenants are in flight;
//! - a failed tenant waits with jittered exponential backoff (800 ms → 30 s,
//!   like kube-runtime) and hints (events, resyncs) do not cut that short;
//!   a spec change does;
//! - a tenant that needs changes again and again (a crash loop, or a spec
//!   Docker reports back differently every time) is held: after
//!   more than `CHURN_LIMIT` changes within `CHURN_WINDOW` it waits `CHURN_HOLD`
//!   between reconciles (hints do not cut that short; a spec change does).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

pub use crate::backoff::backoff;
#[cfg(test)]
use crate::backoff::{BACKOFF_BASE, BACKOFF_MAX};
/// More change-making reconciles than this within `CHURN_WINDOW` is a loop.
pub const CHURN_LIMIT: usize = 3;
pub const CHURN_WINDOW: Duration = Duration::from_secs(60);
/// How long a churning tenant waits between reconciles. Exponential backoff
/// alone still recreated a flapping tenant 16 times in 2 minutes.
pub const CHURN_HOLD: Duration = Duration::from_secs(300);

/// How a reconcile ended, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing needed changing.
    InSync,
    /// Something was changed and it worked.
    Changed,
    /// A Docker error that may pass: retried with backoff.
    Failed,
    /// Blocked by an object tenantctl does not own (a conflict): retrying
    /// cannot help until something changes, so it waits for the next event,
    /// pass or spec change instead of churning on a timer.
    Blocked,
    /// Only tenantctl's own half-done work was recovered (a replacement
    /// cut short by a crash): a change, but no sign of a crash loop.
    Recovered,
    /// Its change recreates the container: left to the fleet's rollout
    /// (see `crate::rollout`), so it waits like a blocked tenant.
    Deferred,
    /// Its container went away while it acted (see
    /// `DockerError::is_vanished_container`): not a failure, so no
    /// backoff — it waits for the event that ends the removal (`destroy`),
    /// or the next pass, and is reconciled then at once. A container
    /// removed by hand is back in about the time `docker run` takes.
    Stale,
    /// Another holder of the tenant (this controller's rollout, or a
    /// backup, restore or apply in another process) is working on it:
    /// not a failure, so retried after `HELD_RETRY`, doubling up to
    /// `HELD_RETRY_MAX` while the hold lasts. As a failure, every event of a
    /// slow rollout doubled the wait up to 30 s, during which a container
    /// stopped by hand stayed down (the likely cause of a CI failure of the
    /// GitOps test: not restarted within 20 s after a rollout).
    Held,
}

/// How soon a tenant another holder is working on is tried again first.
pub const HELD_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between tries while a hold lasts: a long backup of a
/// stopped tenant is not polled every second, and the tenant is back at
/// most this long after the hold ends.
pub const HELD_RETRY_MAX: Duration = Duration::from_secs(5);

/// Drops the saved churn of tenants whose spec changed since it was saved
/// (an operator's edit is never held) or that left the file; returns the
/// tenants whose hold was lifted so. A record without a spec (written
/// before it was kept) stays.
pub fn keep_unedited<'a>(
    saved: &mut BTreeMap<String, Churn>,
    unix: f64,
    spec_of: impl Fn(&str) -> Option<&'a str>,
) -> Vec<String> {
    let mut lifted = Vec::new();
    saved.retain(|tenant, churn| {
        let kept = match (churn.spec.as_deref(), spec_of(tenant)) {
            (_, None) => false,
            (Some(then), Some(now)) => then == now,
            (None, Some(_)) => true,
        };
        if !kept && churn.held_until.is_some_and(|u| u > unix) {
            lifted.push(tenant.clone());
        }
        kept
    });
    lifted
}

/// A tenant's churn in wall-clock seconds (an `Instant` does not survive
/// a restart): kept on disk so that restarting the controller does not
/// reset a crash loop's hold.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Churn {
    /// When its recent change-making reconciles ended (unix seconds).
    pub changes: Vec<f64>,
    /// Held (no reconcile on hints) until then, when held.
    pub held_until: Option<f64>,
    /// The tenant's spec hash when this was saved: an edit made while the
    /// controller was down lifts the hold, as an edit does while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
}

#[derive(Debug, Default)]
struct Retry {
    attempts: u32,
    /// Tries in a row that found the tenant held (`Outcome::Held`).
    held_tries: u32,
    not_before: Option<Instant>,
    changes: VecDeque<Instant>,
}

#[derive(Debug)]
pub struct WorkQueue {
    concurrency: usize,
    pending: BTreeSet<String>,
    in_flight: BTreeSet<String>,
    again: BTreeSet<String>,
    /// Spec changed while in flight: no backoff or hold after this run.
    urgent: BTreeSet<String>,
    /// Spec changed, not started yet: before any hint. At 1,000 tenants a
    /// pass or a burst of events can queue hundreds of hints, and the
    /// pending set is walked in name order: an operator's edit waited its
    /// turn behind them.
    first: BTreeSet<String>,
    retries: BTreeMap<String, Retry>,
}

impl WorkQueue {
    pub fn new(concurrency: usize) -> Self {
        Self {
            concurrency: concurrency.max(1),
            pending: BTreeSet::new(),
            in_flight: BTreeSet::new(),
            again: BTreeSet::new(),
            urgent: BTreeSet::new(),
            first: BTreeSet::new(),
            retries: BTreeMap::new(),
        }
    }

    /// A hint that `key` may need work (event, resync). Respects backoff.
    pub fn enqueue(&mut self, key: &str) {
        if self.in_flight.contains(key) {
            self.again.insert(key.to_string());
        } else {
            self.pending.insert(key.to_string());
        }
    }

    /// A fleet pass saw `key` out of sync. A tenant being reconciled right
    /// now is left alone: its worker observes afresh, and the pass may have
    /// looked before that worker acted (queuing it again would only repeat
    /// the work — at cold start, once per tenant).
    pub fn hint(&mut self, key: &str) {
        if !self.in_flight.contains(key) {
            self.pending.insert(key.to_string());
        }
    }

    /// The spec of `key` changed: whatever failed before may now work, so
    /// its backoff (or churn hold) is forgotten — also when the change
    /// arrives while it is in flight: an operator's edit is never slowed
    /// down by the churn limiter.
    pub fn enqueue_now(&mut self, key: &str) {
        if let Some(r) = self.retries.get_mut(key) {
            r.attempts = 0;
            r.not_before = None;
            r.changes.clear();
        }
        if self.in_flight.contains(key) {
            self.urgent.insert(key.to_string());
        }
        self.first.insert(key.to_string());
        self.enqueue(key);
    }

    /// Forget a tenant that left the desired state.
    pub fn forget(&mut self, key: &str) {
        self.pending.remove(key);
        self.again.remove(key);
        self.urgent.remove(key);
        self.first.remove(key);
        self.retries.remove(key);
    }

    /// The next tenant to reconcile now, if any is due and a slot is free.
    pub fn pop_ready(&mut self, now: Instant) -> Option<String> {
        if self.in_flight.len() >= self.concurrency {
            return None;
        }
        let key = self
            .first
            .iter()
            .find(|k| self.pending.contains(*k) && self.due(k, now))
            .or_else(|| self.pending.iter().find(|k| self.due(k, now)))
            .cloned()?;
        self.first.remove(&key);
        self.pending.remove(&key);
        self.in_flight.insert(key.clone());
        Some(key)
    }

    fn due(&self, key: &str, now: Instant) -> bool {
        self.retries
            .get(key)
            .and_then(|r| r.not_before)
            .is_none_or(|t| t <= now)
    }

    /// Records the end of a reconcile started by `pop_ready`.
    pub fn done(&mut self, key: &str, outcome: Outcome, now: Instant) {
        self.in_flight.remove(key);
        let retry = self.retries.entry(key.to_string()).or_default();
        if outcome != Outcome::Held {
            retry.held_tries = 0;
        }
        match outcome {
            Outcome::Failed => {
                retry.attempts += 1;
                retry.not_before = Some(now + backoff(key, retry.attempts));
                // Retry on its own once the backoff has passed.
                self.pending.insert(key.to_string());
            }
            Outcome::Held => {
                let wait = HELD_RETRY * 2u32.pow(retry.held_tries.min(3));
                retry.held_tries += 1;
                retry.not_before = Some(now + wait.min(HELD_RETRY_MAX));
                self.pending.insert(key.to_string());
            }
            Outcome::Changed => {
                retry.changes.push_back(now);
                while retry
                    .changes
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > CHURN_WINDOW)
                {
                    retry.changes.pop_front();
                }
                if retry.changes.len() > CHURN_LIMIT {
                    retry.attempts += 1;
                    retry.not_before = Some(now + CHURN_HOLD);
                } else {
                    retry.attempts = 0;
                    retry.not_before = None;
                }
            }
            Outcome::InSync
            | Outcome::Blocked
            | Outcome::Deferred
            | Outcome::Recovered
            | Outcome::Stale => {
                retry.attempts = 0;
                retry.not_before = None;
            }
        }
        if self.urgent.remove(key) {
            if let Some(r) = self.retries.get_mut(key) {
                r.attempts = 0;
                r.not_before = None;
            }
        }
        if self.again.remove(key) {
            self.pending.insert(key.to_string());
        }
    }

    /// The churn of every tenant that has some, for saving; `now` and
    /// `unix` are one moment on both clocks.
    pub fn churn(&self, now: Instant, unix: f64) -> BTreeMap<String, Churn> {
        let at = |t: Instant| unix - now.saturating_duration_since(t).as_secs_f64();
        self.retries
            .iter()
            .filter(|(_, r)| !r.changes.is_empty())
            .map(|(k, r)| {
                let held = r.changes.len() > CHURN_LIMIT;
                let held_until = r
                    .not_before
                    .filter(|t| held && *t > now)
                    .map(|t| unix + t.duration_since(now).as_secs_f64());
                let changes = r.changes.iter().map(|t| at(*t)).collect();
                (
                    k.clone(),
                    Churn {
                        changes,
                        held_until,
                        spec: None,
                    },
                )
            })
            .collect()
    }

    /// Takes back churn saved by an earlier controller (see [`Churn`]).
    /// Changes older than the window are dropped; a hold still running
    /// holds again.
    pub fn restore_churn(&mut self, saved: &BTreeMap<String, Churn>, now: Instant, unix: f64) {
        for (key, churn) in saved {
            let retry = self.retries.entry(key.clone()).or_default();
            retry.changes = churn
                .changes
                .iter()
                .filter(|t| **t <= unix && unix - **t <= CHURN_WINDOW.as_secs_f64())
                .filter_map(|t| now.checked_sub(Duration::from_secs_f64(unix - t)))
                .collect();
            if let Some(until) = churn.held_until.filter(|u| *u > unix) {
                let left = Duration::from_secs_f64((until - unix).min(CHURN_HOLD.as_secs_f64()));
                retry.attempts = retry.attempts.max(1);
                retry.not_before = Some(now + left);
                // Held means "more than the limit": keep it so after a
                // window with fewer recorded changes.
                while retry.changes.len() <= CHURN_LIMIT {
                    retry.changes.push_back(now);
                }
            }
        }
    }

    /// A holder this controller knows of (its rollout) let go: the
    /// tenants found held are due now, not at the end of `HELD_RETRY`
    /// (a container removed by hand during a rollout's gate was put back
    /// ~0.6 s later than it could be). One still held elsewhere is just
    /// found held again.
    pub fn release_held(&mut self) {
        for r in self.retries.values_mut().filter(|r| r.held_tries > 0) {
            r.not_before = None;
        }
    }

    /// Whether `key` is being slowed down by repeated changes or failures.
    pub fn is_backing_off(&self, key: &str, now: Instant) -> bool {
        !self.due(key, now)
    }

    /// When the earliest delayed tenant becomes due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending
            .iter()
            .filter_map(|k| self.retries.get(k).and_then(|r| r.not_before))
            .min()
    }

    pub fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovering_its_own_half_done_work_never_counts_as_churn() {
        let now = Instant::now();
        let mut q = WorkQueue::new(4);
        for _ in 0..10 {
            q.enqueue("a");
            assert_eq!(q.pop_ready(now).as_deref(), Some("a"));
            q.done("a", Outcome::Recovered, now);
        }
        assert!(!q.is_backing_off("a", now));
        assert!(q.churn(now, 0.0).is_empty());
    }

    #[test]
    fn a_crash_loop_hold_survives_a_restart_through_its_saved_churn() {
        let now = Instant::now();
        let mut q = WorkQueue::new(4);
        for _ in 0..=CHURN_LIMIT {
            q.enqueue("a");
            assert_eq!(q.pop_ready(now).as_deref(), Some("a"));
            q.done("a", Outcome::Changed, now);
        }
        assert!(q.is_backing_off("a", now));
        let saved = q.churn(now, 1_000_000.0);
        assert!(saved["a"].held_until.is_some());
        let json = serde_json::to_string(&saved).unwrap();

        // A new controller, ten seconds later on both clocks.
        let later = now + Duration::from_secs(10);
        let mut fresh = WorkQueue::new(4);
        fresh.enqueue_now("a");
        let back: BTreeMap<String, Churn> = serde_json::from_str(&json).unwrap();
        fresh.restore_churn(&back, later, 1_000_010.0);
        assert!(fresh.is_backing_off("a", later));
        assert_eq!(fresh.pop_ready(later), None, "held, not handed out");
        assert_eq!(
            fresh.pop_ready(later + CHURN_HOLD).as_deref(),
            Some("a"),
            "until the hold has passed"
        );
        // An operator's edit still cuts it short.
        let mut edited = WorkQueue::new(4);
        edited.restore_churn(&back, later, 1_000_010.0);
        edited.enqueue_now("a");
        assert_eq!(edited.pop_ready(later).as_deref(), Some("a"));
    }

    #[test]
    fn a_tenant_is_never_handed_out_twice_at_once() {
        let now = Instant::now();
        let mut q = WorkQueue::new(4);
        q.enqueue("a");
        assert_eq!(q.pop_ready(now).as_deref(), Some("a"));
        q.enqueue("a");
        assert_eq!(q.pop_ready(now), None, "in flight: not again");
        q.done("a", Outcome::InSync, now);
        assert_eq!(
            q.pop_ready(now).as_deref(),
            Some("a"),
            "the request during the run is kept"
        );
        q.done("a", Outcome::InSync, now);
        assert!(q.is_idle());
    }

    #[test]
    fn a_pass_hint_for_a_tenant_in_flight_is_dropped() {
        let now = Instant::now();
        let mut q = WorkQueue::new(4);
        q.enqueue("a");
        q.pop_ready(now);
        q.hint("a");
        q.done("a", Outcome::Changed, now);
        assert!(q.is_idle(), "the worker observed afresh; no second run");
        q.hint("a");
        assert_eq!(q.pop_ready(now).as_deref(), Some("a"));
    }

    #[test]
    fn a_changed_spec_goes_before_a_backlog_of_hints() {
        let now = Instant::now();
        let mut q = WorkQueue::new(1);
        for k in ["a", "b", "c"] {
            q.hint(k);
        }
        q.enqueue_now("z");
        assert_eq!(q.pop_ready(now).as_deref(), Some("z"));
        // Changed while in flight: it goes first again once done.
        q.enqueue_now("z");
        q.done("z", Outcome::Changed, now);
        assert_eq!(q.pop_ready(now).as_deref(), Some("z"));
        q.done("z", Outcome::InSync, now);
        assert_eq!(q.pop_ready(now).as_deref(), Some("a"));
    }

    #[test]
    fn duplicate_requests_coalesce() {
        let now = Instant::now();
        let mut q = WorkQueue::new(4);
        for _ in 0..50 {
            q.enqueue("a");
        }
        assert!(q.pop_ready(now).is_some());
        assert!(q.pop_ready(now).is_none());
    }

    #[test]
    fn concurrency_is_bounded() {
        let now = Instant::now();
        let mut q = WorkQueue::new(2);
        for k in ["a", "b", "c"] {
            q.enqueue(k);
        }
        assert!(q.pop_ready(now).is_some());
        assert!(q.pop_ready(now).is_some());
        assert!(q.pop_ready(now).is_none());
        q.done("a", Outcome::InSync, now);
        assert_eq!(q.pop_ready(now).as_deref(), Some("c"));
    }

    #[test]
    fn failures_back_off_without_blocking_others() {
        let now = Instant::now();
        let mut q = WorkQueue::new(4);
        q.enqueue("bad");
        q.enqueue("good");
        let first = q.pop_ready(now).unwrap();
        let second = q.pop_ready(now).unwrap();
        assert_eq!((first.as_str(), second.as_str()), ("bad", "good"));
        q.done("bad", Outcome::Failed, now);
        q.enqueue("bad"); // an event hint does not cut the backoff short
        assert!(q.pop_ready(now).is_none());
        q.done("good", Outcome::InSync, now);
        q.enqueue("good");
        assert_eq!(q.pop_ready(now).as_deref(), Some("good"));
        let deadline = q.next_deadline().unwrap();
        assert!(deadline > now && deadline <= now + Duration::from_secs(1));
        assert_eq!(q.pop_ready(deadline).as_deref(), Some("bad"));
    }

    #[test]
    fn a_spec_change_cuts_the_backoff_short() {
        let now = Instant::now();
        let mut q = WorkQueue::new(4);
        q.enqueue("a");
        q.pop_ready(now);
        q.done("a", Outcome::Failed, now);
        assert!(q.pop_ready(now).is_none());
        q.enqueue_now("a");
        assert_eq!(q.pop_ready(now).as_deref(), Some("a"));
    }

    #[test]
    fn a_tenant_held_by_another_holder_is_retried_soon_however_often() {
        let mut now = Instant::now();
        let mut q = WorkQueue::new(4);
        q.enqueue("a");
        // A long hold: every try finds the tenant held. The wait starts
        // at `HELD_RETRY`, doubles, and never passes `HELD_RETRY_MAX`.
        let mut waits = vec![];
        for _ in 0..8 {
            assert_eq!(q.pop_ready(now).as_deref(), Some("a"));
            q.done("a", Outcome::Held, now);
            q.enqueue("a");
            assert!(q.pop_ready(now).is_none(), "not at once");
            let due = q.next_deadline().unwrap();
            waits.push(due - now);
            now = due;
        }
        assert_eq!(waits[..3], [HELD_RETRY, HELD_RETRY * 2, HELD_RETRY * 4]);
        assert!(waits[3..].iter().all(|w| *w == HELD_RETRY_MAX));
        // The holder is gone: the next try runs, and one in sync clears it.
        assert_eq!(q.pop_ready(now).as_deref(), Some("a"));
        q.done("a", Outcome::InSync, now);
        assert!(!q.is_backing_off("a", now));
        assert!(q.churn(now, 0.0).is_empty(), "never churn");
        // A new hold starts again at `HELD_RETRY`.
        q.enqueue("a");
        assert_eq!(q.pop_ready(now).as_deref(), Some("a"));
        q.done("a", Outcome::Held, now);
        assert_eq!(q.next_deadline(), Some(now + HELD_RETRY));
    }

    #[test]
    fn tenants_found_held_are_due_at_once_when_released() {
        let now = Instant::now();
        let mut q = WorkQueue::new(4);
        for key in ["held", "failed"] {
            q.enqueue(key);
            assert_eq!(q.pop_ready(now).as_deref(), Some(key));
        }
        q.done("held", Outcome::Held, now);
        q.done("failed", Outcome::Failed, now);
        q.release_held();
        assert_eq!(q.pop_ready(now).as_deref(), Some("held"));
        assert_eq!(q.pop_ready(now), None, "a failure keeps its backoff");
    }

    #[test]
    fn backoff_grows_jittered_and_capped() {
        let b1 = backoff("a", 1);
        let b2 = backoff("a", 2);
        assert!(b1 >= BACKOFF_BASE && b1 <= BACKOFF_BASE.mul_f64(1.25));
        assert!(b2 >= BACKOFF_BASE * 2);
        assert_eq!(backoff("a", 30), BACKOFF_MAX);
        assert_ne!(backoff("a", 3), backoff("b", 3), "jitter differs per key");
    }

    #[test]
    fn a_tenant_that_keeps_needing_changes_is_slowed_down() {
        let mut now = Instant::now();
        let mut q = WorkQueue::new(4);
        for _ in 0..=CHURN_LIMIT {
            now += Duration::from_secs(1);
            q.enqueue("loop");
            assert_eq!(q.pop_ready(now).as_deref(), Some("loop"));
            q.done("loop", Outcome::Changed, now);
        }
        q.enqueue("loop");
        assert!(q.is_backing_off("loop", now));
        assert!(q.pop_ready(now).is_none());
    }

    #[test]
    fn a_tenant_that_changes_on_every_pass_is_held_after_the_churn_limit() {
        let start = Instant::now();
        let mut q = WorkQueue::new(4);
        let mut handed_out = 0;
        let mut now = start;
        // Two minutes of hints every second, each reconcile changing things.
        while now < start + Duration::from_secs(120) {
            q.enqueue("flappy");
            if q.pop_ready(now).is_some() {
                handed_out += 1;
                q.done("flappy", Outcome::Changed, now);
            }
            now += Duration::from_secs(1);
        }
        assert_eq!(handed_out, CHURN_LIMIT + 1, "held once over the limit");
        assert!(q.is_backing_off("flappy", now));
        q.enqueue_now("flappy");
        assert_eq!(
            q.pop_ready(now).as_deref(),
            Some("flappy"),
            "a spec change lifts the hold"
        );
    }

    #[test]
    fn a_spec_change_during_a_churning_run_is_not_held() {
        let mut now = Instant::now();
        let mut q = WorkQueue::new(4);
        for _ in 0..CHURN_LIMIT {
            now += Duration::from_secs(1);
            q.enqueue("a");
            q.pop_ready(now);
            q.done("a", Outcome::Changed, now);
        }
        q.enqueue("a");
        assert_eq!(q.pop_ready(now).as_deref(), Some("a"));
        q.enqueue_now("a"); // the operator edits it while it runs
        q.done("a", Outcome::Changed, now); // over the churn limit
        assert_eq!(
            q.pop_ready(now).as_deref(),
            Some("a"),
            "the edit runs at once, not after CHURN_HOLD"
        );
    }

    #[test]
    fn a_blocked_tenant_waits_for_a_hint_instead_of_retrying_on_a_timer() {
        let now = Instant::now();
        let mut q = WorkQueue::new(4);
        q.enqueue("blocked");
        assert_eq!(q.pop_ready(now).as_deref(), Some("blocked"));
        q.done("blocked", Outcome::Blocked, now);
        assert_eq!(q.pop_ready(now + BACKOFF_MAX), None, "no timer retry");
        assert_eq!(q.next_deadline(), None);
        q.hint("blocked");
        assert_eq!(
            q.pop_ready(now).as_deref(),
            Some("blocked"),
            "a pass or event retries it at once"
        );
    }

    #[test]
    fn an_edit_made_while_the_controller_was_down_lifts_a_saved_hold() {
        let held = |spec: Option<&str>| Churn {
            changes: vec![1.0, 2.0, 3.0, 4.0],
            held_until: Some(1_000.0),
            spec: spec.map(str::to_string),
        };
        let mut saved = BTreeMap::from([
            ("same".to_string(), held(Some("h1"))),
            ("edited".to_string(), held(Some("h1"))),
            ("gone".to_string(), held(Some("h1"))),
            ("old-format".to_string(), held(None)),
        ]);
        let lifted = keep_unedited(&mut saved, 10.0, |t| match t {
            "same" | "old-format" => Some("h1"),
            "edited" => Some("h2"),
            _ => None,
        });
        assert_eq!(lifted, vec!["edited".to_string(), "gone".to_string()]);
        assert_eq!(saved.keys().collect::<Vec<_>>(), vec!["old-format", "same"]);
    }
}
