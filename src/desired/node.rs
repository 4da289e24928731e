//! Which server a tenant runs on (`node`), and which tenants this process
//! manages (its [`Scope`]). One file describes the whole fleet; each
//! server's agent (`run --node NAME`) keeps only its own tenants, so every
//! agent can follow the same branch. Pure: no IO.

use std::collections::BTreeSet;
use std::fmt;

/// A server's name as the file and `--node` spell it: letters, digits,
/// `.`, `-` and `_`, starting with a letter or digit, at most 253 bytes
/// (a hostname fits; so does a Swarm node label).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct NodeName(String);

impl NodeName {
    pub fn parse(text: &str) -> Result<NodeName, String> {
        let ok_start = text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        let ok_chars = text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if text.len() <= 253 && ok_start && ok_chars {
            Ok(NodeName(text.to_string()))
        } else {
            Err(format!(
                "node `{text}` is not a server name; use letters, digits, `.`, `-` and `_` (such as `hetzner-2`)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for NodeName {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        NodeName::parse(text)
    }
}

/// Which tenants of the file a command works on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// All of them, on no server in particular (`validate`, CI): every
    /// tenant is checked, every env file read.
    #[default]
    Fleet,
    /// The tenants of one server: `Some(node)` with `--node`, `None` for
    /// the single-server case. A file that places tenants on nodes needs
    /// the node named (otherwise this server would take every tenant).
    Server(Option<NodeName>),
}

impl Scope {
    /// Whether a tenant placed on `node` is this scope's. In a file
    /// without nodes every tenant is; an unplaced tenant in a file with
    /// nodes is an error reported elsewhere (and counts as nobody's).
    pub fn includes(&self, node: Option<&str>) -> bool {
        match self {
            Scope::Fleet | Scope::Server(None) => true,
            Scope::Server(Some(mine)) => node == Some(mine.as_str()),
        }
    }

    /// The server named with `--node`, for metrics and messages.
    pub fn node(&self) -> Option<&NodeName> {
        match self {
            Scope::Server(Some(node)) => Some(node),
            _ => None,
        }
    }
}

/// Why a scope cannot be served from this file (a whole-file error: the
/// last good state is kept). `nodes` are the nodes the file names.
pub fn scope_error(scope: &Scope, nodes: &BTreeSet<String>) -> Option<String> {
    let list = || nodes.iter().cloned().collect::<Vec<_>>().join(", ");
    match scope {
        Scope::Fleet => None,
        Scope::Server(None) if nodes.is_empty() => None,
        Scope::Server(None) => Some(format!(
            "the file places tenants on nodes ({}); say which server this is with `--node NAME`, or this server would run every tenant",
            list()
        )),
        Scope::Server(Some(node)) if nodes.is_empty() => Some(format!(
            "`--node {node}` was given, but no tenant in the file has a `node`; set `node` on the tenants (or in [defaults]), or drop `--node`"
        )),
        Scope::Server(Some(node)) if !nodes.contains(node.as_str()) => Some(format!(
            "no tenant is placed on node `{node}` (the file's nodes: {}); check the name given to `--node`",
            list()
        )),
        Scope::Server(Some(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_are_hostname_like() {
        assert!(NodeName::parse("hetzner-2").is_ok());
        assert!(NodeName::parse("srv1.example.com").is_ok());
        assert!(NodeName::parse("node_3").is_ok());
        for bad in ["", "-a", "a b", "a/b", "ä", &"a".repeat(254)] {
            assert!(NodeName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_server_scope_keeps_only_its_node() {
        let a = Scope::Server(Some(NodeName::parse("a").unwrap()));
        assert!(a.includes(Some("a")));
        assert!(!a.includes(Some("b")));
        assert!(!a.includes(None));
        assert!(Scope::Server(None).includes(None));
        assert!(Scope::Fleet.includes(Some("b")));
    }

    #[test]
    fn a_placed_file_needs_the_node_named_and_known() {
        let nodes = set(&["a", "b"]);
        assert_eq!(scope_error(&Scope::Fleet, &nodes), None);
        assert!(scope_error(&Scope::Server(None), &nodes)
            .unwrap()
            .contains("--node NAME"));
        let c = Scope::Server(Some(NodeName::parse("c").unwrap()));
        assert!(scope_error(&c, &nodes)
            .unwrap()
            .contains("no tenant is placed on node `c` (the file's nodes: a, b)"));
        assert!(scope_error(&c, &set(&[]))
            .unwrap()
            .contains("no tenant in the file has a `node`"));
        let a = Scope::Server(Some(NodeName::parse("a").unwrap()));
        assert_eq!(scope_error(&a, &nodes), None);
        assert_eq!(scope_error(&Scope::Server(None), &set(&[])), None);
    }
}
