//! HTTPS certificates for `tls = "acme"` tenants, from an ACME CA (Let's
//! Encrypt by default) through the HTTP-01 challenge, which nginx answers
//! from a webroot tenantctl writes (`<state_dir>/webroot`). Until a
//! tenant's certificate exists its site is served over plain HTTP; the
//! proxy planner renders its HTTPS block once [`ready`] says the
//! certificate is on disk.
//!
//! - `schedule`: when to order, per-domain backoff, hourly cap (pure).
//! - `store`: the state directory (atomic writes, keys 0600).
//! - `preflight`: nginx answers the challenge path before an order.
//! - `order`: one order through instant-acme.
//! - `served`: the certificate a listener serves (Caddy's own).
//! - `manager`: rounds over the fleet, for `apply` and `run`.
//!
//! Reading PEM files is `crate::certfile` and which certificates are usable
//! `crate::certified`: the desired-state checks and the proxy planner use
//! them too, without importing this module (which imports theirs).

pub mod manager;
mod order;
mod preflight;
pub mod schedule;
pub mod served;
pub mod store;

pub use crate::certified::ready;
