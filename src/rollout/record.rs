//! The rollout record: which rollout is under way or halted, and where
//! each tenant of it stands. Pure data, kept as JSON by `store`.

use crate::desired::{sha256_hex, DesiredState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Running,
    /// A tenant failed its gate; the rest wait for a fix or a resume.
    Halted,
    Done,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Running, Phase::Halted, Phase::Done];

    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Running => "running",
            Phase::Halted => "halted",
            Phase::Done => "done",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantPhase {
    /// Not updated yet (or not reached: the rollout halted before it).
    Pending,
    Updated,
    /// Put back on its old container (and data) after failing its gate.
    RolledBack,
    /// Failed before its gate (e.g. the backup before the upgrade).
    Failed,
}

impl TenantPhase {
    pub const ALL: [TenantPhase; 4] = [
        TenantPhase::Pending,
        TenantPhase::Updated,
        TenantPhase::RolledBack,
        TenantPhase::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TenantPhase::Pending => "pending",
            TenantPhase::Updated => "updated",
            TenantPhase::RolledBack => "rolled_back",
            TenantPhase::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutRecord {
    /// The rollout's identity (see [`rollout_id`]).
    pub id: String,
    /// sha256 of the tenants file it rolls out (first 12 shown).
    pub revision: String,
    /// Image reference → the id it was resolved to at the start.
    pub images: BTreeMap<String, String>,
    pub started: i64,
    pub finished: Option<i64>,
    pub phase: Phase,
    /// The tenant whose failure halted it, and why.
    pub halted_at: Option<String>,
    pub reason: Option<String>,
    /// `rollout resume` asked to retry the halted rollout.
    #[serde(default)]
    pub resume: bool,
    /// Tenants in update order.
    pub order: Vec<String>,
    pub tenants: BTreeMap<String, TenantPhase>,
    /// Seconds each tenant's gate took.
    #[serde(default)]
    pub gate_seconds: BTreeMap<String, f64>,
}

impl RolloutRecord {
    pub fn new(
        id: String,
        desired: &DesiredState,
        images: BTreeMap<String, String>,
        order: Vec<String>,
        now: i64,
    ) -> Self {
        RolloutRecord {
            id,
            revision: desired.source_sha256.clone(),
            images,
            started: now,
            finished: None,
            phase: Phase::Running,
            halted_at: None,
            reason: None,
            resume: false,
            tenants: order
                .iter()
                .map(|t| (t.clone(), TenantPhase::Pending))
                .collect(),
            order,
            gate_seconds: BTreeMap::new(),
        }
    }

    /// Tenants per phase.
    pub fn count(&self, phase: TenantPhase) -> usize {
        self.tenants.values().filter(|p| **p == phase).count()
    }

    /// One line for humans: `halted at acme (…) — 1 rolled back, 5 pending`.
    pub fn summary(&self) -> String {
        let counts = TenantPhase::ALL
            .iter()
            .map(|p| (p.as_str(), self.count(*p)))
            .filter(|(_, n)| *n > 0)
            .map(|(p, n)| format!("{n} {}", p.replace('_', " ")))
            .collect::<Vec<_>>()
            .join(", ");
        let rev = &self.revision[..self.revision.len().min(12)];
        match (&self.phase, &self.halted_at) {
            (Phase::Halted, Some(t)) => format!(
                "rollout of revision {rev} HALTED at {t}: {} ({counts})",
                self.reason.as_deref().unwrap_or("no reason recorded")
            ),
            (phase, _) => format!("rollout of revision {rev} {} ({counts})", phase.as_str()),
        }
    }
}

/// A rollout's identity: the file's revision, the image ids its tenants
/// go to, and every tenant's spec hash (which covers env files and charts
/// the file only names). Which tenants still need updating is left out on
/// purpose: a halted rollout keeps its identity while its updated tenants
/// drop out of it, so it is not started again on every pass.
pub fn rollout_id(desired: &DesiredState, images: &BTreeMap<String, String>) -> String {
    let mut text = format!("rev {}\n", desired.source_sha256);
    for (reference, id) in images {
        text.push_str(&format!("image {reference} {id}\n"));
    }
    for (name, t) in &desired.tenants {
        text.push_str(&format!("tenant {name} {}\n", t.spec_hash));
    }
    sha256_hex(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::DesiredTenant;

    #[test]
    fn the_identity_follows_the_images_and_specs_not_who_is_left() {
        let d = crate::fixtures::desired_state(vec![DesiredTenant::test("a", 8001)]);
        let v1 = BTreeMap::from([("app:latest".to_string(), "sha256:1".to_string())]);
        let v2 = BTreeMap::from([("app:latest".to_string(), "sha256:2".to_string())]);
        assert_eq!(rollout_id(&d, &v1), rollout_id(&d, &v1));
        assert_ne!(rollout_id(&d, &v1), rollout_id(&d, &v2));
        let mut edited = d.clone();
        std::sync::Arc::make_mut(edited.tenants.get_mut("a").unwrap()).spec_hash = "other".into();
        assert_ne!(rollout_id(&d, &v1), rollout_id(&edited, &v1));
    }

    #[test]
    fn a_halted_rollout_is_not_due_again_until_resumed_or_replaced() {
        let d = crate::fixtures::desired_state(vec![]);
        let mut r = RolloutRecord::new("x".into(), &d, BTreeMap::new(), vec!["a".into()], 0);
        assert!(super::super::is_due(Some(&r), "x"));
        r.phase = Phase::Halted;
        assert!(!super::super::is_due(Some(&r), "x"));
        assert!(super::super::is_due(Some(&r), "y"));
        r.resume = true;
        assert!(super::super::is_due(Some(&r), "x"));
    }
}
