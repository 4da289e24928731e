#![allow(dead_code)] // each test binary uses a different subset of helpers
//! A Docker Swarm cluster of the test's own: `n` dockerd processes, each
//! in its own network namespace (and UTS namespace, for its own hostname
//! `<id>n<i>`), joined by veth pairs to a bridge inside a "switch"
//! namespace the test also makes, so nothing of it is in the host's
//! namespace: the machine's daemon, its `docker0` and its iptables are
//! never touched. Each daemon has its own data root, exec root, pid file,
//! socket, config file and cgroup parent; the stand-in image is moved in
//! with `docker save | docker load`. Node 0 inits the swarm, the others
//! join as workers. `Drop` kills every daemon and what runs in its
//! cgroups, unmounts, and deletes the namespaces and folders — also
//! after a failed assertion.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub struct SwarmNode {
    /// Its hostname, which Swarm reports and `node = "…"` names.
    pub name: String,
    pub addr: String,
    pub netns: String,
    pub root: PathBuf,
    child: Option<Child>,
}

pub struct SwarmCluster {
    pub id: String,
    switch: String,
    pub nodes: Vec<SwarmNode>,
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run a command")
}

fn ok(cmd: &mut Command, what: &str) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl SwarmNode {
    pub fn host(&self) -> String {
        format!("unix://{}", self.root.join("docker.sock").display())
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        run(Command::new("docker").arg("-H").arg(self.host()).args(args))
    }

    pub fn docker_ok(&self, args: &[&str]) -> String {
        ok(
            Command::new("docker").arg("-H").arg(self.host()).args(args),
            &format!("docker {args:?} on {}", self.name),
        )
    }

    fn is_up(&self) -> bool {
        self.docker(&["version", "--format", "{{.Server.Version}}"])
            .status
            .success()
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("dockerd.log"))
            .unwrap();
        let script = format!(
            "hostname {} && exec dockerd --data-root {root}/data --exec-root {root}/exec --pidfile {root}/dockerd.pid -H {host} --config-file {root}/daemon.json --containerd-namespace {ns} --containerd-plugins-namespace {ns}p",
            self.name,
            root = self.root.display(),
            host = self.host(),
            ns = self.netns,
        );
        let child = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.netns))
            .args(["unshare", "--uts", "sh", "-c", &script])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start dockerd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.is_up() {
            assert!(
                Instant::now() < deadline,
                "dockerd of {} did not come up:\n{}",
                self.name,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.root.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `kill -9` of dockerd and its containerd: the node is gone for the
    /// swarm (its containers' shims may live on, as after a crash).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let config = format!("{}/exec/containerd/containerd.toml", self.root.display());
        let _ = Command::new("pkill").args(["-9", "-f", &config]).status();
        std::thread::sleep(Duration::from_millis(200));
        let _ = std::fs::remove_file(self.root.join("dockerd.pid"));
        let _ = std::fs::remove_file(self.root.join("exec/containerd/containerd.pid"));
    }

    /// Starts dockerd again on the same roots (it rejoins the swarm).
    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
    }

    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        walk(&e.path(), out);
                    }
                }
            }
            out.push(dir.to_path_buf());
        }
        let mut out = Vec::new();
        for controller in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = controller.path().join(&self.netns);
            if dir.is_dir() {
                walk(&dir, &mut out);
            }
        }
        out
    }
}

