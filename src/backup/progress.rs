//! Bytes a backup or restore has moved so far in this process, for the
//! CLI's progress line on a terminal (bytes and rate). A counter, not a
//! callback: the library does not know whether anyone shows it.

use std::sync::atomic::{AtomicU64, Ordering};

static MOVED: AtomicU64 = AtomicU64::new(0);

pub fn add(bytes: u64) {
    MOVED.fetch_add(bytes, Ordering::Relaxed);
}

/// Everything moved since the process started.
pub fn moved() -> u64 {
    MOVED.load(Ordering::Relaxed)
}
