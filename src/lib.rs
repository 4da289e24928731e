//! tenantctl keeps a fleet of single-tenant app containers on one Docker
//! host equal to one declarative file (`tenants.toml`).
//!
//! Data flows one way: `spec` (raw file) → `desired` (pure, validated) and
//! `observe` (Docker → our types) → `plan` (pure diff) → `apply` (the only
//! code that mutates). See DESIGN.md for the contracts.

pub mod acme;
pub mod apply;
pub mod atomic_file;
pub mod backoff;
pub mod backup;
pub mod capacity;
pub mod certfile;
pub mod certified;
pub mod clock;
pub mod controller;
pub mod desired;
pub mod diagnostic;
pub mod docker;
pub mod drift;
pub mod execute;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod hold;
pub mod http1;
pub mod import;
pub mod kinds;
pub mod labels;
pub mod lifecycle;
pub mod load;
pub mod lock;
pub mod metrics;
pub mod observe;
pub mod page;
pub mod plan;
pub mod probe;
pub mod proxy;
pub mod quantity;
pub mod readiness;
pub mod rollout;
pub mod server;
pub mod sources;
pub mod spec;
pub mod stats;
pub mod status;
pub mod swarm;
pub mod trigger;
pub mod webhook;