impl SwarmCluster {
    /// `n` nodes on 192.168.231.0/24 (private to this cluster's switch).
    pub fn start(n: usize) -> SwarmCluster {
        super::require_docker_and_image();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        // Short: containerd's socket path must fit a unix socket address.
        let id = format!("tsw{:x}{:x}", std::process::id() % 0xfff, nanos % 0xfffff);
        let switch = format!("{id}s");
        let mut cluster = SwarmCluster {
            id: id.clone(),
            switch: switch.clone(),
            nodes: Vec::new(),
        };
        let ip = |args: &[&str]| ok(Command::new("ip").args(args), &format!("ip {args:?}"));
        let in_ns = |ns: &str, args: &[&str]| {
            ok(
                Command::new("ip").args(["netns", "exec", ns]).args(args),
                &format!("in {ns}: {args:?}"),
            )
        };
        ip(&["netns", "add", &switch]);
        in_ns(&switch, &["ip", "link", "add", "br0", "type", "bridge"]);
        in_ns(&switch, &["ip", "link", "set", "br0", "up"]);
        for i in 0..n {
            let netns = format!("{id}n{i}");
            let root = PathBuf::from(format!("/tmp/{netns}"));
            std::fs::create_dir_all(root.join("data")).unwrap();
            std::fs::create_dir_all(root.join("exec")).unwrap();
            std::fs::write(
                root.join("daemon.json"),
                format!(
                    r#"{{"storage-driver": "vfs", "log-driver": "json-file", "cgroup-parent": "{netns}", "userland-proxy": false}}"#
                ),
            )
            .unwrap();
            ip(&["netns", "add", &netns]);
            let (a, b) = (format!("{id}a{i}"), format!("{id}b{i}"));
            ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
            ip(&["link", "set", &a, "netns", &switch]);
            ip(&["link", "set", &b, "netns", &netns]);
            in_ns(&switch, &["ip", "link", "set", &a, "master", "br0", "up"]);
            in_ns(&netns, &["ip", "link", "set", &b, "name", "eth0"]);
            let addr = format!("192.168.231.{}", 11 + i);
            in_ns(
                &netns,
                &["ip", "addr", "add", &format!("{addr}/24"), "dev", "eth0"],
            );
            in_ns(&netns, &["ip", "link", "set", "eth0", "up"]);
            in_ns(&netns, &["ip", "link", "set", "lo", "up"]);
            cluster.nodes.push(SwarmNode {
                name: format!("{id}n{i}"),
                addr,
                netns,
                root,
                child: None,
            });
        }
        for node in &mut cluster.nodes {
            node.launch();
        }
        cluster.load_image(super::STANDIN_IMAGE);
        let manager = &cluster.nodes[0];
        manager.docker_ok(&[
            "swarm",
            "init",
            "--advertise-addr",
            &manager.addr,
            "--listen-addr",
            &format!("{}:2377", manager.addr),
        ]);
        let token = manager.docker_ok(&["swarm", "join-token", "-q", "worker"]);
        let join = format!("{}:2377", manager.addr);
        for node in &cluster.nodes[1..] {
            node.docker_ok(&[
                "swarm",
                "join",
                "--token",
                &token,
                "--advertise-addr",
                &node.addr,
                &join,
            ]);
        }
        cluster
    }

    pub fn manager(&self) -> &SwarmNode {
        &self.nodes[0]
    }

    /// Moves an image built on the machine's daemon into every node.
    pub fn load_image(&self, tag: &str) {
        for node in &self.nodes {
            let mut save = Command::new("docker")
                .args(["save", tag])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let load = run(Command::new("docker")
                .args(["-H", &node.host(), "load", "-q"])
                .stdin(save.stdout.take().unwrap()));
            let _ = save.wait();
            assert!(
                load.status.success(),
                "docker load {tag} into {}",
                node.name
            );
        }
    }

    /// `GET http://<addr>:<port><path>` from inside node 0's namespace
    /// (every node's address is reachable from there).
    pub fn get(&self, addr: &str, port: u16, path: &str) -> Option<(u16, String)> {
        let out = run(Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.nodes[0].netns))
            .args(["curl", "-s", "-m", "3", "-w", "\n%{http_code}"])
            .arg(format!("http://{addr}:{port}{path}")));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n')?;
        let code: u16 = code.trim().parse().ok()?;
        (code != 0).then(|| (code, body.to_string()))
    }

    /// `GET /` with a `Host` header on `addr:port`, from node 0's namespace.
    pub fn get_host(&self, addr: &str, port: u16, host: &str) -> Option<(u16, String)> {
        let out = run(Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.nodes[0].netns))
            .args(["curl", "-s", "-m", "3", "-H", &format!("Host: {host}")])
            .args(["-w", "\n%{http_code}"])
            .arg(format!("http://{addr}:{port}/")));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n')?;
        let code: u16 = code.trim().parse().ok()?;
        (code != 0).then(|| (code, body.to_string()))
    }

    /// A command run in node 0's namespace with DOCKER_HOST = the manager
    /// (so a listener it opens is reachable through [`get`](Self::get)).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/var/run/netns/{}", self.nodes[0].netns))
            .arg(program)
            .env("DOCKER_HOST", self.manager().host());
        cmd
    }
}

impl Drop for SwarmCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut() {
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
            }
        }
        std::thread::sleep(Duration::from_secs(2));
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            let root = node.root.display().to_string();
            let _ = Command::new("pkill").args(["-9", "-f", &root]).status();
            for dir in node.cgroup_dirs() {
                let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        for node in &self.nodes {
            let root = node.root.display().to_string();
            let mut ours: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .filter(|m| m.starts_with(&root) || m.contains(&node.netns))
                .collect();
            ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in ours {
                let _ = Command::new("umount").args(["-l", m]).status();
            }
            let _ = Command::new("ip")
                .args(["netns", "del", &node.netns])
                .status();
            let _ = std::fs::remove_dir_all(&node.root);
            for dir in node.cgroup_dirs() {
                let _ = std::fs::remove_dir(&dir);
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.switch])
            .status();
    }
}
