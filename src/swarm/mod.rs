//! `backend = "swarm"`: each tenant is one single-replica Swarm service,
//! driven from a manager with the same file, plan, drift and metrics as
//! the docker backend. Swarm does the scheduling, the reservations and the
//! health-watched rolling update with rollback; tenantctl keeps the
//! services equal to the file, pins each to a node (its volumes are
//! there), and reports what Swarm cannot fix (a node down, a rollback).
//!
//! - `spec`: the service a tenant becomes (pure);
//! - `fields`: a spec as comparable fields, and their diff (pure);
//! - `view`, `observe`: what the cluster holds, in O(1) list calls;
//! - `plan`: per tenant create / update / nothing, drift (pure);
//! - `apply`: carry a plan out;
//! - `proxy`: nginx or Caddy in front, upstreams on the nodes' addresses;
//! - `run`: the controller loop for `tenantctl run`.

pub mod apply;
pub mod fields;
pub mod observe;
pub mod plan;
pub mod proxy;
pub mod run;
pub mod spec;
pub mod view;

pub use apply::{apply_swarm, SwarmReport};
pub use observe::observe_swarm;
pub use plan::{plan_swarm, Action, ServicePlan, SwarmPlan};
pub use view::SwarmView;

#[cfg(test)]
mod tests;
