//! Env files (`KEY=VALUE` per line) hold secrets outside git. Errors name
//! the file and line but never echo a line's content: it may be a secret.

use crate::diagnostic::{at_line, Diagnostic};
use std::collections::BTreeMap;
use std::path::Path;

/// Parses an env file: blank lines and `#` comments are skipped, an optional
/// `export ` prefix is allowed, and one level of matching quotes is removed.
pub fn parse_env_file(
    path: &Path,
    text: &str,
) -> Result<BTreeMap<String, String>, Vec<Diagnostic>> {
    let mut values = BTreeMap::new();
    let mut diags = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            diags.push(at_line(
                path,
                index + 1,
                "expected `KEY=VALUE` (content not shown: env files hold secrets)",
            ));
            continue;
        };
        let key = key.trim();
        if !super::rules::is_env_key(key) {
            diags.push(at_line(
                path,
                index + 1,
                "the key is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)",
            ));
            continue;
        }
        let value = value.trim();
        if value.contains('\0') {
            diags.push(at_line(
                path,
                index + 1,
                "the value holds a NUL byte, which no process environment can carry (content not shown)",
            ));
            continue;
        }
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        values.insert(key.to_string(), unquoted.to_string());
    }
    if diags.is_empty() {
        Ok(values)
    } else {
        Err(diags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_lines_become_values() {
        let text = "# secrets\nexport API_KEY=\"s3cret\"\n\nTOKEN='t'\nPLAIN=a=b\n";
        let values = parse_env_file(Path::new("x.env"), text).unwrap();
        assert_eq!(values["API_KEY"], "s3cret");
        assert_eq!(values["TOKEN"], "t");
        assert_eq!(values["PLAIN"], "a=b");
    }

    #[test]
    fn env_file_errors_never_echo_the_line() {
        let errs = parse_env_file(Path::new("x.env"), "ok=1\nhunter2\n").unwrap_err();
        assert_eq!(errs[0].line, 2);
        assert!(!errs[0].to_string().contains("hunter2"));
    }
}
