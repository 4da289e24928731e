//! The human form of a plan, read in code review: one block per tenant that
//! differs, one line per field, and a summary line. Secrets are already
//! masked in `FieldChange`, so nothing here can leak one.

use super::{Plan, Step};
use std::fmt;

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut counts = Counts::default();
        if let Some(network) = &self.create_network {
            writeln!(f, "+ network {network}: create")?;
        }
        if let Some(network) = &self.repair_network {
            writeln!(f, "~ network {network}: several networks carry this name; keep the one in use, remove empty duplicates")?;
        }
        if let Some(network) = &self.shared_network {
            writeln!(f, "! network {network}: tenants on it can reach each other (it predates isolate_tenants); set `network` to a new name to isolate them: each tenant is recreated onto it once, by a rollout")?;
        }
        for t in &self.tenants {
            if t.in_sync() {
                counts.in_sync += 1;
                continue;
            }
            if !t.conflicts.is_empty() {
                counts.conflicts += 1;
                for c in &t.conflicts {
                    writeln!(
                        f,
                        "! tenant {}: {} conflict: {}",
                        t.tenant, c.resource, c.message
                    )?;
                }
                writeln!(f, "    (blocked: nothing is changed for this tenant until the conflict is resolved)")?;
                continue;
            }
            let lead = if t.paused {
                counts.paused += 1;
                format!("= tenant {} (paused: reported, not changed)", t.tenant)
            } else {
                format!("tenant {}", t.tenant)
            };
            for step in &t.steps {
                if !t.paused {
                    counts.add(step);
                }
                match step {
                    Step::CreateVolume {
                        name,
                        reclaim: false,
                    } => writeln!(f, "+ {lead}: create volume {name}")?,
                    Step::CreateVolume {
                        name,
                        reclaim: true,
                    } => writeln!(
                        f,
                        "+ {lead}: create volume {name} (an unlabeled one of this name exists, left by a daemon crash? it is made again only if it is empty and unused)"
                    )?,
                    Step::Create => writeln!(f, "+ {lead}: create container {}", t.container)?,
                    Step::Recreate { changes, .. } => {
                        writeln!(f, "~ {lead}: recreate container {}", t.container)?;
                        for c in changes {
                            writeln!(f, "    {}: {} -> {}", c.field, c.from, c.to)?;
                        }
                    }
                    Step::Update { changes } => {
                        writeln!(f, "~ {lead}: update container {} in place", t.container)?;
                        for c in changes {
                            writeln!(f, "    {}: {} -> {}", c.field, c.from, c.to)?;
                        }
                    }
                    Step::Start { state } => {
                        writeln!(f, "> {lead}: start container {} (now {state})", t.container)?
                    }
                    Step::Unpause => writeln!(
                        f,
                        "> {lead}: unpause container {} (now paused)",
                        t.container
                    )?,
                    Step::Adopt {
                        id,
                        mounts,
                        adoption,
                    } => {
                        writeln!(
                            f,
                            "~ {lead}: adopt container {} ({id}, not created by tenantctl): replaced by a managed one on the same data, old one {}",
                            t.container,
                            if adoption.keep_old {
                                format!("kept stopped as {}-pre-adopt", t.container)
                            } else {
                                "removed once the new one is healthy".into()
                            }
                        )?;
                        for m in mounts {
                            writeln!(f, "    keeps {m}")?;
                        }
                    }
                    Step::Recover { rename, remove } => {
                        if let Some(from) = rename {
                            writeln!(
                                f,
                                "~ {lead}: rename container {from} back to {}",
                                t.container
                            )?;
                        }
                        for name in remove {
                            writeln!(
                                f,
                                "- {lead}: remove leftover container {name} (volumes are kept)"
                            )?;
                        }
                    }
                }
            }
        }
        for o in &self.orphans {
            if let Some(node) = &o.moved_to {
                writeln!(f, "? container {} (tenant {} is placed on node `{node}` now): kept, with its data on this server; carry the data over with backup and restore, then remove it by hand (README \"More than one server\")", o.container, o.tenant)?;
            } else if self.prune {
                counts.remove += 1;
                writeln!(
                    f,
                    "- container {} (tenant {} left the file): remove; its volumes are kept",
                    o.container, o.tenant
                )?;
            } else {
                writeln!(f, "? container {} (tenant {} left the file): kept; `apply --prune` removes it (volumes are kept)", o.container, o.tenant)?;
            }
        }
        if let Some(diff) = self.proxy.as_ref().and_then(|p| p.diff.as_ref()) {
            writeln!(f, "~ proxy: nginx config changes")?;
            for line in diff.lines() {
                writeln!(f, "    {line}")?;
            }
        }
        let adopt = if counts.adopt > 0 {
            format!("{} to adopt, ", counts.adopt)
        } else {
            String::new()
        };
        write!(
            f,
            "Plan: {adopt}{} to create, {} to recreate, {} to update in place, {} to start, {} to remove; {} blocked by conflicts, {} paused, {} of {} tenants in sync.",
            counts.create,
            counts.recreate,
            counts.update,
            counts.start,
            counts.remove,
            counts.conflicts,
            counts.paused,
            counts.in_sync,
            self.tenants.len()
        )
    }
}

#[derive(Default)]
struct Counts {
    create: usize,
    adopt: usize,
    recreate: usize,
    update: usize,
    start: usize,
    remove: usize,
    conflicts: usize,
    paused: usize,
    in_sync: usize,
}

impl Counts {
    fn add(&mut self, step: &Step) {
        match step {
            Step::CreateVolume { .. } => {}
            Step::Create => self.create += 1,
            Step::Recreate { .. } => self.recreate += 1,
            Step::Update { .. } => self.update += 1,
            Step::Start { .. } | Step::Unpause => self.start += 1,
            Step::Recover { .. } => self.recreate += 1,
            Step::Adopt { .. } => self.adopt += 1,
        }
    }
}
