//! What `/readyz` reports: written by the controller, read by the server.
//! Its own module so that neither imports the other.

use std::sync::atomic::{AtomicBool, Ordering};

/// What `/readyz` reports.
#[derive(Debug, Default)]
pub struct Readiness {
    pub(crate) config_loaded: AtomicBool,
    pub(crate) docker_ok: AtomicBool,
}

impl Readiness {
    pub fn config_loaded(&self) -> bool {
        self.config_loaded.load(Ordering::Relaxed)
    }
    pub fn docker_ok(&self) -> bool {
        self.docker_ok.load(Ordering::Relaxed)
    }
}
