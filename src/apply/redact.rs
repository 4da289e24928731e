//! Docker error messages can repeat what was sent: a create refused for an
//! env value with a NUL byte echoes the whole `KEY=value` line. Every
//! error about a tenant passes through [`redact`] before it is logged,
//! printed or kept, so a secret never leaves in an error.

use super::ApplyError;
use crate::desired::DesiredTenant;

const MASK: &str = "(sensitive)";

/// `error`, with every secret of `tenant` masked in its text.
pub fn redact(tenant: &DesiredTenant, error: ApplyError) -> ApplyError {
    let text = error.to_string();
    let clean = redact_text(tenant, &text);
    if clean == text {
        error
    } else {
        ApplyError::Redacted {
            kind: error.metric_label(),
            message: clean,
        }
    }
}

/// Masks each secret value, and whatever follows `KEY=` for a secret key
/// (Docker may print the value escaped, which no plain match would find).
pub fn redact_text(tenant: &DesiredTenant, text: &str) -> String {
    let mut out = text.to_string();
    for (key, entry) in tenant.env.iter().filter(|(_, e)| e.sensitive) {
        if !entry.value.is_empty() {
            out = out.replace(&entry.value, MASK);
        }
        let needle = format!("{key}=");
        let mut from = 0;
        while let Some(pos) = out[from..].find(&needle) {
            let start = from + pos + needle.len();
            let end = out[start..]
                .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
                .map_or(out.len(), |i| start + i);
            out.replace_range(start..end, MASK);
            from = start + MASK.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::EnvEntry;

    #[test]
    fn a_docker_error_echoing_a_secret_env_line_is_masked() {
        let mut t = DesiredTenant::test("acme", 8001);
        t.env.insert(
            "API_KEY".into(),
            EnvEntry {
                value: "hunter2\0x".into(),
                sensitive: true,
            },
        );
        let text = r#"invalid env "API_KEY=hunter2\x00x" and WEBUI_NAME=mAI - acme"#;
        let clean = redact_text(&t, text);
        assert!(!clean.contains("hunter2"), "{clean}");
        assert!(clean.contains("API_KEY=(sensitive)"), "{clean}");
        assert!(clean.contains("WEBUI_NAME=mAI - acme"), "{clean}");
    }
}
