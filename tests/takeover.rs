//! Taking over a server run the seed's way (issue 12), for real: Debian's
//! docker-compose starts the clients from the seed's compose file shape,
//! a real nginx serves them from a hand-written sites file with
//! `upstream` blocks, and tenantctl imports and adopts them.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// `tenantctl <args>` (no `-f`): the import command reads no tenants file.
fn tenantctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .args(args)
        .env("TENANTCTL_LOG", "warn")
        .output()
        .expect("run tenantctl")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The test's chart: the mAI chart with the stand-in image and a health
/// check fast enough for a test.
fn write_chart(f: &Fleet) -> PathBuf {
    let dir = f.dir.join("chart");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("chart.toml"),
        format!(
            r#"name = "mai"
image = "{STANDIN_IMAGE}"
container_port = 8080
restart = "unless-stopped"
stop_timeout = 10
[env]
WEBUI_NAME = "mAI - {{display_name}}"
ENABLE_SIGNUP = "false"
ENV = "prod"
[volumes]
data = "/app/backend/data"
backups = "/app/backups"
[resources]
cpus = 0.25
memory = "64M"
[health]
path = "/health"
interval = "1s"
timeout = "1s"
retries = 3
start_period = "1s"
command = ["curl", "-f", "http://localhost:8080/health"]
"#
        ),
    )
    .unwrap();
    dir
}

/// One client directory the seed's way: `/opt/clients/<prefix>-<client>/`
/// with its docker-compose.yml and bind-mounted `./data`, `./backups`.
fn write_client(f: &Fleet, root: &Path, client: &str, display: &str, port: u16) -> PathBuf {
    let name = f.container_name(client);
    let dir = root.join(&name);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::create_dir_all(dir.join("backups")).unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            r#"version: '3.8'
services:
  {name}:
    image: {STANDIN_IMAGE}
    container_name: {name}
    volumes:
      - ./data:/app/backend/data
      - ./backups:/app/backups
    ports:
      - "{port}:8080"
    environment:
      - WEBUI_NAME=mAI - {display}
      - ENABLE_SIGNUP=false
      - ENV=prod
    restart: unless-stopped
    labels:
      - "{RUN_LABEL}={run}"
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:8080/health"]
      interval: 1s
      timeout: 1s
      retries: 3
      start_period: 1s
    deploy:
      resources:
        limits:
          cpus: '0.25'
          memory: 64M
        reservations:
          cpus: '1'

networks:
  default:
    name: {run}-net
    external: true
"#,
            run = f.run_id
        ),
    )
    .unwrap();
    dir
}

fn compose_up(dir: &Path) {
    let out = Command::new("docker-compose")
        .arg("-f")
        .arg(dir.join("docker-compose.yml"))
        .args(["up", "-d"])
        .output()
        .expect("docker-compose not found: install Debian's `docker-compose` (.ci/run does)");
    assert!(out.status.success(), "docker-compose up: {}", text(&out));
}

/// The seed's hand-written nginx sites file: one upstream per client.
fn sites_file(clients: &[(&str, u16)], listen: u16) -> String {
    let mut s = String::from("# hand-written, as in the seed\n");
    for (c, port) in clients {
        s.push_str(&format!(
            "upstream mai_{c} {{\n    server 127.0.0.1:{port};\n}}\n\n"
        ));
    }
    for (c, _) in clients {
        s.push_str(&format!(
            "server {{\n    listen 127.0.0.1:{listen};\n    server_name {c}.example.test;\n    location / {{\n        proxy_pass http://mai_{c};\n        proxy_set_header Host $host;\n    }}\n}}\n\n"
        ));
    }
    s
}

fn reload(nginx: &Nginx) {
    let out = Command::new("nginx")
        .arg("-p")
        .arg(&nginx.prefix)
        .arg("-c")
        .arg(nginx.prefix.join("nginx.conf"))
        .args(["-s", "reload"])
        .output()
        .unwrap();
    assert!(out.status.success(), "nginx reload: {}", text(&out));
    std::thread::sleep(Duration::from_millis(500));
}

