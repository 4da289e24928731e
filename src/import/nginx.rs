//! nginx site files read for what import needs: which `server_name`
//! reaches which host port through `proxy_pass` (directly or through an
//! `upstream`), and the certificate each name is served with. Pure.

use super::{Finding, Severity};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One domain served by proxying to a host port.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub file: PathBuf,
    pub line: usize,
    pub domain: String,
    /// Other names of the same server block (reported, not mapped).
    pub aliases: Vec<String>,
    pub port: u16,
    /// `ssl_certificate` and `ssl_certificate_key`, when both are given.
    pub tls: Option<(String, String)>,
}

#[derive(Debug)]
struct Directive {
    name: String,
    args: Vec<String>,
    line: usize,
    block: Vec<Directive>,
}

/// The proxied sites of several files; `upstream`s may be defined in any
/// of them (nginx's `http` context is one).
pub fn sites(files: &[(PathBuf, String)]) -> (Vec<Site>, Vec<Finding>) {
    let mut findings = Vec::new();
    let mut parsed = Vec::new();
    for (path, text) in files {
        match parse(text) {
            Ok(d) => parsed.push((path, d)),
            Err((line, why)) => findings.push(Finding {
                path: path.clone(),
                line,
                col: None,
                severity: Severity::Unmapped,
                message: format!("nginx syntax: {why}"),
            }),
        }
    }
    let mut upstreams: BTreeMap<String, Option<u16>> = BTreeMap::new();
    for (_, dirs) in &parsed {
        walk(dirs, &mut |d| {
            if d.name == "upstream" {
                let port = d
                    .block
                    .iter()
                    .find(|s| s.name == "server")
                    .and_then(|s| s.args.first())
                    .and_then(|a| port_of(a));
                if let Some(name) = d.args.first() {
                    upstreams.insert(name.clone(), port);
                }
            }
        });
    }
    let mut sites = Vec::new();
    for (path, dirs) in &parsed {
        walk(dirs, &mut |d| {
            if d.name != "server" || d.block.is_empty() {
                return;
            }
            let names: Vec<String> = d
                .block
                .iter()
                .filter(|s| s.name == "server_name")
                .flat_map(|s| s.args.clone())
                .filter(|n| n != "_" && !n.is_empty())
                .collect();
            let mut passes = Vec::new();
            walk(&d.block, &mut |s| {
                if s.name == "proxy_pass" {
                    passes.push((s.line, s.args.first().cloned().unwrap_or_default()));
                }
            });
            let arg = |name: &str| {
                d.block
                    .iter()
                    .find(|s| s.name == name)
                    .and_then(|s| s.args.first().cloned())
            };
            let tls = arg("ssl_certificate").zip(arg("ssl_certificate_key"));
            let Some((line, target)) = passes.first().cloned() else {
                // A redirect to HTTPS, a default site: nothing to map.
                findings.push(Finding {
                    path: (*path).clone(),
                    line: d.line,
                    col: None,
                    severity: Severity::Note,
                    message: format!(
                        "server block for {} proxies nowhere (a redirect or a static site); left out",
                        if names.is_empty() { "no name".to_string() } else { names.join(" ") }
                    ),
                });
                return;
            };
            let port = proxy_port(&target, &upstreams);
            match (names.first(), port) {
                (Some(domain), Some(port)) => sites.push(Site {
                    file: (*path).clone(),
                    line: d.line,
                    domain: domain.to_ascii_lowercase(),
                    aliases: names[1..].to_vec(),
                    port,
                    tls,
                }),
                (None, _) => findings.push(Finding {
                    path: (*path).clone(),
                    line: d.line,
                    col: None,
                    severity: Severity::Unmapped,
                    message: format!("server block proxying to `{target}` has no server_name"),
                }),
                (Some(domain), None) => findings.push(Finding {
                    path: (*path).clone(),
                    line,
                    col: None,
                    severity: Severity::Unmapped,
                    message: format!(
                        "`proxy_pass {target}` of {domain} reaches no host port import can tell (use `http://HOST:PORT` or an upstream with one server)"
                    ),
                }),
            }
        });
    }
    (sites, findings)
}

fn walk<'a>(dirs: &'a [Directive], f: &mut impl FnMut(&'a Directive)) {
    for d in dirs {
        f(d);
        walk(&d.block, f);
    }
}

/// `http://127.0.0.1:8001/`, `http://mai_x` (an upstream) → the port.
fn proxy_port(target: &str, upstreams: &BTreeMap<String, Option<u16>>) -> Option<u16> {
    let rest = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))?;
    let authority = rest.split('/').next()?;
    match upstreams.get(authority) {
        Some(port) => *port,
        None => port_of(authority),
    }
}

/// The port of `host:port` (`localhost:8001`, `[::1]:8001`).
fn port_of(addr: &str) -> Option<u16> {
    let (_, port) = addr.rsplit_once(':')?;
    port.parse().ok()
}

