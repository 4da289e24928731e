//! Wall-clock time as unix seconds, for what outlives the process or
//! leaves it (records on disk, backup ids, metrics): an `Instant` means
//! nothing after a restart or to Prometheus. A clock before 1970 reads 0.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn unix_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn unix_secs_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