fn import(
    root: &Path,
    sites: &Path,
    chart: &Path,
    out: &Path,
    prefix: &str,
    extra: &[&str],
) -> Output {
    let (root, sites, chart, out) = (
        path_str(root),
        path_str(sites),
        path_str(chart),
        path_str(out),
    );
    let mut args = vec![
        "import",
        "--compose-root",
        &root,
        "--nginx",
        &sites,
        "--chart",
        &chart,
        "--out",
        &out,
        "--name-prefix",
        prefix,
    ];
    args.extend_from_slice(extra);
    tenantctl(&args)
}

fn data(port: u16) -> Option<String> {
    http("GET", port, "/data/note.txt", "").map(|(_, body)| body)
}

#[test]
fn a_compose_server_is_imported_and_adopted_in_place_with_its_data() {
    let f = Fleet::new();
    let label = format!("{RUN_LABEL}={}", f.run_id);
    docker_ok(&[
        "network",
        "create",
        "--label",
        &label,
        &format!("{}-net", f.run_id),
    ]);
    let nginx = Nginx::start(&f);
    let chart = write_chart(&f);
    let root = f.dir.join("clients");
    let clients = [
        ("alpha", "Alpha GmbH", free_port()),
        ("bravo", "Bravo AG", free_port()),
        ("charlie", "Charlie KG", free_port()),
    ];
    let mut dirs = Vec::new();
    for (c, display, port) in &clients {
        let dir = write_client(&f, &root, c, display, *port);
        compose_up(&dir);
        dirs.push(dir);
    }
    let mut compose_ids = Vec::new();
    for (c, _, port) in &clients {
        wait_http_ok(*port, "/health");
        let (status, _) = http("PUT", *port, "/data/note.txt", &format!("{c}'s data")).unwrap();
        assert_eq!(status, 200);
        compose_ids.push(f.container_id(c).unwrap());
    }
    let sites_dir = nginx.prefix.join("conf.d");
    let site_list: Vec<(&str, u16)> = clients.iter().map(|(c, _, p)| (*c, *p)).collect();
    std::fs::write(
        sites_dir.join("mai-clients.conf"),
        sites_file(&site_list, nginx.port),
    )
    .unwrap();
    reload(&nginx);
    contains(
        &nginx.get("alpha.example.test").unwrap().1,
        "mAI - Alpha GmbH",
    );

    // import: a file that validates, with each client's domain and data.
    let out = f.dir.join("imported");
    let run = import(&root, &sites_dir, &chart, &out, &f.run_id, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let toml_path = out.join("tenants.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    contains(&toml, "domain = \"bravo.example.test\"");
    contains(&toml, "display_name = \"Bravo AG\"");
    contains(
        &toml,
        &format!("data = \"{}\"", path_str(&dirs[1].join("data"))),
    );
    let first = std::fs::read(&toml_path).unwrap();
    let again = import(&root, &sites_dir, &chart, &out, &f.run_id, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(
        first,
        std::fs::read(&toml_path).unwrap(),
        "a second import changed the file"
    );
    let validated = f.tenantctl_on(&toml_path, &["validate"]);
    assert!(validated.status.success(), "{}", text(&validated));

    // plan --adopt: three adoptions and nothing else.
    let plan = f.tenantctl_on(&toml_path, &["plan", "--adopt", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan --json");
    assert!(json["create_network"].is_null(), "{json}");
    assert_eq!(json["orphans"].as_array().unwrap().len(), 0);
    for t in json["tenants"].as_array().unwrap() {
        assert_eq!(t["conflicts"].as_array().unwrap().len(), 0, "{t}");
        let steps = t["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 1, "{t}");
        assert_eq!(steps[0]["action"], "adopt", "{t}");
    }
    let text_plan = text(&f.tenantctl_on(&toml_path, &["plan", "--adopt"]));
    contains(&text_plan, "Plan: 3 to adopt, 0 to create, 0 to recreate");

    // charlie's new container will fail its health check; delta is a
    // container with a tenant's name but other data: never adopted.
    let delta_port = free_port();
    let elsewhere = f.dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let delta_id = f.run_foreign(
        &f.container_name("delta"),
        &[
            "-p",
            &format!("{delta_port}:8080"),
            "-v",
            &format!("{}:/app/backend/data", path_str(&elsewhere)),
        ],
    );
    let mut edited = toml.clone();
    edited.push_str("env = { STANDIN_FAIL_HEALTH = \"1\" }\n");
    edited.push_str(&format!(
        "\n[tenants.delta]\nport = {delta_port}\nvolumes = {{ data = \"{}\", backups = \"{}\" }}\nlabels = {{ \"{RUN_LABEL}\" = \"{}\" }}\n",
        path_str(&f.dir.join("delta-data")),
        path_str(&f.dir.join("delta-backups")),
        f.run_id
    ));
    // charlie's is the last table: the env line lands in it.
    assert_eq!(toml.rfind("[tenants."), toml.find("[tenants.charlie]"));
    std::fs::write(&toml_path, &edited).unwrap();

    let applied = f.tenantctl_on(&toml_path, &["apply", "--adopt", "--adopt-deadline", "20s"]);
    let report = text(&applied);
    assert_eq!(applied.status.code(), Some(1), "{report}");
    for c in ["alpha", "bravo"] {
        contains(&report, &format!("ok   {c}: adopt (downtime "));
    }
    contains(&report, "FAIL charlie:");
    contains(&report, "put back");
    contains(&report, "FAIL delta:");
    contains(&report, "not adopted");
    for line in report.lines().filter(|l| l.contains("downtime")) {
        eprintln!("adoption: {line}");
    }

    // Adopted: ours now, same port and bind sources, the data is there,
    // nginx's hand-written upstream still reaches it, the old one is gone.
    for (i, (c, display, port)) in clients.iter().enumerate().take(2) {
        let id = f.container_id(c).unwrap();
        assert_ne!(id, compose_ids[i], "{c} was not replaced");
        assert_eq!(
            f.inspect(c, "{{index .Config.Labels \"tenantctl.tenant\"}}"),
            *c
        );
        contains(
            &docker_ok(&["port", &f.container_name(c), "8080"]),
            &format!(":{port}"),
        );
        let mounts = f.inspect(c, "{{range .Mounts}}{{.Source}} {{end}}");
        contains(&mounts, &path_str(&dirs[i].join("data")));
        contains(&mounts, &path_str(&dirs[i].join("backups")));
        assert_eq!(data(*port).as_deref(), Some(format!("{c}'s data").as_str()));
        contains(
            &nginx.get(&format!("{c}.example.test")).unwrap().1,
            &format!("mAI - {display}"),
        );
        assert!(
            docker(&["inspect", &format!("{}-pre-adopt", f.container_name(c))])
                .status
                .code()
                != Some(0)
        );
    }
    // Rolled back: the very compose container serves again, with its data.
    assert_eq!(f.container_id("charlie").unwrap(), compose_ids[2]);
    assert_eq!(f.inspect("charlie", "{{.State.Running}}"), "true");
    assert_eq!(data(clients[2].2).as_deref(), Some("charlie's data"));
    assert!(
        !docker(&["inspect", &format!("{}--new", f.container_name("charlie"))])
            .status
            .success()
    );
    // Not adopted: untouched.
    assert_eq!(f.container_id("delta").unwrap(), delta_id);
    assert_eq!(f.inspect("delta", "{{.State.Running}}"), "true");

    // Once fixed, a second apply adopts charlie and changes nothing else.
    let fixed = edited.replace("env = { STANDIN_FAIL_HEALTH = \"1\" }\n", "");
    let fixed = &fixed[..fixed.find("\n[tenants.delta]").unwrap()];
    std::fs::write(&toml_path, fixed).unwrap();
    let second = f.tenantctl_on(&toml_path, &["apply", "--adopt"]);
    let second_text = text(&second);
    assert_eq!(second.status.code(), Some(0), "{second_text}");
    contains(&second_text, "ok   charlie: adopt (downtime ");
    assert_eq!(second_text.matches("ok   ").count(), 1, "{second_text}");
    assert_eq!(data(clients[2].2).as_deref(), Some("charlie's data"));
    let third = text(&f.tenantctl_on(&toml_path, &["apply"]));
    contains(&third, "Nothing to do.");
}

#[test]
fn run_adopt_keep_old_keeps_the_old_container_and_exports_the_downtime() {
    let f = Fleet::new();
    let port = free_port();
    let data_dir = f.dir.join("echo-data");
    let backups_dir = f.dir.join("echo-backups");
    for d in [&data_dir, &backups_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    let name = f.container_name("echo");
    let old_id = f.run_foreign(
        &name,
        &[
            "-p",
            &format!("127.0.0.1:{port}:8080"),
            "-v",
            &format!("{}:/app/backend/data", path_str(&data_dir)),
            "-v",
            &format!("{}:/app/backups", path_str(&backups_dir)),
        ],
    );
    wait_http_ok(port, "/health");
    http("PUT", port, "/data/note.txt", "echo's data").unwrap();
    f.write(&[(
        "echo",
        port,
        &format!(
            "volumes = {{ data = \"{}\", backups = \"{}\" }}",
            path_str(&data_dir),
            path_str(&backups_dir)
        ),
    )]);
    let mut ctl = f.start_controller(&["--adopt", "--keep-old", "--resync", "1s"]);
    let listen = ctl.listen;
    time_until(
        "the controller adopted echo",
        Duration::from_secs(60),
        || {
            let format = "{{index .Config.Labels \"tenantctl.tenant\"}}";
            let out = docker(&["inspect", "-f", format, &name]);
            String::from_utf8_lossy(&out.stdout).trim() == "echo"
        },
    );
    time_until("the downtime metric", Duration::from_secs(10), || {
        metric(
            listen,
            "tenantctl_adoption_downtime_seconds{tenant=\"echo\"}",
        )
        .is_some()
    });
    let line = metric(
        listen,
        "tenantctl_adoption_downtime_seconds{tenant=\"echo\"}",
    )
    .unwrap();
    eprintln!("run --adopt: {line}");
    let seconds: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(seconds > 0.0 && seconds < 60.0, "{line}");
    ctl.terminate(Duration::from_secs(15));
    let kept = format!("{name}-pre-adopt");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.Id}}", &kept]), old_id);
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.Running}}", &kept]),
        "false"
    );
    assert_eq!(data(port).as_deref(), Some("echo's data"));
}

#[test]
fn import_reports_unknown_keys_and_bad_yaml_and_writes_nothing_partial() {
    let f = Fleet::new();
    let chart = write_chart(&f);
    let root = f.dir.join("clients");
    write_client(&f, &root, "good", "Good", 18001);
    let odd = write_client(&f, &root, "odd", "Odd", 18002);
    let compose = odd.join("docker-compose.yml");
    let with_cap = std::fs::read_to_string(&compose).unwrap().replace(
        "    restart: unless-stopped\n",
        "    restart: unless-stopped\n    cap_add:\n      - NET_ADMIN\n",
    );
    std::fs::write(&compose, with_cap).unwrap();
    let bad = root.join(f.container_name("bad"));
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("docker-compose.yml"),
        "services:\n  x:\n    image: [oops\n",
    )
    .unwrap();
    let sites = f.dir.join("sites");
    std::fs::create_dir_all(&sites).unwrap();
    let out = f.dir.join("out");

    let run = import(&root, &sites, &chart, &out, &f.run_id, &[]);
    let report = text(&run);
    assert_eq!(run.status.code(), Some(1), "{report}");
    let cap_line = std::fs::read_to_string(&compose)
        .unwrap()
        .lines()
        .position(|l| l.contains("cap_add"))
        .unwrap()
        + 1;
    contains(
        &report,
        &format!("{}:{cap_line}: service key `cap_add`", compose.display()),
    );
    // The flow sequence opened on line 3 is still open at the end.
    contains(
        &report,
        &format!(
            "{}:4:1: YAML syntax",
            bad.join("docker-compose.yml").display()
        ),
    );
    contains(&report, "nothing was written");
    assert!(
        !out.exists(),
        "import wrote {out:?} although items did not carry over"
    );

    let partial = import(&root, &sites, &chart, &out, &f.run_id, &["--allow-partial"]);
    assert_eq!(partial.status.code(), Some(0), "{}", text(&partial));
    let toml = std::fs::read_to_string(out.join("tenants.toml")).unwrap();
    contains(&toml, "[tenants.good]");
    let written_report = std::fs::read_to_string(out.join("import-report.md")).unwrap();
    contains(&written_report, "cap_add");
    contains(&written_report, "## Not carried over (2)");
    let mut entries: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["import-report.md", "tenants.toml"]);
}

