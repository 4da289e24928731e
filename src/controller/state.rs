//! The controller's decisions, as a synchronous state machine: inputs come
//! in through `on_*` methods, time is passed in, and [`Machine::poll`]
//! returns the commands to run now. No Docker, no clock, no tasks here —
//! the async loop in `mod.rs` runs the commands and feeds their results
//! back — so every rule is unit-tested below.
//!
//! Rules:
//! - a new desired state queues exactly the tenants whose spec changed
//!   (their backoff and churn hold forgotten); one that left the file asks
//!   for a pass (which finds its container as an orphan);
//! - the first desired state asks for a list-only pass, which fills the
//!   cached host view (`HostView`); no tenant is reconciled before that, then
//!   every tenant is, on a fresh look at its own objects; each verify
//!   interval asks for a full pass (an inspect per container); the resync
//!   interval and a relist ask for a list-only pass; at most one pass runs
//!   at a time and requests coalesce; each pass replaces the view, events
//!   and reconciles update it in between;
//! - a reconcile that changed something asks for a pass read from the view
//!   (`Detail::Cached`: it refreshes nginx and the drift metrics without
//!   listing the host; it never prunes), once no tenant is waiting or
//!   in flight, or at most every `CHANGE_PASS_GAP` (or ten times as long as
//!   the last pass took, if more) while they are: a cold start of 1,000
//!   tenants then costs a few dozen passes, not 1,000;
//! - a pass queues the tenants it found out of sync (see `WorkQueue` for
//!   backoff, churn and the error policy) — except those whose change
//!   recreates their container: those go to one rollout at a time
//!   (`Command::Rollout`), which a pass starts when one is due; a
//!   reconcile that finds such a change leaves it and asks for a pass;
//! - an invalid desired state changes nothing.

use super::queue::{Churn, Outcome, WorkQueue};
use crate::desired::DesiredState;
use crate::diagnostic::Diagnostics;
use crate::observe::{Detail, HostView, ObservedState};
use crate::plan::Plan;
use crate::trigger::ContainerEvent;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Work the async loop is asked to start.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Observe the fleet, plan, run the fleet-level part (prune, proxy)
    /// and report which tenants are out of sync.
    Pass {
        desired: Arc<DesiredState>,
        detail: Detail,
        /// For `Detail::Cached`: a copy of the host view to read (a copy,
        /// so the machine's own is never shared with a running pass).
        view: Option<Arc<HostView>>,
        /// A rollout runs meanwhile: the pass leaves the proxy alone (a
        /// `start-first` update points nginx at its bridge, and the pass
        /// would point it back at a container being replaced) and the
        /// rollout record too.
        rolling: bool,
    },
    /// Observe one tenant afresh (reading the rest from `view`), plan and
    /// execute.
    Reconcile {
        desired: Arc<DesiredState>,
        tenant: String,
        view: Arc<HostView>,
    },
    /// Roll the tenants whose change recreates their container out, in
    /// order and gated (see `crate::rollout`).
    Rollout {
        desired: Arc<DesiredState>,
        tenants: Vec<String>,
    },
}

/// What a new desired state did, for logs and metrics.
#[derive(Debug, PartialEq)]
pub enum Loaded {
    /// Valid and equal to the state in force.
    Unchanged,
    Applied {
        desired: Arc<DesiredState>,
        /// Tenants queued because their spec is new or changed.
        changed: usize,
        /// Tenants that left the file.
        left: Vec<String>,
    },
    /// Invalid: the last good state stays in force. `repeated` when the
    /// same errors were reported last time (log them once).
    Refused { repeated: bool },
}

/// What the async loop learned from a pass.
#[derive(Debug, Default, PartialEq)]
pub struct PassSummary {
    /// Tenants with steps to run or conflicts.
    pub out_of_sync: Vec<String>,
    /// The network is missing or duplicated: one reconcile fixes it.
    pub network: bool,
    /// The host as the pass listed it: replaces the cached view (`None`
    /// for a pass read from the view).
    pub view: Option<HostView>,
    /// Tenants a rollout should update now (recreates are not queued).
    pub rollout: Vec<String>,
}

