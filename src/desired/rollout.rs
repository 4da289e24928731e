//! `[rollout]`: how a recreate proves its new container before the old
//! one goes. (Canary groups and batches are the rollout work's next part;
//! until then those keys are refused as unknown, not silently ignored.)

use crate::diagnostic::{Diagnostic, SourceFile};
use crate::quantity::parse_duration;
use crate::spec::RawRollout;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolloutSpec {
    /// How long a new container has to pass its health check.
    pub progress_deadline: Duration,
    /// How long it must then stay healthy before the old one is removed.
    pub min_ready: Duration,
}

impl Default for RolloutSpec {
    fn default() -> Self {
        RolloutSpec {
            progress_deadline: Duration::from_secs(120),
            min_ready: Duration::from_secs(10),
        }
    }
}

pub fn resolve_rollout(
    file: &SourceFile,
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
    spec
}