#[test]
fn the_dev_instance_reaches_the_host_and_uses_its_named_volume() {
    let f = Fleet::new();
    let label = format!("{RUN_LABEL}={}", f.run_id);
    let volume = format!("{}_dev_data", f.run_id);
    let web = format!("{}-web", f.run_id);
    // Both exist before tenantctl, made by someone else (compose, a proxy).
    docker_ok(&["volume", "create", "--label", &label, &volume]);
    docker_ok(&["network", "create", "--label", &label, &web]);
    let port = free_port();
    f.write(&[(
        "dev",
        port,
        &format!(
            r#"domain = "dev.example.test"
env = {{ WEBUI_NAME = "mAI Development", OLLAMA_BASE_URL = "http://host.docker.internal:11434" }}
extra_hosts = {{ "host.docker.internal" = "host-gateway" }}
volumes = {{ data = "{volume}" }}
labels = {{ caddy = "{{domain}}", "caddy.reverse_proxy" = "{{{{upstreams 8080}}}}" }}
networks = ["{web}"]
resources = {{ cpus = 0, memory = "0", memory_reservation = "0" }}"#
        ),
    )]);
    f.apply();
    wait_http_ok(port, "/health");
    let gateway = docker_ok(&[
        "network",
        "inspect",
        "bridge",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
    ]);
    let hosts = http("GET", port, "/hosts", "").unwrap().1;
    assert!(
        hosts
            .lines()
            .any(|l| l.starts_with(&gateway) && l.contains("host.docker.internal")),
        "host.docker.internal is not {gateway} in:\n{hosts}"
    );
    assert_eq!(
        f.inspect(
            "dev",
            "{{range .Mounts}}{{if eq .Destination \"/app/backend/data\"}}{{.Name}}{{end}}{{end}}"
        ),
        volume
    );
    http("PUT", port, "/data/dev.txt", "kept").unwrap();
    assert_eq!(
        f.inspect("dev", "{{index .Config.Labels \"caddy\"}}"),
        "dev.example.test"
    );
    assert_eq!(
        f.inspect("dev", "{{index .Config.Labels \"caddy.reverse_proxy\"}}"),
        "{{upstreams 8080}}"
    );
    let networks = f.inspect(
        "dev",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
    );
    contains(&networks, &web);
    contains(&networks, &format!("{}-net", f.run_id));
    assert_eq!(
        f.inspect("dev", "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}"),
        "0 0"
    );
    // Converged: a second apply changes nothing; the volume is still used.
    contains(&f.apply(), "Nothing to do.");
    assert_eq!(data_of(port, "dev.txt").as_deref(), Some("kept"));
    // The volume carries none of our labels: it stays the operator's.
    let labels = docker_ok(&["volume", "inspect", "-f", "{{json .Labels}}", &volume]);
    assert!(!labels.contains("tenantctl."), "{labels}");
}

fn data_of(port: u16, name: &str) -> Option<String> {
    http("GET", port, &format!("/data/{name}"), "").map(|(_, body)| body)
}
