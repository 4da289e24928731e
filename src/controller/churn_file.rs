//! The crash-loop record on disk (`<state_dir>/<fleet>.churn.json`): a
//! restarted controller takes back the holds the one before it saved, so a
//! restart cannot let a crash loop recreate a tenant at full speed again.

use super::{queue, Churn, Machine};
use crate::desired::DesiredState;
use crate::metrics::Metrics;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

pub struct ChurnFile {
    path: PathBuf,
    /// What was written last (a write happens only when this changes).
    saved: BTreeMap<String, Churn>,
}

impl ChurnFile {
    /// Reads the record the first desired state names and hands its holds
    /// to `machine`. A hold whose tenant's spec changed since is lifted
    /// (the operator's edit is the fix being tried).
    pub fn restore(desired: &DesiredState, machine: &mut Machine, metrics: &Metrics) -> Self {
        let path = desired
            .rollout
            .state_dir
            .join(format!("{}.churn.json", desired.fleet));
        let mut saved: BTreeMap<String, Churn> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable crash-loop record");
                Default::default()
            }),
            Err(_) => Default::default(),
        };
        let unix = crate::clock::unix_secs_f64();
        let lifted = queue::keep_unedited(&mut saved, unix, |t| {
            desired.tenants.get(t).map(|t| t.spec_hash.as_str())
        });
        for tenant in lifted {
            tracing::info!(tenant = %tenant, "tenant was held for a crash loop before the restart, but its spec changed since: not held");
        }
        for (tenant, churn) in &saved {
            if churn.held_until.is_some_and(|u| u > unix) {
                tracing::warn!(tenant = %tenant, "tenant was held for a crash loop before the restart; still held");
                metrics.tenant_crashloop.with_label_values(&[tenant]).set(1);
            }
        }
        machine.restore_churn(&saved, Instant::now(), unix);
        Self { path, saved }
    }

    /// Writes the machine's churn when it changed (a small file, rarely).
    pub fn save(&mut self, machine: &Machine) {
        let mut now = machine.churn(Instant::now(), crate::clock::unix_secs_f64());
        if let Some(desired) = machine.desired() {
            for (tenant, churn) in &mut now {
                churn.spec = desired.tenants.get(tenant).map(|t| t.spec_hash.clone());
            }
        }
        if now.keys().eq(self.saved.keys())
            && now.values().zip(self.saved.values()).all(|(a, b)| {
                a.changes.len() == b.changes.len()
                    && a.held_until.is_some() == b.held_until.is_some()
            })
        {
            return;
        }
        let text = serde_json::to_vec(&now).expect("plain data always serializes");
        let path = &self.path;
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| crate::backup::write_atomic(path, &text));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot save the crash-loop record");
        }
        self.saved = now;
    }
}
