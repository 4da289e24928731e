//! The unified diff `plan` prints for nginx config (pure).

use std::collections::{BTreeMap, BTreeSet};

/// `diff -u` style text between what is on disk and the candidate.
pub fn unified_diff(
    current: &BTreeMap<String, String>,
    candidate: &BTreeMap<String, String>,
) -> String {
    let names: BTreeSet<&String> = current.keys().chain(candidate.keys()).collect();
    let mut out = String::new();
    for name in names {
        let old = current.get(name).map(String::as_str).unwrap_or("");
        let new = candidate.get(name).map(String::as_str).unwrap_or("");
        if old != new {
            let diff = similar::TextDiff::from_lines(old, new);
            out.push_str(
                &diff
                    .unified_diff()
                    .header(&format!("a/{name}"), &format!("b/{name}"))
                    .to_string(),
            );
        }
    }
    out
}