impl PassSummary {
    pub fn of(plan: &Plan, view: Option<HostView>, rollout: Vec<String>) -> Self {
        Self {
            view,
            rollout,
            out_of_sync: plan
                .tenants
                .iter()
                .filter(|t| t.has_work() && !crate::rollout::is_member(t))
                .map(|t| t.tenant.clone())
                .collect(),
            network: plan.create_network.is_some() || plan.repair_network.is_some(),
        }
    }
}

/// While reconciles are under way, passes asked for by changes run at most
/// this often — or, when passes are slow (listing 1,000 containers keeps
/// dockerd busy), at most `PASS_SHARE` of the time.
pub const CHANGE_PASS_GAP: Duration = Duration::from_secs(2);
const PASS_SHARE: u32 = 10;

#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    /// List-only pass.
    pub resync: Duration,
    /// Full pass (an inspect per container).
    pub verify: Duration,
}

#[derive(Debug)]
pub struct Machine {
    intervals: Intervals,
    desired: Option<Arc<DesiredState>>,
    revision: String,
    last_error: Option<Diagnostics>,
    queue: WorkQueue,
    pass_running: bool,
    pass_wanted: Option<Detail>,
    /// Reconciles' fresh looks since the running pass started: re-applied
    /// over its listing, which may be older.
    merged_during_pass: std::collections::BTreeMap<String, ObservedState>,
    /// The cached host view; no tenant is reconciled before the first
    /// pass filled it.
    view: Option<Arc<HostView>>,
    /// A change was made since the last pass started.
    pass_after_change: bool,
    last_pass: Option<Instant>,
    /// How long the last completed pass took.
    pass_took: Duration,
    next_resync: Instant,
    next_verify: Instant,
    /// A rollout runs (at most one at a time).
    rollout_running: bool,
    /// The tenants the last pass found due for a rollout.
    rollout_wanted: Option<Vec<String>>,
    /// Whether the Docker event stream still reports changes.
    watchdog: super::watchdog::EventWatchdog,
    /// The watchdog found the stream frozen: the event source reopens it.
    reopen_events: bool,
}

impl Machine {
    pub fn new(intervals: Intervals, concurrency: usize, now: Instant) -> Self {
        Self {
            intervals,
            desired: None,
            revision: String::new(),
            last_error: None,
            queue: WorkQueue::new(concurrency),
            pass_running: false,
            pass_wanted: None,
            merged_during_pass: Default::default(),
            view: None,
            pass_after_change: false,
            last_pass: None,
            pass_took: Duration::ZERO,
            next_resync: now + intervals.resync,
            next_verify: now + intervals.verify,
            rollout_running: false,
            rollout_wanted: None,
            watchdog: Default::default(),
            reopen_events: false,
        }
    }

    /// Whether the event stream must be reopened (once per finding).
    pub fn take_reopen_events(&mut self) -> bool {
        std::mem::take(&mut self.reopen_events)
    }

    pub fn desired(&self) -> Option<&Arc<DesiredState>> {
        self.desired.as_ref()
    }

