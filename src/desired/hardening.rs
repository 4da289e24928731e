//! A tenant container's hardening (`[hardening]` in a chart, `[defaults]`
//! or a tenant): no-new-privileges, capabilities, a pids limit, a
//! read-only root filesystem with tmpfs paths, and log rotation for the
//! json-file driver. Pure: parsed from the raw keys, merged chart ←
//! defaults ← tenant key by key, hashed (a change recreates), and read back
//! from a container's HostConfig in the same shape so the plan compares
//! like with like.

use crate::diagnostic::{Diagnostic, SourceFile};
use crate::quantity::{format_memory, parse_memory};
use crate::spec::{RawHardening, Spanned};
use serde::Serialize;
use std::fmt;

/// What Docker is asked for. `Default` is Docker's own behaviour (nothing
/// dropped, no limits): a chart without `[hardening]` keeps its hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Hardening {
    pub no_new_privileges: bool,
    /// Capability names, upper case without `CAP_`, sorted (`ALL` allowed).
    pub cap_drop: Vec<String>,
    pub cap_add: Vec<String>,
    /// Most processes (threads) the container may hold; 0 = no limit.
    pub pids_limit: i64,
    pub read_only: bool,
    /// Paths mounted as tmpfs (what a read-only image must still write).
    pub tmpfs: Vec<String>,
    /// json-file log rotation: bytes per file (0 = the daemon's default)
    /// and how many files are kept.
    pub log_max_size: i64,
    pub log_max_files: i64,
}

impl Hardening {
    pub fn is_default(&self) -> bool {
        *self == Hardening::default()
    }

    /// What of `observed` can be compared with `self`: log options a file
    /// leaves unset are the daemon's business (its defaults are copied
    /// into every container), so they are not drift.
    pub fn comparable(&self, observed: &Hardening) -> Hardening {
        let mut out = observed.clone();
        if self.log_max_size == 0 {
            out.log_max_size = 0;
        }
        if self.log_max_files == 0 {
            out.log_max_files = 0;
        }
        out
    }

    /// The `max-size` / `max-file` options of the json-file driver, when
    /// rotation is asked for.
    pub fn log_options(&self) -> Option<Vec<(&'static str, String)>> {
        if self.log_max_size == 0 {
            return None;
        }
        let mut opts = vec![("max-size", self.log_max_size.to_string())];
        if self.log_max_files > 0 {
            opts.push(("max-file", self.log_max_files.to_string()));
        }
        Some(opts)
    }
}

impl fmt::Display for Hardening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_default() {
            return f.write_str("(Docker's defaults)");
        }
        let mut parts = Vec::new();
        if self.no_new_privileges {
            parts.push("no-new-privileges".to_string());
        }
        if !self.cap_drop.is_empty() {
            parts.push(format!("cap_drop {}", self.cap_drop.join(" ")));
        }
        if !self.cap_add.is_empty() {
            parts.push(format!("cap_add {}", self.cap_add.join(" ")));
        }
        if self.pids_limit > 0 {
            parts.push(format!("pids_limit {}", self.pids_limit));
        }
        if self.read_only {
            parts.push("read-only".to_string());
        }
        if !self.tmpfs.is_empty() {
            parts.push(format!("tmpfs {}", self.tmpfs.join(" ")));
        }
        if self.log_max_size > 0 {
            parts.push(format!(
                "logs {}×{}",
                format_memory(self.log_max_size),
                self.log_max_files.max(1)
            ));
        }
        f.write_str(&parts.join(", "))
    }
}

/// One layer's `[hardening]` keys, each `None` when the layer is silent.
#[derive(Debug, Clone, Default)]
pub struct HardeningLayer {
    pub enabled: Option<bool>,
    pub no_new_privileges: Option<bool>,
    pub cap_drop: Option<Vec<String>>,
    pub cap_add: Option<Vec<String>>,
    pub pids_limit: Option<i64>,
    pub read_only: Option<bool>,
    pub tmpfs: Option<Vec<String>>,
    pub log_max_size: Option<i64>,
    pub log_max_files: Option<i64>,
}

