//! Jittered exponential backoff, shared by the work queue and the trigger
//! sources (its own module so neither imports the other).

use std::time::Duration;

pub const BACKOFF_BASE: Duration = Duration::from_millis(800);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// 800 ms · 2^(attempt-1), capped at 30 s, with up to 25% jitter derived
/// from the key and attempt (deterministic: no RNG in the pure core, yet
/// tenants failing together do not retry in lockstep).
pub fn backoff(key: &str, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(16);
    let base = BACKOFF_BASE.saturating_mul(1 << exp).min(BACKOFF_MAX);
    let seed = key.bytes().fold(
        u64::from(attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3),
    );
    let jitter = base.mul_f64((seed % 1000) as f64 / 4000.0);
    (base + jitter).min(BACKOFF_MAX)
}
