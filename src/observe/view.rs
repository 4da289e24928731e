//! A cached view of the host (kube-runtime's reflector, kept small): what a
//! tenant's reconcile needs to know about objects that are *not* its own —
//! which containers hold a name or publish a port, and the fleet's network.
//! Filled by every fleet pass (complete lists) and replaced whole by the
//! next one (also after the event stream reconnects: it asks for a pass),
//! updated in between from Docker events and from each reconcile's fresh
//! look at its own objects.
//!
//! A reconcile reads this view and confirms its own objects with targeted
//! calls (a label-filtered list, its volumes by name, its image, an inspect
//! of its container), so its cost does not grow with the fleet. What it
//! takes from the view can only *block* (a conflict) or *create* (the
//! network, confirmed by a fresh list before creating): removals and
//! recreates are always decided on a fresh look at the object itself, so a
//! stale view never causes a destructive action.

use super::{Labels, ObservedContainer, ObservedState};
use crate::kinds::ContainerState;
use crate::trigger::{ContainerEvent, EventAction};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostView {
    /// Every container on the host by name, as listed (no inspect details).
    pub containers: BTreeMap<String, ObservedContainer>,
    pub networks: BTreeMap<String, Labels>,
    pub duplicate_networks: BTreeSet<String>,
    pub shared_networks: BTreeSet<String>,
    /// Every volume by name (for a pass read from the view).
    pub volumes: BTreeMap<String, crate::labels::OwnerLabels>,
}

impl HostView {
    /// The view a pass's complete lists give (moved out of what the pass
    /// observed: a copy at 1,000 containers was the largest allocation of
    /// a listing pass after the lists themselves).
    pub fn from_pass(observed: ObservedState) -> Self {
        Self {
            containers: observed
                .containers
                .into_iter()
                .map(|(name, mut listed)| {
                    listed.details = None;
                    (name, listed)
                })
                .collect(),
            networks: observed.networks,
            duplicate_networks: observed.duplicate_networks,
            shared_networks: observed.shared_networks,
            volumes: observed.volumes,
        }
    }

    /// The host as the view has it, for a pass that does not list
    /// (`Detail::Cached`): containers as listed, no images (the pass
    /// inspects those).
    /// Moved, not copied: at 1,000 containers and 2,000 volumes a copy is
    /// thousands of allocations, and the pass owns its view already.
    pub fn into_observed(self) -> ObservedState {
        ObservedState {
            containers: self.containers,
            networks: self.networks,
            duplicate_networks: self.duplicate_networks,
            shared_networks: self.shared_networks,
            volumes: self.volumes,
            ..ObservedState::default()
        }
    }

    /// A Docker event about one of our containers.
    pub fn on_event(&mut self, event: &ContainerEvent) {
        let Some(c) = self.containers.get_mut(&event.container) else {
            return;
        };
        match event.action {
            EventAction::Destroy | EventAction::Rename => {
                // Renamed: its new name is unknown here; the reconcile the
                // event triggers (or the next pass) finds it.
                self.containers.remove(&event.container);
            }
            EventAction::Die | EventAction::Stop | EventAction::Oom => {
                c.state = ContainerState::Exited;
                c.published_ports.clear();
            }
            EventAction::Pause => c.state = ContainerState::Paused,
            EventAction::Unpause => c.state = ContainerState::Running,
            EventAction::Update | EventAction::Other => {}
        }
    }

    /// A reconcile's fresh look at `tenant`'s own containers (`fresh`
    /// holds them, and whatever held its name or port) replaces what the
    /// view had for them.
    pub fn merge(&mut self, tenant: &str, fresh: &ObservedState) {
        self.containers.retain(|name, c| {
            c.tenant_label() != Some(tenant) || fresh.containers.contains_key(name)
        });
        for (name, c) in &fresh.containers {
            let mut listed = c.clone();
            listed.details = None;
            self.containers.insert(name.clone(), listed);
        }
        for (name, labels) in &fresh.networks {
            self.networks.insert(name.clone(), labels.clone());
        }
        for (name, labels) in &fresh.volumes {
            self.volumes.insert(name.clone(), labels.clone());
        }
    }

