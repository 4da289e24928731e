//! Small predicates for names Docker, DNS and nginx will accept. They are
//! strict on purpose: a tenants file must not be able to inject nginx
//! directives or odd Docker names.

/// RFC 1123 label: 1-63 of `[a-z0-9-]`, not starting or ending with `-`.
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A hostname: dot-separated DNS labels (case-insensitive), at most 253
/// characters, at least two labels, no trailing dot.
pub fn is_hostname(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.len() <= 253 && lower.contains('.') && lower.split('.').all(is_dns_label)
}

/// `[A-Za-z_][A-Za-z0-9_]*`, what a shell and Docker accept as a variable.
pub fn is_env_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Docker object names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn is_docker_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("companyabc"));
        assert!(is_dns_label("a-1"));
        assert!(!is_dns_label("Company"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("a_b"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }

    #[test]
    fn hostnames_refuse_anything_nginx_could_parse_as_syntax() {
        assert!(is_hostname("companyabc.mai-production.com"));
        assert!(is_hostname("ABC.example.com"));
        for bad in [
            "a b.com",
            "a.com;",
            "a.com{",
            "\"a.com\"",
            "a.com\nx",
            "localhost",
            "a..com",
            "a.com.",
        ] {
            assert!(!is_hostname(bad), "{bad:?}");
        }
    }

    #[test]
    fn env_keys() {
        assert!(is_env_key("WEBUI_NAME"));
        assert!(is_env_key("_x1"));
        assert!(!is_env_key("1X"));
        assert!(!is_env_key("A-B"));
        assert!(!is_env_key(""));
    }
}
