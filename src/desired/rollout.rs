//! `[rollout]`: how recreates are rolled out across the fleet (groups in
//! order, then batches of `max_unavailable`) and how each new container
//! proves itself before the old one goes (`progress_deadline`,
//! `min_ready`).

use crate::diagnostic::{Diagnostic, SourceFile};
use crate::quantity::parse_duration;
use crate::spec::RawRollout;
use std::path::PathBuf;
use std::time::Duration;

/// Where the rollout record and crash-loop counts live by default.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/tenantctl/state";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutSpec {
    /// How long a new container has to pass its health check.
    pub progress_deadline: Duration,
    /// How long it must then stay healthy before the old one is removed.
    pub min_ready: Duration,
    /// Rollout groups in update order; tenants without a group go last.
    pub groups: Vec<String>,
    /// Tenants of a rollout down (being swapped) at once.
    pub max_unavailable: usize,
    /// The rollout record (`<fleet>.rollout.json`) and crash-loop counts.
    pub state_dir: PathBuf,
}

impl Default for RolloutSpec {
    fn default() -> Self {
        RolloutSpec {
            progress_deadline: Duration::from_secs(120),
            min_ready: Duration::from_secs(10),
            groups: Vec::new(),
            max_unavailable: 1,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
        }
    }
}

pub fn resolve_rollout(
    file: &SourceFile,
    base_dir: &std::path::Path,
    raw: Option<&RawRollout>,
    diags: &mut Vec<Diagnostic>,
) -> RolloutSpec {
    let mut spec = RolloutSpec::default();
    let Some(raw) = raw else { return spec };
    let mut duration = |v: &Option<crate::spec::Spanned<String>>, what: &str, min_ns: i64| {
        let v = v.as_ref()?;
        match parse_duration(v.get_ref()) {
            Ok(ns) if ns >= min_ns && ns <= 3_600_000_000_000 => {
                Some(Duration::from_nanos(ns as u64))
            }
            Ok(_) => {
                diags.push(file.diag(
                    Some(v.span()),
                    format!("{what} must be between {}s and 1h", min_ns / 1_000_000_000),
                ));
                None
            }
            Err(e) => {
                diags.push(file.diag(Some(v.span()), e));
                None
            }
        }
    };
    if let Some(d) = duration(&raw.progress_deadline, "progress_deadline", 1_000_000_000) {
        spec.progress_deadline = d;
    }
    if let Some(d) = duration(&raw.min_ready, "min_ready", 0) {
        spec.min_ready = d;
    }
    for group in raw.groups.iter().flatten() {
        let name = group.get_ref();
        if !crate::spec::rules::is_dns_label(name) {
            diags.push(file.diag(
                Some(group.span()),
                "rollout group names are lowercase names like `canary`",
            ));
        } else if spec.groups.contains(name) {
            diags.push(file.diag(
                Some(group.span()),
                format!("rollout group `{name}` is listed twice"),
            ));
        } else {
            spec.groups.push(name.clone());
        }
    }
    if let Some(m) = &raw.max_unavailable {
        match usize::try_from(*m.get_ref()) {
            Ok(n) if (1..=1000).contains(&n) => spec.max_unavailable = n,
            _ => {
                diags.push(file.diag(Some(m.span()), "max_unavailable must be between 1 and 1000"))
            }
        }
    }
    if let Some(dir) = &raw.state_dir {
        spec.state_dir = base_dir.join(dir.get_ref());
    }
    spec
}