    /// The part of the view one tenant's reconcile reads: its own
    /// containers as last seen, what holds its name or port, and the
    /// fleet's network. A reconcile gets
    /// this slice rather than the whole view, so the controller's own copy
    /// is never shared while reconciles run and updating it never copies
    /// the whole view (at 1,000 tenants that was a copy of 1,000 entries
    /// per finished reconcile: quadratic work and heap churn in a cold start).
    pub fn slice(&self, tenant: &crate::desired::DesiredTenant, network: &str) -> HostView {
        let temporary = tenant.temporary_names();
        let keep = |set: &BTreeSet<String>| {
            set.iter()
                .filter(|n| *n == network)
                .cloned()
                .collect::<BTreeSet<_>>()
        };
        HostView {
            containers: self
                .containers
                .values()
                .filter(|c| {
                    c.name == tenant.container_name
                        || c.published_ports.contains(&tenant.port)
                        || c.tenant_label() == Some(tenant.name.as_str())
                        || temporary.contains(&c.name)
                })
                .map(|c| (c.name.clone(), c.clone()))
                .collect(),
            networks: self
                .networks
                .get_key_value(network)
                .map(|(k, v)| (k.clone(), v.clone()))
                .into_iter()
                .collect(),
            duplicate_networks: keep(&self.duplicate_networks),
            shared_networks: keep(&self.shared_networks),
            volumes: BTreeMap::new(),
        }
    }

    /// Containers that hold `name` or publish `port`, as the view has them.
    pub fn holding<'a>(
        &'a self,
        name: &'a str,
        port: u16,
    ) -> impl Iterator<Item = &'a ObservedContainer> + 'a {
        self.containers
            .values()
            .filter(move |c| c.name == name || c.published_ports.contains(&port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::DesiredTenant;
    use crate::fixtures::{converged, desired_state};

    fn event(container: &str, action: EventAction) -> ContainerEvent {
        ContainerEvent {
            tenant: "acme".into(),
            container: container.into(),
            action,
        }
    }

    #[test]
    fn a_pass_fills_it_and_events_update_it() {
        let desired = desired_state(vec![
            DesiredTenant::test("acme", 8001),
            DesiredTenant::test("globex", 8002),
        ]);
        let mut view = HostView::from_pass(converged(&desired));
        assert!(view.containers.values().all(|c| c.details.is_none()));
        assert_eq!(
            view.holding("mai-x", 8001).count(),
            1,
            "acme publishes 8001"
        );
        view.on_event(&event("mai-acme", EventAction::Die));
        assert_eq!(view.containers["mai-acme"].state, ContainerState::Exited);
        assert_eq!(
            view.holding("mai-x", 8001).count(),
            0,
            "no longer published"
        );
        view.on_event(&event("mai-acme", EventAction::Destroy));
        assert!(!view.containers.contains_key("mai-acme"));
        assert!(view.containers.contains_key("mai-globex"));
    }

    #[test]
    fn a_reconciles_fresh_look_replaces_its_own_entries_only() {
        let desired = desired_state(vec![
            DesiredTenant::test("acme", 8001),
            DesiredTenant::test("globex", 8002),
        ]);
        let mut view = HostView::from_pass(converged(&desired));
        // acme's container was removed by hand; the reconcile saw none.
        view.merge("acme", &ObservedState::default());
        assert!(!view.containers.contains_key("mai-acme"));
        assert!(view.containers.contains_key("mai-globex"));
        let only_acme = desired_state(vec![DesiredTenant::test("acme", 8001)]);
        view.merge("acme", &converged(&only_acme));
        assert!(view.containers.contains_key("mai-acme"));
    }
}
