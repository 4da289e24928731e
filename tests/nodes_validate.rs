//! `node` and `--node` on the pure side: which tenants a server's agent
//! loads, which env files it needs, and the file errors a placed fleet
//! can have (each at its `PATH:LINE:COL`). No Docker needed.

use std::path::PathBuf;
use tenantctl::desired::{NodeName, Scope};
use tenantctl::load::{load_desired, load_desired_for};

struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("tenantctl-nodes-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chart() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("charts/mai")
        .display()
        .to_string()
}

/// `body` then a `[defaults]` naming the chart (line numbers are `body`'s).
fn file(dir: &Dir, body: &str) -> PathBuf {
    dir.write(
        "tenants.toml",
        &format!("{body}\n[defaults]\nchart = \"{}\"\n", chart()),
    )
}

fn on(node: &str) -> Scope {
    Scope::Server(Some(NodeName::parse(node).unwrap()))
}

/// Errors as `LINE:COL: message`.
fn errors(path: &std::path::Path, scope: &Scope) -> Vec<String> {
    match load_desired_for(path, scope) {
        Ok(_) => vec![],
        Err(d) => {
            d.0.iter()
                .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
                .collect()
        }
    }
}

const PLACED: &str = r#"[tenants.a1]
port = 8001
node = "a"
env_files = ["a1.env"]
[tenants.b1]
port = 8001
node = "b"
env_files = ["b1.env"]
[tenants.a2]
port = 8002
node = "a"
"#;

#[test]
fn each_server_loads_its_own_tenants_and_only_their_env_files() {
    let dir = Dir::new();
    let path = file(&dir, PLACED);
    dir.write("a1.env", "OPENAI_API_KEY=sk-a1\n");
    // b1.env lives on server b only.
    let a = load_desired_for(&path, &on("a")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.tenants.keys().collect::<Vec<_>>(), ["a1", "a2"]);
    assert_eq!(a.node.as_ref().map(|n| n.as_str()), Some("a"));
    assert_eq!(a.tenants["a1"].env["OPENAI_API_KEY"].value, "sk-a1");
    assert_eq!(a.tenants["a2"].node.as_ref().unwrap().as_str(), "a");
    // On b, its own env file is required and a's is not.
    let b_errors = errors(&path, &on("b"));
    assert_eq!(b_errors.len(), 1, "{b_errors:#?}");
    assert!(
        b_errors[0].starts_with("8:14: env file `b1.env`"),
        "{b_errors:#?}"
    );
    dir.write("b1.env", "OPENAI_API_KEY=sk-b1\n");
    let b = load_desired_for(&path, &on("b")).unwrap();
    assert_eq!(b.tenants.keys().collect::<Vec<_>>(), ["b1"]);
    // `validate` without --node checks every tenant and reads every env file.
    let all = load_desired(&path).unwrap();
    assert_eq!(all.tenants.len(), 3);
    assert_eq!(all.node, None);
}

#[test]
fn a_port_is_unique_per_server_and_a_domain_fleet_wide() {
    let dir = Dir::new();
    let same_server = file(
        &dir,
        "[tenants.a1]\nport = 8001\nnode = \"a\"\n[tenants.a2]\nport = 8001\nnode = \"a\"\n",
    );
    let e = errors(&same_server, &Scope::Fleet);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].starts_with(
            "5:8: port 8001 of tenant `a2` is already used by tenant `a1` on node `a`"
        ),
        "{e:#?}"
    );
    let domains = file(
        &dir,
        "[tenants.a1]\nport = 8001\nnode = \"a\"\ndomain = \"x.example.com\"\n[tenants.b1]\nport = 8001\nnode = \"b\"\ndomain = \"x.example.com\"\n",
    );
    let e = errors(&domains, &on("a"));
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].contains("domain `x.example.com` of tenant `b1` is already used by tenant `a1`"));
}