/// Directives of a config text, nested. Errors carry a line.
fn parse(text: &str) -> Result<Vec<Directive>, (usize, String)> {
    let tokens = tokenize(text)?;
    let mut pos = 0;
    let dirs = block(&tokens, &mut pos, 0)?;
    if pos < tokens.len() {
        return Err((tokens[pos].1, "unexpected `}`".into()));
    }
    Ok(dirs)
}

fn block(
    tokens: &[(String, usize)],
    pos: &mut usize,
    depth: usize,
) -> Result<Vec<Directive>, (usize, String)> {
    let mut out = Vec::new();
    let mut words: Vec<(String, usize)> = Vec::new();
    while *pos < tokens.len() {
        let (tok, line) = &tokens[*pos];
        *pos += 1;
        match tok.as_str() {
            ";" => {
                if let Some(d) = directive(&mut words) {
                    out.push(d);
                }
            }
            "{" => {
                let mut d =
                    directive(&mut words).ok_or((*line, "`{` without a directive".to_string()))?;
                d.block = block(tokens, pos, depth + 1)?;
                out.push(d);
            }
            "}" if depth > 0 => return Ok(out),
            "}" => {
                *pos -= 1;
                return Ok(out);
            }
            _ => words.push((tok.clone(), *line)),
        }
    }
    if depth > 0 {
        return Err((
            tokens.last().map_or(1, |t| t.1),
            "a `{` block is not closed".into(),
        ));
    }
    if let Some((_, line)) = words.first() {
        return Err((*line, "a directive is missing its `;`".into()));
    }
    Ok(out)
}

fn directive(words: &mut Vec<(String, usize)>) -> Option<Directive> {
    let mut all = std::mem::take(words).into_iter();
    let (name, line) = all.next()?;
    Some(Directive {
        name,
        args: all.map(|(w, _)| w).collect(),
        line,
        block: vec![],
    })
}

/// Words, quoted strings, `;`, `{`, `}` with their lines; `#` comments out.
fn tokenize(text: &str) -> Result<Vec<(String, usize)>, (usize, String)> {
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            ';' | '{' | '}' => tokens.push((c.to_string(), line)),
            '"' | '\'' => {
                let start = line;
                let mut word = String::new();
                loop {
                    match chars.next() {
                        None => return Err((start, "a quoted string is not closed".into())),
                        Some(q) if q == c => break,
                        Some('\\') => word.extend(chars.next()),
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            word.push(ch);
                        }
                    }
                }
                tokens.push((word, start));
            }
            c => {
                let mut word = c.to_string();
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, ';' | '{' | '}') {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                tokens.push((word, line));
            }
        }
    }
    Ok(tokens)
}

/// Regular files of a sites directory, sorted (Debian's `default` too).
pub fn site_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
# /etc/nginx/sites-available/mai-clients
upstream mai_companyabc {
    server localhost:8001;
}

upstream mai_companyxyz {
    server localhost:8002;
}

server {
    listen 80;
    server_name companyabc.mai-production.com;
    location / {
        proxy_pass http://mai_companyabc;
        proxy_set_header Host $host;
    }
}

server {
    listen 443 ssl;
    server_name companyxyz.mai-production.com www.companyxyz.com;
    ssl_certificate /etc/ssl/xyz.pem;
    ssl_certificate_key "/etc/ssl/xyz.key";
    location / { proxy_pass http://127.0.0.1:8002/; }
}

server {
    listen 80 default_server;
    server_name _;
    return 444;
}
"#;

    #[test]
    fn the_seeds_sites_map_to_ports_through_upstreams_or_directly() {
        let (sites, findings) = sites(&[(PathBuf::from("mai-clients"), SEED.to_string())]);
        assert_eq!(sites.len(), 2, "{findings:?}");
        assert_eq!(sites[0].domain, "companyabc.mai-production.com");
        assert_eq!(sites[0].port, 8001);
        assert_eq!(sites[0].line, 11);
        assert_eq!(sites[1].port, 8002);
        assert_eq!(sites[1].aliases, ["www.companyxyz.com"]);
        assert_eq!(
            sites[1].tls,
            Some(("/etc/ssl/xyz.pem".into(), "/etc/ssl/xyz.key".into()))
        );
        assert!(
            findings.iter().all(|f| f.severity == Severity::Note),
            "{findings:?}"
        );
    }

    #[test]
    fn an_unclosed_block_is_an_error_with_a_line() {
        let (_, findings) = sites(&[(PathBuf::from("x"), "server {\n listen 80;\n".into())]);
        assert_eq!(findings[0].severity, Severity::Unmapped);
        assert!(findings[0].message.contains("not closed"));
    }

    #[test]
    fn a_proxy_to_an_unknown_upstream_is_reported() {
        let text =
            "server { server_name a.example.com; location / { proxy_pass http://nowhere; } }";
        let (sites, findings) = sites(&[(PathBuf::from("x"), text.into())]);
        assert!(sites.is_empty());
        assert!(
            findings[0].message.contains("reaches no host port"),
            "{findings:?}"
        );
    }
}
