//! Test fixtures for integration tests against the real Docker Engine.
//!
//! A [`Fleet`] owns one unique run id. Everything it creates (through
//! tenantctl or by hand) carries the label `tenantctl-test.run=<id>`, and
//! `Drop` removes exactly those objects, even when the test panicked.
//! Without a reachable Docker daemon the fixture panics: these tests never
//! pass by skipping.

#![allow(dead_code)] // each test binary uses a different subset of helpers

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const RUN_LABEL: &str = "tenantctl-test.run";
pub const STANDIN_IMAGE: &str = "tenantctl-standin:latest";

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Panics with a clear message when Docker is not there, then builds the
/// stand-in image once per test binary.
pub fn require_docker_and_image() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let info = Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output();
        match info {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "Docker Engine not reachable: these integration tests need a running Docker daemon.\n`docker info` said: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => panic!("Docker CLI not found ({e}): these integration tests need Docker installed and running"),
        }
        let status = Command::new(manifest_dir().join("scripts/build-standin-image.sh"))
            .arg(STANDIN_IMAGE)
            .status()
            .expect("run scripts/build-standin-image.sh");
        assert!(status.success(), "building the stand-in image failed");
    });
}

/// A free TCP port on loopback, as chosen by the kernel, and never one this
/// test binary was given before (the kernel may hand a just-released port
/// out again, and two tenants of one file must not share one).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One GET or PUT over plain HTTP/1.0: `(status, body)`, or `None` when
/// nothing answers.
pub fn http(method: &str, port: u16, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// The first `/metrics` line of the listener on `listen` that starts with
/// `line_start`, if it answers and has one.
pub fn metric(listen: u16, line_start: &str) -> Option<String> {
    let body = http("GET", listen, "/metrics", "")?.1;
    body.lines()
        .find(|l| l.starts_with(line_start))
        .map(str::to_string)
}

/// Whether Prometheus text has a series `name{labels…} value`, in any
/// label order (a registry's constant labels come last).
pub fn has_series(text: &str, name: &str, labels: &[(&str, &str)], value: &str) -> bool {
    text.lines().any(|l| {
        l.starts_with(&format!("{name}{{"))
            && l.ends_with(&format!("}} {value}"))
            && labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
    })
}

/// Waits (bounded) until `GET path` on `port` answers 200; its body.
pub fn wait_http_ok(port: u16, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some((200, body)) = http("GET", port, path, "") {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "port {port} never answered 200 on {path}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A test's own fleet: unique prefix, network, label and temp directory.
pub struct Fleet {
    pub run_id: String,
    pub dir: PathBuf,
    pub file: PathBuf,
    extra_images: std::cell::RefCell<Vec<String>>,
}

impl Fleet {
    pub fn new() -> Self {
        require_docker_and_image();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let run_id = format!("tt{:x}{:x}", std::process::id() % 0xfff, nanos);
        let dir = std::env::temp_dir().join(format!("tenantctl-{run_id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tenants.toml");
        Fleet {
            run_id,
            dir,
            file,
            extra_images: Default::default(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.run_id
    }

    pub fn container_name(&self, tenant: &str) -> String {
        format!("{}-{tenant}", self.run_id)
    }

    /// The header every test file starts with: our prefix, network and run
    /// label, the mAI chart, and the stand-in image with small limits.
    pub fn header(&self) -> String {
        format!(
            r#"name_prefix = "{id}"
network = "{id}-net"
labels = {{ "{RUN_LABEL}" = "{id}" }}

# Backups (and the one taken before every upgrade) stay in the test's folder.
[backup]
dir = "{backups}"

# A recreate's new container must stay healthy this long (10 s by default).
[rollout]
min_ready = "1s"
state_dir = "{state}"

[defaults]
chart = "{chart}"
image = "{STANDIN_IMAGE}"
resources = {{ cpus = 0.25, memory = "64M", memory_reservation = "32M" }}
health = {{ interval = "1s", timeout = "1s", start_period = "1s" }}
"#,
            id = self.run_id,
            chart = manifest_dir().join("charts/mai").display(),
            backups = self.dir.join("backups").display(),
            state = self.dir.join("state").display(),
        )
    }

    /// Writes header + tenants (`(name, port, extra toml lines)`).
    pub fn write(&self, tenants: &[(&str, u16, &str)]) {
        let mut text = self.header();
        for (name, port, extra) in tenants {
            text.push_str(&format!("\n[tenants.{name}]\nport = {port}\n{extra}\n"));
        }
        self.write_raw(&text);
    }

    pub fn write_raw(&self, text: &str) {
        std::fs::write(&self.file, text).unwrap();
    }

    /// Runs `tenantctl <args> -f <file>`.
    pub fn tenantctl(&self, args: &[&str]) -> Output {
        self.tenantctl_on(&self.file, args)
    }

    /// Runs `tenantctl <args> -f <file>` on another tenants file. `apply`
    /// takes this fleet's own host lock unless `args` name one: tests run
    /// in parallel on one host, each fleet its own "host".
    pub fn tenantctl_on(&self, file: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantctl"));
        cmd.args(args)
            .arg("-f")
            .arg(file)
            .env("TENANTCTL_LOG", "warn");
        if args.first() == Some(&"apply") && !args.contains(&"--lock-file") {
            cmd.arg("--lock-file").arg(self.apply_lock());
        }
        cmd.output().expect("run tenantctl")
    }

    /// The host lock `apply` takes in tests unless told otherwise.
    pub fn apply_lock(&self) -> PathBuf {
        self.dir.join("apply.lock")
    }

    /// Runs tenantctl and asserts its exit code; returns stdout + stderr.
    pub fn tenantctl_expect(&self, args: &[&str], code: i32) -> String {
        let out = self.tenantctl(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "tenantctl {args:?} exited {:?}:\n{text}",
            out.status.code()
        );
        text
    }

    pub fn apply(&self) -> String {
        self.tenantctl_expect(&["apply"], 0)
    }

    /// The id of the container named for `tenant`, if it exists.
    pub fn container_id(&self, tenant: &str) -> Option<String> {
        let out = docker(&["inspect", "-f", "{{.Id}}", &self.container_name(tenant)]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    pub fn inspect(&self, tenant: &str, format: &str) -> String {
        docker_ok(&["inspect", "-f", format, &self.container_name(tenant)])
    }

    pub fn volume_exists(&self, name: &str) -> bool {
        docker(&["volume", "inspect", name]).status.success()
    }

    /// Containers carrying this run's label.
    pub fn containers(&self) -> Vec<String> {
        let out = docker_ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("label={RUN_LABEL}={}", self.run_id),
            "--format",
            "{{.Names}}",
        ]);
        let mut names: Vec<String> = out.lines().map(str::to_string).collect();
        names.sort();
        names
    }

    /// Runs a foreign container (no tenantctl label) named `name`.
    pub fn run_foreign(&self, name: &str, extra: &[&str]) -> String {
        let label = format!("{RUN_LABEL}={}", self.run_id);
        let mut args = vec!["run", "-d", "--name", name, "--label", &label];
        args.extend_from_slice(extra);
        args.push(STANDIN_IMAGE);
        docker_ok(&args)
    }

    /// Remember an image tag to remove at the end.
    pub fn track_image(&self, tag: &str) {
        self.extra_images.borrow_mut().push(tag.to_string());
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let filter = format!("label={RUN_LABEL}={}", self.run_id);
        let ids = |kind: &[&str]| -> Vec<String> {
            let mut args: Vec<&str> = kind.to_vec();
            args.extend(["-q", "--filter", &filter]);
            let out = docker(&args);
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        };
        for id in ids(&["ps", "-a"]) {
            docker(&["rm", "-f", &id]);
        }
        for id in ids(&["volume", "ls"]) {
            docker(&["volume", "rm", "-f", &id]);
        }
        for id in ids(&["network", "ls"]) {
            if !docker(&["network", "rm", &id]).status.success() {
                // A container a killed process was still creating may hold
                // it for a moment: remove ours once more, then retry.
                std::thread::sleep(Duration::from_millis(500));
                for c in ids(&["ps", "-a"]) {
                    docker(&["rm", "-f", &c]);
                }
                docker(&["network", "rm", &id]);
            }
        }
        for tag in self.extra_images.borrow().iter() {
            docker(&["rmi", "-f", tag]);
        }
        if std::thread::panicking() || std::env::var_os("TENANTCTL_TEST_KEEP").is_some() {
            // A failed test's files (the controller's log above all) are
            // what tells why: kept, and named (also on request).
            eprintln!("test files kept in {}", self.dir.display());
            if std::thread::panicking() {
                print_controller_log_tails(&self.dir);
            }
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The last lines of each controller log in `dir`, for a failed test's
/// output: CI shows only what the test printed.
fn print_controller_log_tails(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("controller-") && name.ends_with(".log")) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(60)..];
        eprintln!("---- last {} lines of {name} ----", tail.len());
        for line in tail {
            eprintln!("{line}");
        }
    }
}

/// A command's stdout and stderr, as text.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn contains(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected {needle:?} in:\n{haystack}"
    );
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

impl Fleet {
    /// For tests that drive the library directly: a runtime, this fleet's
    /// desired state, and a client of the machine's Docker Engine.
    pub fn library_session(
        &self,
    ) -> (
        tokio::runtime::Runtime,
        tenantctl::desired::DesiredState,
        tenantctl::docker::DockerClient,
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let desired = tenantctl::load::load_desired(&self.file).unwrap();
        let docker = runtime
            .block_on(tenantctl::docker::DockerClient::connect(
                Duration::from_secs(30),
            ))
            .expect("Docker Engine reachable");
        (runtime, desired, docker)
    }
}

/// A `tenantctl run` process for one fleet; killed on drop if still alive.
pub struct ControllerProc {
    pub child: std::process::Child,
    pub log: PathBuf,
    pub listen: u16,
}

impl Fleet {
    /// Starts `tenantctl run` on this fleet's file with its own lock file
    /// and listener. `extra` adds flags (e.g. `--resync 1s`).
    pub fn start_controller(&self, extra: &[&str]) -> ControllerProc {
        let listen = free_port();
        let log = self.dir.join(format!("controller-{listen}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantctl"));
        cmd.arg("run");
        // In GitOps mode the tenants file comes from the repository.
        if !extra.contains(&"--git") {
            cmd.arg("-f").arg(&self.file);
        }
        let child = cmd
            .args(["--listen", &format!("127.0.0.1:{listen}")])
            .arg("--lock-file")
            .arg(self.dir.join("controller.lock"))
            .args(extra)
            .env("TENANTCTL_LOG", "info")
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start tenantctl run");
        let proc = ControllerProc { child, log, listen };
        let deadline = Instant::now() + Duration::from_secs(20);
        while http("GET", listen, "/healthz", "").is_none() {
            assert!(
                Instant::now() < deadline,
                "controller did not start:\n{}",
                proc.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        proc
    }
}

impl ControllerProc {
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until the log has `needle`; panics with the log.
    pub fn wait_log(&self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.logs().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the controller log:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the exit code.
    pub fn terminate(&mut self, within: Duration) -> Option<i32> {
        Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "controller did not exit after SIGTERM:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ControllerProc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `check` every 20 ms until it holds; returns how long it took.
/// Panics after `within`, with `what` in the message.
pub fn time_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// A real nginx (Debian's package) on a loopback port with its own prefix,
/// started by the test and stopped on drop. `reload_command` counts reloads.
pub struct Nginx {
    pub prefix: PathBuf,
    pub port: u16,
}

impl Nginx {
    pub fn start(fleet: &Fleet) -> Nginx {
        Nginx::start_in(fleet, None)
    }

    /// Starts nginx inside a network namespace of the test's (`netns`),
    /// where the addresses it proxies to are reachable; `None`: the host's.
    pub fn start_in(fleet: &Fleet, netns: Option<&str>) -> Nginx {
        let prefix = fleet.dir.join("nginx");
        for sub in ["conf.d", "logs", "tmp"] {
            std::fs::create_dir_all(prefix.join(sub)).unwrap();
        }
        let p = prefix.display();
        std::fs::write(
            prefix.join("nginx.conf"),
            format!(
                "worker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {p}/tmp/body;\n  proxy_temp_path {p}/tmp/proxy;\n  fastcgi_temp_path {p}/tmp/fastcgi;\n  uwsgi_temp_path {p}/tmp/uwsgi;\n  scgi_temp_path {p}/tmp/scgi;\n  include {p}/conf.d/*.conf;\n}}\n"
            ),
        )
        .unwrap();
        let nginx = Nginx {
            prefix,
            port: free_port(),
        };
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/var/run/netns/{ns}")).arg("nginx");
                c
            }
            None => Command::new("nginx"),
        };
        let out = cmd
            .args(nginx.base_args())
            .output()
            .expect("nginx not found: install Debian's `nginx` package (.ci/run does)");
        assert!(
            out.status.success(),
            "nginx did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        nginx
    }

    fn base_args(&self) -> Vec<String> {
        vec![
            "-p".into(),
            self.prefix.display().to_string(),
            "-c".into(),
            self.prefix.join("nginx.conf").display().to_string(),
        ]
    }

    /// The `[proxy]` table pointing tenantctl at this nginx.
    pub fn proxy_table(&self, test_command: Option<&str>) -> String {
        let args = self
            .base_args()
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let counter = self.prefix.join("reloads");
        let reload = format!(
            "echo reload >> {} && exec nginx {}",
            counter.display(),
            self.base_args().join(" ")
        );
        format!(
            "[proxy]\nkind = \"nginx\"\nconfig_dir = \"{}\"\ntest_command = {}\nreload_command = [\"sh\", \"-c\", {:?}]\nlisten = \"127.0.0.1:{}\"\n",
            self.prefix.join("conf.d").display(),
            test_command.map(str::to_string).unwrap_or_else(|| format!("[\"nginx\", {args}, \"-t\", \"-q\"]")),
            format!("{reload} -s reload"),
            self.port
        )
    }

    pub fn reloads(&self) -> usize {
        std::fs::read_to_string(self.prefix.join("reloads"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    /// GET / with a Host header through nginx: `(status, headers+body)`.
    pub fn get(&self, host: &str) -> Option<(u16, String)> {
        NginxClient { port: self.port }.get(host)
    }
}

/// Requests through a test nginx from another thread.
pub struct NginxClient {
    pub port: u16,
}

impl NginxClient {
    pub fn get(&self, host: &str) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "GET / HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, response))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let mut args = self.base_args();
        args.extend(["-s".into(), "stop".into()]);
        let _ = Command::new("nginx").args(&args).output();
    }
}