#[test]
fn a_placed_file_places_every_tenant() {
    let dir = Dir::new();
    let path = file(
        &dir,
        "[tenants.a1]\nport = 8001\nnode = \"a\"\n[tenants.loose]\nport = 8002\n",
    );
    let e = errors(&path, &Scope::Fleet);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].starts_with(
            "4:10: tenant `loose` has no `node`, but the file places tenants on nodes (a)"
        ),
        "{e:#?}"
    );
    // `[defaults] node` places every tenant that names none.
    let defaults = dir.write(
        "defaults.toml",
        &format!(
            "[tenants.a1]\nport = 8001\n[tenants.b1]\nport = 8001\nnode = \"b\"\n[defaults]\nchart = \"{}\"\nnode = \"a\"\n",
            chart()
        ),
    );
    let a = load_desired_for(&defaults, &on("a")).unwrap();
    assert_eq!(a.tenants.keys().collect::<Vec<_>>(), ["a1"]);
}

#[test]
fn the_server_must_be_named_and_known() {
    let dir = Dir::new();
    let path = file(&dir, PLACED);
    dir.write("a1.env", "K=1\n");
    dir.write("b1.env", "K=2\n");
    let e = errors(&path, &Scope::Server(None));
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].starts_with("1:1: the file places tenants on nodes (a, b); say which server this is with `--node NAME`"),
        "{e:#?}"
    );
    let e = errors(&path, &on("c"));
    assert!(
        e[0].contains("no tenant is placed on node `c` (the file's nodes: a, b)"),
        "{e:#?}"
    );
    let unplaced = dir.write(
        "plain.toml",
        &format!(
            "[tenants.x]\nport = 8001\n[defaults]\nchart = \"{}\"\n",
            chart()
        ),
    );
    let e = errors(&unplaced, &on("a"));
    assert!(
        e[0].contains("`--node a` was given, but no tenant in the file has a `node`"),
        "{e:#?}"
    );
    assert!(load_desired_for(&unplaced, &Scope::Server(None)).is_ok());
}

#[test]
fn a_node_name_is_checked_where_it_is_written() {
    let dir = Dir::new();
    let path = file(&dir, "[tenants.a1]\nport = 8001\nnode = \"a b\"\n");
    let e = errors(&path, &Scope::Fleet);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].starts_with("3:8: node `a b` is not a server name"),
        "{e:#?}"
    );
}

#[test]
fn a_swarm_file_places_by_itself_and_is_managed_as_a_whole() {
    let dir = Dir::new();
    let body = "backend = \"swarm\"\n[tenants.a1]\nport = 8001\nnode = \"a\"\n[tenants.b1]\nport = 8001\nnode = \"b\"\n[tenants.free]\nport = 8002\n";
    let path = file(&dir, body);
    // Unplaced tenants are allowed (tenantctl picks), no --node needed.
    let all = load_desired_for(&path, &Scope::Server(None)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.tenants.len(), 3);
    assert_eq!(all.backend, tenantctl::kinds::Backend::Swarm);
    let e = errors(&path, &on("a"));
    assert!(
        e.iter()
            .any(|e| e.starts_with("1:11: `--node a` is for one agent per server")),
        "{e:#?}"
    );
    // An unplaced tenant may not share a port with a placed one.
    let clash = file(&dir, &body.replace("port = 8002", "port = 8001"));
    let e = errors(&clash, &Scope::Server(None));
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].contains("`free` has no `node`: tenantctl could place both on one server"),
        "{e:#?}"
    );
    // Through the routing mesh a port is the whole fleet's.
    let ingress = file(&dir, &format!("publish_mode = \"ingress\"\n{body}"));
    let e = errors(&ingress, &Scope::Server(None));
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].contains("every node answers every port"), "{e:#?}");
    // publish_mode means nothing to plain Docker; an unknown backend is named.
    let docker = file(&dir, "publish_mode = \"host\"\n[tenants.x]\nport = 8001\n");
    assert!(errors(&docker, &Scope::Fleet)[0]
        .starts_with("1:16: publish_mode is for backend = \"swarm\""));
    let typo = file(&dir, "backend = \"swam\"\n[tenants.x]\nport = 8001\n");
    assert!(errors(&typo, &Scope::Fleet)[0].starts_with("1:11: backend `swam`"));
}