    /// The revision in force ("" for a plain file).
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// A source loaded the desired state (the file, or a git revision).
    pub fn on_loaded(
        &mut self,
        revision: &str,
        result: Result<impl Into<Arc<DesiredState>>, Diagnostics>,
    ) -> Loaded {
        let new: Arc<DesiredState> = match result {
            Ok(new) => new.into(),
            Err(diags) => {
                let repeated = self.last_error.as_ref() == Some(&diags);
                self.last_error = Some(diags);
                return Loaded::Refused { repeated };
            }
        };
        self.last_error = None;
        self.revision = revision.to_string();
        if self.desired.as_deref() == Some(&*new) {
            return Loaded::Unchanged;
        }
        let old = self.desired.take();
        let mut changed = 0;
        for (name, tenant) in &new.tenants {
            if old.as_ref().and_then(|o| o.tenants.get(name)) != Some(tenant) {
                self.queue.enqueue_now(name);
                changed += 1;
            }
        }
        let left: Vec<String> = old
            .as_ref()
            .map(|o| {
                o.tenants
                    .keys()
                    .filter(|n| !new.tenants.contains_key(*n))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for name in &left {
            self.queue.forget(name);
        }
        if old.is_none() {
            // List-only: every tenant is reconciled on a fresh inspect of
            // its own container anyway; the pass fills the host view.
            self.want_pass(Detail::ListOnly);
        } else if !left.is_empty() {
            self.want_pass(Detail::ListOnly);
        }
        let desired = new;
        self.desired = Some(Arc::clone(&desired));
        Loaded::Applied {
            desired,
            changed,
            left,
        }
    }

    /// A Docker event about a tenant's container: a hint, and news for
    /// the host view.
    pub fn on_event(&mut self, event: &ContainerEvent) {
        self.watchdog.on_event(&event.tenant);
        if let Some(view) = &mut self.view {
            Arc::make_mut(view).on_event(event);
        }
        self.queue.enqueue(&event.tenant);
    }

    /// The event stream (re)connected: what happened meanwhile is unknown.
    pub fn on_relist(&mut self) {
        self.want_pass(Detail::ListOnly);
    }

    /// A pass finished; `None` when the host could not be read.
    pub fn on_pass(&mut self, summary: Option<PassSummary>, now: Instant) {
        self.pass_running = false;
        if let Some(started) = self.last_pass {
            self.pass_took = now.saturating_duration_since(started);
        }
        let merged = std::mem::take(&mut self.merged_during_pass);
        let Some(summary) = summary else { return };
        if let Some(mut listed) = summary.view {
            if self.watchdog.on_pass(self.view.as_deref(), &listed) {
                self.reopen_events = true;
            }
            for (tenant, fresh) in &merged {
                listed.merge(tenant, fresh);
            }
            self.view = Some(Arc::new(listed));
        }
        if !summary.rollout.is_empty() {
            self.rollout_wanted = Some(summary.rollout);
        }
        for tenant in &summary.out_of_sync {
            self.queue.hint(tenant);
        }
        if summary.network {
            if let Some(first) = self.desired.as_ref().and_then(|d| d.tenants.keys().next()) {
                let first = first.clone();
                self.queue.hint(&first);
            }
        }
    }

    /// A reconcile finished. Returns whether the tenant is now held back
    /// (it keeps needing changes, or keeps failing).
    /// `fresh`: its look at its own objects, for the host view.
    pub fn on_reconciled(
        &mut self,
        tenant: &str,
        outcome: Outcome,
        fresh: Option<&ObservedState>,
        now: Instant,
    ) -> bool {
        if let (Some(view), Some(fresh)) = (&mut self.view, fresh) {
            Arc::make_mut(view).merge(tenant, fresh);
            // A pass under way may have listed before this look: its
            // view must not undo it, nor its watchdog judge this tenant
            // by the older listing.
            self.watchdog.on_look(tenant);
            if self.pass_running {
                self.merged_during_pass
                    .insert(tenant.to_string(), fresh.clone());
            }
        }
        self.queue.done(tenant, outcome, now);
        if outcome == Outcome::Deferred && !self.rollout_running {
            // A pass decides whether (and with whom) a rollout starts.
            self.want_pass(Detail::Cached);
        }
        if matches!(outcome, Outcome::Changed | Outcome::Recovered) {
            // nginx and the drift metrics follow in the next pass.
            self.pass_after_change = true;
        }
        self.queue.is_backing_off(tenant, now)
    }

    /// Every tenant's churn, for saving (see `Churn`).
    pub fn churn(&self, now: Instant, unix: f64) -> std::collections::BTreeMap<String, Churn> {
        self.queue.churn(now, unix)
    }

    /// Churn saved by an earlier controller: its crash-loop holds hold
    /// again. Call after the first `on_loaded` (which queues everyone).
    pub fn restore_churn(
        &mut self,
        saved: &std::collections::BTreeMap<String, Churn>,
        now: Instant,
        unix: f64,
    ) {
        self.queue.restore_churn(saved, now, unix);
    }

    /// A rollout finished (done, halted or cut short): a pass refreshes
    /// nginx and the drift metrics, and finds what is left to roll out.
    /// Its tenants that reconciles found held by it are due at once.
    pub fn on_rollout_done(&mut self) {
        self.rollout_running = false;
        self.queue.release_held();
        self.rollout_wanted = None;
        self.want_pass(Detail::ListOnly);
    }

    /// The commands to start now: a due pass, a due rollout, then due
    /// tenants up to the concurrency bound.
    pub fn poll(&mut self, now: Instant) -> Vec<Command> {
        if now >= self.next_verify {
            self.next_verify = now + self.intervals.verify;
            self.next_resync = now + self.intervals.resync;
            self.want_pass(Detail::Full);
        } else if now >= self.next_resync {
            self.next_resync = now + self.intervals.resync;
            self.want_pass(Detail::ListOnly);
        }
        if self.pass_after_change && self.change_pass_due(now) {
            self.pass_after_change = false;
            // The view has every change reconciles made (each merges its
            // fresh look after acting): no need to list the host.
            self.want_pass(Detail::Cached);
        }
        let Some(desired) = self.desired.clone() else {
            return Vec::new();
        };
        let mut commands = Vec::new();
        if !self.pass_running {
            if let Some(detail) = self.pass_wanted.take() {
                self.pass_running = true;
                self.last_pass = Some(now);
                // This pass sees every change made so far.
                self.pass_after_change = false;
                let view = match (detail, &self.view) {
                    (Detail::Cached, Some(view)) => Some(Arc::new(HostView::clone(view))),
                    _ => None,
                };
                commands.push(Command::Pass {
                    desired: Arc::clone(&desired),
                    // Nothing cached yet: list.
                    detail: if view.is_none() && detail == Detail::Cached {
                        Detail::ListOnly
                    } else {
                        detail
                    },
                    view,
                    rolling: self.rollout_running,
                });
            }
        }
        if !self.rollout_running {
            if let Some(tenants) = self.rollout_wanted.take() {
                self.rollout_running = true;
                commands.push(Command::Rollout {
                    desired: Arc::clone(&desired),
                    tenants,
                });
            }
        }
        let Some(view) = self.view.clone() else {
            return commands;
        };
        while let Some(tenant) = self.queue.pop_ready(now) {
            if !desired.tenants.contains_key(&tenant) {
                self.queue.done(&tenant, Outcome::InSync, now);
                self.queue.forget(&tenant);
                continue;
            }
            let slice = view.slice(&desired.tenants[&tenant], &desired.network);
            commands.push(Command::Reconcile {
                desired: Arc::clone(&desired),
                tenant,
                view: Arc::new(slice),
            });
        }
        commands
    }

    /// When `poll` may next have something to start (besides inputs).
    pub fn next_wake(&self) -> Instant {
        let mut wake = self.next_resync.min(self.next_verify);
        if let Some(d) = self.queue.next_deadline() {
            wake = wake.min(d);
        }
        if let (true, Some(last)) = (self.pass_after_change, self.last_pass) {
            wake = wake.min(last + self.change_pass_gap());
        }
        wake
    }

    fn change_pass_gap(&self) -> Duration {
        CHANGE_PASS_GAP.max(self.pass_took * PASS_SHARE)
    }

    fn change_pass_due(&self, now: Instant) -> bool {
        self.queue.is_idle()
            || self
                .last_pass
                .is_none_or(|l| now >= l + self.change_pass_gap())
    }

    fn want_pass(&mut self, detail: Detail) {
        self.pass_wanted = Some(self.pass_wanted.map_or(detail, |wanted| wanted.max(detail)));
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
