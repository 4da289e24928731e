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

/// A Docker image reference: `[host[:port]/]path[:tag][@digest]`, or an
/// image id (`sha256:<64 hex>`). Follows the distribution reference
/// grammar: lowercase path components separated by `.`, `_`, `__` or `-`.
pub fn is_image_reference(text: &str) -> bool {
    if let Some(hex) = text.strip_prefix("sha256:") {
        return is_hex(hex, 64);
    }
    if text.is_empty() || text.len() > 512 {
        return false;
    }
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (text, None),
    };
    if let Some(digest) = digest {
        let Some((algo, hex)) = digest.split_once(':') else {
            return false;
        };
        let algo_ok = !algo.is_empty()
            && algo
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
        if !algo_ok || hex.len() < 32 || !is_hex(hex, hex.len()) {
            return false;
        }
    }
    // A tag follows the last `:` after the last `/` (a `:` before it is a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        let mut chars = tag.chars();
        let first_ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_');
        if !first_ok
            || tag.len() > 128
            || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return false;
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 && is_registry_host(parts[0]) {
        parts.remove(0);
    }
    !parts.is_empty() && parts.iter().all(|p| is_path_component(p))
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `localhost`, or a host with a dot or a port: `registry.example.com:5000`.
fn is_registry_host(part: &str) -> bool {
    let (host, port) = match part.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (part, None),
    };
    let host_ok = !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok && (host == "localhost" || host.contains('.') || port.is_some())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &part[start..i];
        let dashes = sep.bytes().all(|b| b == b'-');
        if !(sep == "." || sep == "_" || sep == "__" || dashes) {
            return false;
        }
    }
    true
}

/// An absolute host path in the one spelling Docker reports back: no
/// trailing slash, no `.` components, no doubled slashes. (`..` is refused
/// by validation.) Otherwise `/srv/x/` would differ from Docker's `/srv/x`
/// on every pass and recreate the container forever.
pub fn normalize_host_path(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
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

    #[test]
    fn image_references_follow_the_distribution_grammar() {
        for good in [
            "mai-production:latest",
            "tenantctl-standin:latest",
            "nginx",
            "library/nginx:1.25",
            "registry.example.com:5000/team/app:v1.2-rc_3",
            "localhost/app",
            "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(is_image_reference(good), "{good}");
        }
        for bad in [
            "ADV:!!",
            "",
            "app:",
            "App:1",
            "a b",
            "app:-x",
            "a//b",
            "-a",
            "app@sha256:xyz",
        ] {
            assert!(!is_image_reference(bad), "{bad}");
        }
    }

    #[test]
    fn bind_paths_are_normalized_to_dockers_spelling() {
        assert_eq!(normalize_host_path("/srv/x/data/"), "/srv/x/data");
        assert_eq!(normalize_host_path("/srv//x/./data"), "/srv/x/data");
        assert_eq!(normalize_host_path("/"), "/");
    }
}
