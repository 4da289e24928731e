//! Where a key of a block-style YAML document is: YAML parsers that keep
//! positions for values do not keep them for keys, and an unknown key must
//! be reported as `PATH:LINE`. Compose files are block style, so following
//! indentation is enough; a key not found falls back to its parent's line.

/// The 1-based line of the mapping key at `path` (`["services", "web",
/// "cap_add"]`), or of its deepest ancestor found; 1 when none is.
pub fn key_line(text: &str, path: &[&str]) -> usize {
    // (indent, key) of the keys enclosing the current line.
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut best = (0, 1);
    for (index, raw) in text.lines().enumerate() {
        let Some((indent, key)) = key_of(raw) else {
            continue;
        };
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        stack.push((indent, key));
        let depth = stack.len();
        if depth <= path.len()
            && stack.iter().zip(path).all(|((_, k), want)| k == want)
            && depth > best.0
        {
            best = (depth, index + 1);
            if depth == path.len() {
                return index + 1;
            }
        }
    }
    best.1
}

/// `(indent, key)` of a line that holds a mapping key (`  key:` or
/// `  key: value`, the key possibly quoted); `None` for other lines.
fn key_of(line: &str) -> Option<(usize, String)> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('-') {
        return None;
    }
    let indent = line.len() - trimmed.len();
    let (key, rest) = if let Some(q) = trimmed.strip_prefix('"') {
        let end = q.find('"')?;
        (&q[..end], &q[end + 1..])
    } else if let Some(q) = trimmed.strip_prefix('\'') {
        let end = q.find('\'')?;
        (&q[..end], &q[end + 1..])
    } else {
        let end = trimmed.find(':')?;
        (&trimmed[..end], &trimmed[end..])
    };
    let after = rest.strip_prefix(':')?;
    if !(after.is_empty() || after.starts_with(' ') || after.starts_with('\t')) {
        return None;
    }
    Some((indent, key.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "version: '3.8'\nservices:\n  mai-a:\n    image: x\n    cap_add:\n      - NET_ADMIN\n    \"labels\":\n      a: b\nnetworks:\n  default:\n    name: mai-network\n";

    #[test]
    fn finds_nested_keys_quoted_or_not() {
        assert_eq!(key_line(TEXT, &["services", "mai-a", "cap_add"]), 5);
        assert_eq!(key_line(TEXT, &["services", "mai-a", "labels"]), 7);
        assert_eq!(key_line(TEXT, &["networks", "default", "name"]), 11);
    }

    #[test]
    fn a_missing_key_falls_back_to_its_parent() {
        assert_eq!(key_line(TEXT, &["services", "mai-a", "nope"]), 3);
        assert_eq!(key_line(TEXT, &["nothing"]), 1);
    }
}
