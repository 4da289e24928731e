//! Is the Docker event stream still telling us things? A stream can stay
//! open and send nothing (a proxy that froze it, a daemon that lost the
//! subscriber); silence alone proves nothing, since a quiet fleet is
//! silent too. The resync pass is the witness: a container of ours that
//! stopped or vanished between two passes without one event about its
//! tenant is a suspect; if the next pass still saw no event for it (events
//! arrive within milliseconds), the stream missed a change and is reopened.
//! Pure: the views and events come in, a yes/no goes out.

use crate::observe::HostView;
use std::collections::BTreeSet;

#[derive(Debug, Default)]
pub struct EventWatchdog {
    /// Tenants an event named since the last pass.
    heard: BTreeSet<String>,
    /// Tenants whose change the last pass found unannounced.
    suspects: BTreeSet<String>,
    /// Tenants a reconcile looked at since the last pass: the view has
    /// them as that look saw them, which may be newer than the next
    /// pass's listing, so a difference proves nothing about the stream.
    looked: BTreeSet<String>,
}

impl EventWatchdog {
    pub fn on_event(&mut self, tenant: &str) {
        self.heard.insert(tenant.to_string());
        self.suspects.remove(tenant);
    }

    /// A reconcile looked at `tenant`'s objects (unlike an event, this
    /// does not clear a suspicion: a pass's own hint causes that look).
    pub fn on_look(&mut self, tenant: &str) {
        self.looked.insert(tenant.to_string());
    }

    /// A pass replaced `old` with `new`. `true` when the stream missed a
    /// change (a suspect of the last pass was never announced).
    pub fn on_pass(&mut self, old: Option<&HostView>, new: &HostView) -> bool {
        let frozen = !self.suspects.is_empty();
        self.suspects.clear();
        if let Some(old) = old {
            for (name, before) in &old.containers {
                let Some(tenant) = before.tenant_label() else {
                    continue;
                };
                let stopped = before.is_running()
                    && new.containers.get(name).is_none_or(|now| !now.is_running());
                if stopped && !self.heard.contains(tenant) && !self.looked.contains(tenant) {
                    self.suspects.insert(tenant.to_string());
                }
            }
        }
        self.heard.clear();
        self.looked.clear();
        frozen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(running: &[(&str, bool)]) -> HostView {
        let mut v = HostView::default();
        for (tenant, up) in running {
            let mut c = crate::desired::DesiredTenant::test(tenant, 8001).matching_container();
            if !up {
                c = c.with_state(crate::kinds::ContainerState::Exited);
            }
            v.containers.insert(c.name.clone(), c);
        }
        v
    }

    #[test]
    fn an_announced_stop_is_not_suspect() {
        let mut w = EventWatchdog::default();
        w.on_event("acme");
        assert!(!w.on_pass(Some(&view(&[("acme", true)])), &view(&[("acme", false)])));
        assert!(!w.on_pass(Some(&view(&[("acme", false)])), &view(&[("acme", false)])));
    }

    #[test]
    fn an_unannounced_stop_reopens_the_stream_one_pass_later() {
        let mut w = EventWatchdog::default();
        // Found by a pass with no event: a suspect (its event may be late).
        assert!(!w.on_pass(Some(&view(&[("acme", true)])), &view(&[("acme", false)])));
        // Still no event by the next pass: the stream is frozen.
        assert!(w.on_pass(Some(&view(&[("acme", false)])), &view(&[("acme", true)])));
        // Reopened: nothing pending.
        assert!(!w.on_pass(Some(&view(&[("acme", true)])), &view(&[("acme", true)])));
    }

    #[test]
    fn a_look_after_the_listing_is_not_suspect_but_clears_no_suspicion() {
        let mut w = EventWatchdog::default();
        // A reconcile's look (newer than the listing) had it running.
        w.on_look("acme");
        assert!(!w.on_pass(Some(&view(&[("acme", true)])), &view(&[("acme", false)])));
        // Found stopped with no event; the pass's hint makes a reconcile look.
        assert!(!w.on_pass(Some(&view(&[("acme", true)])), &view(&[("acme", false)])));
        w.on_look("acme");
        assert!(w.on_pass(Some(&view(&[("acme", true)])), &view(&[("acme", true)])));
    }

    #[test]
    fn a_late_event_clears_the_suspect() {
        let mut w = EventWatchdog::default();
        assert!(!w.on_pass(None, &view(&[("acme", true)])));
        assert!(!w.on_pass(Some(&view(&[("acme", true)])), &HostView::default()));
        w.on_event("acme");
        assert!(!w.on_pass(Some(&HostView::default()), &view(&[("acme", true)])));
    }
}
