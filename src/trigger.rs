//! The inputs every trigger source (Docker events, the git source) sends
//! the controller. Its own module so that no source imports the controller
//! that imports it.

use crate::desired::DesiredState;

/// Inputs to the loop besides timers.
#[derive(Debug)]
pub enum Trigger {
    /// A Docker event about this tenant's container.
    Tenant(String),
    /// The event stream (re)connected: list everything again.
    Relist,
    /// GitOps: a new revision was checked out and loaded (or refused).
    Loaded {
        revision: String,
        result: Box<Result<DesiredState, crate::diagnostic::Diagnostics>>,
    },
}