/// Parses one layer's keys; errors point at the offending value.
pub fn parse_layer(
    file: &SourceFile,
    raw: &RawHardening,
    diags: &mut Vec<Diagnostic>,
) -> HardeningLayer {
    let mut err =
        |span: std::ops::Range<usize>, message: String| diags.push(file.diag(Some(span), message));
    let mut caps = |list: &Option<Vec<Spanned<String>>>| {
        list.as_ref().map(|items| {
            let mut out: Vec<String> = Vec::new();
            for c in items {
                match capability(c.get_ref()) {
                    Some(name) => out.push(name),
                    None => err(
                        c.span(),
                        format!(
                            "`{}` is not a capability name (like `CHOWN`, `NET_BIND_SERVICE` or `ALL`)",
                            c.get_ref()
                        ),
                    ),
                }
            }
            out.sort();
            out.dedup();
            out
        })
    };
    let cap_drop = caps(&raw.cap_drop);
    let cap_add = caps(&raw.cap_add);
    let pids_limit = raw.pids_limit.as_ref().and_then(|p| {
        if (0..=4_194_304).contains(p.get_ref()) {
            Some(*p.get_ref())
        } else {
            err(
                p.span(),
                "pids_limit must be between 0 (no limit) and 4194304".into(),
            );
            None
        }
    });
    let tmpfs = raw.tmpfs.as_ref().map(|paths| {
        let mut out: Vec<String> = paths
            .iter()
            .filter_map(|p| {
                let path = p.get_ref();
                let ok = path.starts_with('/')
                    && path.len() > 1
                    && !path.contains([':', ',', ' ', '\n'])
                    && !path.split('/').any(|s| s == "..");
                if ok {
                    Some(path.trim_end_matches('/').to_string())
                } else {
                    err(
                        p.span(),
                        format!("tmpfs path `{path}` must be absolute, below `/`, without `..`, `:`, `,` or spaces"),
                    );
                    None
                }
            })
            .collect();
        out.sort();
        out.dedup();
        out
    });
    let log_max_size = raw
        .log_max_size
        .as_ref()
        .and_then(|s| match parse_memory(s.get_ref()) {
            Ok(bytes) if bytes >= 0 => Some(bytes),
            Ok(_) => None,
            Err(msg) => {
                err(s.span(), format!("log_max_size: {msg}"));
                None
            }
        });
    let log_max_files = raw.log_max_files.as_ref().and_then(|n| {
        if (1..=100).contains(n.get_ref()) {
            Some(*n.get_ref())
        } else {
            err(n.span(), "log_max_files must be between 1 and 100".into());
            None
        }
    });
    HardeningLayer {
        enabled: raw.enabled,
        no_new_privileges: raw.no_new_privileges,
        cap_drop,
        cap_add,
        pids_limit,
        read_only: raw.read_only,
        tmpfs,
        log_max_size,
        log_max_files,
    }
}

/// Merges the layers key by key, the most specific first; `enabled =
/// false` in the winning layer means Docker's defaults for everything.
pub fn merge(layers: [&HardeningLayer; 3]) -> Hardening {
    macro_rules! pick {
        ($field:ident) => {
            layers.iter().find_map(|l| l.$field.clone())
        };
    }
    if pick!(enabled) == Some(false) {
        return Hardening::default();
    }
    Hardening {
        no_new_privileges: pick!(no_new_privileges).unwrap_or(false),
        cap_drop: pick!(cap_drop).unwrap_or_default(),
        cap_add: pick!(cap_add).unwrap_or_default(),
        pids_limit: pick!(pids_limit).unwrap_or(0),
        read_only: pick!(read_only).unwrap_or(false),
        tmpfs: pick!(tmpfs).unwrap_or_default(),
        log_max_size: pick!(log_max_size).unwrap_or(0),
        log_max_files: pick!(log_max_files).unwrap_or(0),
    }
}

/// `chown` / `CAP_CHOWN` → `CHOWN`; `None` for anything that is not a
/// capability-shaped name.
pub fn capability(name: &str) -> Option<String> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    let ok = !bare.is_empty()
        && bare.len() <= 32
        && bare.starts_with(|c: char| c.is_ascii_uppercase())
        && bare
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    ok.then(|| bare.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(enabled: Option<bool>, pids: Option<i64>) -> HardeningLayer {
        HardeningLayer {
            enabled,
            pids_limit: pids,
            ..Default::default()
        }
    }

    #[test]
    fn the_most_specific_layer_wins_key_by_key() {
        let chart = HardeningLayer {
            no_new_privileges: Some(true),
            cap_drop: Some(vec!["ALL".into()]),
            pids_limit: Some(512),
            ..Default::default()
        };
        let tenant = layer(None, Some(2048));
        let h = merge([&tenant, &HardeningLayer::default(), &chart]);
        assert!(h.no_new_privileges);
        assert_eq!(h.cap_drop, vec!["ALL"]);
        assert_eq!(h.pids_limit, 2048);
    }

    #[test]
    fn enabled_false_turns_everything_off() {
        let chart = HardeningLayer {
            no_new_privileges: Some(true),
            ..Default::default()
        };
        let h = merge([&layer(Some(false), Some(10)), &layer(None, None), &chart]);
        assert!(h.is_default());
    }

    #[test]
    fn capability_names_are_normalized() {
        assert_eq!(capability("cap_chown").as_deref(), Some("CHOWN"));
        assert_eq!(
            capability("NET_BIND_SERVICE").as_deref(),
            Some("NET_BIND_SERVICE")
        );
        assert_eq!(capability("ALL").as_deref(), Some("ALL"));
        assert_eq!(capability("a;b"), None);
        assert_eq!(capability(""), None);
    }

    #[test]
    fn log_options_need_a_size() {
        let h = Hardening {
            log_max_files: 3,
            ..Default::default()
        };
        assert_eq!(h.log_options(), None);
        let h = Hardening {
            log_max_size: 10 << 20,
            log_max_files: 3,
            ..Default::default()
        };
        assert_eq!(
            h.log_options().unwrap(),
            vec![("max-size", "10485760".into()), ("max-file", "3".into())]
        );
    }
}
