//! When to ask the CA for a certificate, and when to leave it alone. Pure:
//! the caller passes the clock and what is on disk.
//!
//! A CA's rate limits must never be hit by a retry loop (Let's Encrypt
//! allows 5 failed validations per name per hour, 300 new orders per 3
//! hours): a domain that failed waits 1 min, 2, 4, … up to 6 h before its
//! next order, across restarts (the schedule is saved next to the
//! certificates), and no more than [`ORDERS_PER_HOUR`] orders go out in
//! any hour whatever the fleet size.

use crate::certfile::CertInfo;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

/// Orders started in any rolling hour, all domains together.
pub const ORDERS_PER_HOUR: usize = 30;
const FIRST_BACKOFF: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// A renewed certificate that is still inside the renewal window (a
/// `renew_before` wider than the CA's lifetime) is not renewed again for
/// this long: otherwise every pass would order a new one.
pub const RENEW_HOLD: Duration = Duration::from_secs(24 * 3600);

/// What a domain needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// No usable certificate on disk (none, unreadable, for another name).
    Issue,
    /// The certificate expires within `renew_before`.
    Renew,
    /// Nothing to do.
    Fresh,
}

pub fn need(
    now: SystemTime,
    cert: Option<&CertInfo>,
    domain: &str,
    renew_before: Duration,
) -> Need {
    match cert {
        None => Need::Issue,
        Some(c) if !c.names.iter().any(|n| n.eq_ignore_ascii_case(domain)) => Need::Issue,
        Some(c) if now + renew_before >= c.not_after => Need::Renew,
        Some(_) => Need::Fresh,
    }
}

/// One domain's record of attempts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attempts {
    /// Failures in a row (0 after a success).
    pub failures: u32,
    /// No order before this (seconds since the epoch).
    pub not_before: i64,
    /// The last failure's reason, for `status` and logs.
    pub last_error: Option<String>,
}

/// Every domain's attempts and the orders of the last hour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub domains: BTreeMap<String, Attempts>,
    /// When recent orders started (seconds since the epoch).
    pub recent_orders: VecDeque<i64>,
}

fn secs(t: SystemTime) -> i64 {
    crate::certfile::unix_seconds(t)
}

/// 1 min after the first failure, doubling, at most 6 h.
pub fn backoff(failures: u32) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(MAX_BACKOFF)
}

impl Schedule {
    /// Whether an order for `domain` may start now; when not, until when
    /// it waits.
    pub fn may_order(&mut self, domain: &str, now: SystemTime) -> Result<(), SystemTime> {
        let now_s = secs(now);
        while self
            .recent_orders
            .front()
            .is_some_and(|t| now_s - t >= 3600)
        {
            self.recent_orders.pop_front();
        }
        if let Some(a) = self.domains.get(domain) {
            if now_s < a.not_before {
                return Err(crate::certfile::epoch_of(a.not_before));
            }
        }
        if self.recent_orders.len() >= ORDERS_PER_HOUR {
            let oldest = self.recent_orders.front().copied().unwrap_or(now_s);
            return Err(crate::certfile::epoch_of(oldest + 3600));
        }
        Ok(())
    }

    pub fn ordered(&mut self, now: SystemTime) {
        self.recent_orders.push_back(secs(now));
    }

    pub fn failed(&mut self, domain: &str, now: SystemTime, error: &str) -> Duration {
        let a = self.domains.entry(domain.to_string()).or_default();
        a.failures = a.failures.saturating_add(1);
        let wait = backoff(a.failures);
        a.not_before = secs(now + wait);
        a.last_error = Some(error.to_string());
        wait
    }

    /// A success; `hold` keeps the next renewal away (see [`RENEW_HOLD`]).
    pub fn succeeded(&mut self, domain: &str, now: SystemTime, hold: bool) {
        let a = self.domains.entry(domain.to_string()).or_default();
        *a = Attempts::default();
        if hold {
            a.not_before = secs(now + RENEW_HOLD);
        }
    }

    /// Forgets domains no tenant asks for any more.
    pub fn retain(&mut self, wanted: &std::collections::BTreeSet<String>) {
        self.domains.retain(|d, _| wanted.contains(d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn cert(name: &str, not_after: u64) -> CertInfo {
        CertInfo {
            not_before: at(0),
            not_after: at(not_after),
            names: vec![name.into()],
            serial: "01".into(),
        }
    }

    #[test]
    fn a_missing_or_foreign_certificate_is_issued_an_expiring_one_renewed() {
        let day = Duration::from_secs(86400);
        let c = cert("a.test", 100 * 86400);
        assert_eq!(need(at(0), None, "a.test", 30 * day), Need::Issue);
        assert_eq!(need(at(0), Some(&c), "b.test", 30 * day), Need::Issue);
        assert_eq!(need(at(0), Some(&c), "A.TEST", 30 * day), Need::Fresh);
        assert_eq!(
            need(at(70 * 86400), Some(&c), "a.test", 30 * day),
            Need::Renew
        );
    }

    #[test]
    fn failures_back_off_per_domain_doubling_up_to_six_hours() {
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(2), Duration::from_secs(120));
        assert_eq!(backoff(40), Duration::from_secs(6 * 3600));
        let mut s = Schedule::default();
        assert!(s.may_order("a", at(1000)).is_ok());
        s.failed("a", at(1000), "no DNS");
        s.failed("a", at(1000), "no DNS");
        assert_eq!(s.may_order("a", at(1100)), Err(at(1120)));
        assert!(
            s.may_order("b", at(1100)).is_ok(),
            "one failing domain never blocks another"
        );
        assert!(s.may_order("a", at(1120)).is_ok());
        s.succeeded("a", at(1200), false);
        assert_eq!(s.domains["a"].failures, 0);
        assert!(s.may_order("a", at(1200)).is_ok());
    }

    #[test]
    fn no_more_than_the_hourly_cap_of_orders_go_out() {
        let mut s = Schedule::default();
        for i in 0..ORDERS_PER_HOUR as u64 {
            assert!(s.may_order(&format!("d{i}"), at(i)).is_ok());
            s.ordered(at(i));
        }
        assert_eq!(s.may_order("late", at(100)), Err(at(3600)));
        assert!(s.may_order("late", at(3600)).is_ok());
    }
}
