#![allow(dead_code)] // each test binary uses a different subset of helpers
//! A Docker daemon of the test's own, which the test may kill: `dockerd`
//! in a network namespace made for it (in the host's namespace a second
//! daemon shares bridge names with the machine's and once took `docker0`
//! away), with its own data root, exec root, pid file, socket, config file
//! (the machine's daemon.json pins the data root) and cgroup parent. The
//! stand-in image is moved in with `docker save | docker load`.
//!
//! Published ports go through iptables only (`userland-proxy: false`):
//! with Docker's userland proxy, a dockerd killed while starting containers
//! leaves `docker-proxy` processes behind that hold those ports until they
//! are killed by hand ("port is already allocated" on every later start;
//! RELIABILITY.md).
//!
//! tenantctl runs inside the same namespace ([`PrivateDaemon::command`]),
//! so the ports its tenants publish on 127.0.0.1 are its 127.0.0.1.
//! `Drop` removes every container, stops the daemon, kills whatever is
//! left in its cgroup, unmounts, and deletes the namespace and folders,
//! also after a failed assertion.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub struct PrivateDaemon {
    pub id: String,
    pub root: PathBuf,
    pub netns: String,
    pub socket: PathBuf,
    child: Option<Child>,
    starts: u32,
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run a command")
}

impl PrivateDaemon {
    /// Starts the daemon and loads the stand-in image into it.
    pub fn start() -> PrivateDaemon {
        super::require_docker_and_image();
        assert!(
            Command::new("dockerd").arg("--version").output().is_ok(),
            "dockerd not found: the fault tests start a private Docker daemon"
        );
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        // Short: containerd's socket path under the exec root must stay
        // within the 108 bytes of a unix socket address.
        let id = format!("{:x}{:x}", std::process::id() % 0xfff, nanos % 0xffffff);
        let root = PathBuf::from(format!("/tmp/tpd{id}"));
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::create_dir_all(root.join("exec")).unwrap();
        std::fs::write(
            root.join("daemon.json"),
            format!(
                r#"{{"storage-driver": "vfs", "log-driver": "json-file", "cgroup-parent": "tpd{id}", "userland-proxy": false}}"#
            ),
        )
        .unwrap();
        let netns = format!("tpd{id}");
        let out = run(Command::new("ip").args(["netns", "add", &netns]));
        assert!(
            out.status.success(),
            "ip netns add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut d = PrivateDaemon {
            socket: root.join("docker.sock"),
            id,
            root,
            netns,
            child: None,
            starts: 0,
        };
        d.in_netns(&["ip", "link", "set", "lo", "up"]);
        d.launch();
        let mut save = Command::new("docker")
            .args(["save", super::STANDIN_IMAGE])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = run(Command::new("docker")
            .args(["-H", &d.host(), "load", "-q"])
            .stdin(save.stdout.take().unwrap()));
        let _ = save.wait();
        assert!(
            load.status.success(),
            "docker load into the private daemon: {}",
            String::from_utf8_lossy(&load.stderr)
        );
        d
    }

    /// `unix:///…/docker.sock`, for `DOCKER_HOST` and `docker -H`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn netns_path(&self) -> String {
        format!("--net=/var/run/netns/{}", self.netns)
    }

    /// A command run inside the daemon's network namespace (nsenter keeps
    /// the host's /sys, which dockerd needs; `ip netns exec` remounts it).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(self.netns_path())
            .arg(program)
            .env("DOCKER_HOST", self.host());
        cmd
    }

    pub fn in_netns(&self, args: &[&str]) -> Output {
        run(self.command(args[0]).args(&args[1..]))
    }

    /// `docker -H <private> args…`.
    pub fn docker(&self, args: &[&str]) -> Output {
        run(Command::new("docker").arg("-H").arg(self.host()).args(args))
    }

    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `GET http://127.0.0.1:<port><path>` from inside the namespace.
    pub fn get(&self, port: u16, path: &str) -> Option<(u16, String)> {
        self.request("GET", port, path, "")
    }

    pub fn request(
        &self,
        method: &str,
        port: u16,
        path: &str,
        body: &str,
    ) -> Option<(u16, String)> {
        let out = self.in_netns(&[
            "curl",
            "-s",
            "-m",
            "3",
            "-X",
            method,
            "--data-binary",
            body,
            "-w",
            "\n%{http_code}",
            &format!("http://127.0.0.1:{port}{path}"),
        ]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n')?;
        let code: u16 = code.trim().parse().ok()?;
        (code != 0).then(|| (code, body.to_string()))
    }

    pub fn is_up(&self) -> bool {
        self.docker(&["version", "--format", "{{.Server.Version}}"])
            .status
            .success()
    }

    fn launch(&mut self) {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("dockerd.log"))
            .unwrap();
        let child = Command::new("nsenter")
            .arg(self.netns_path())
            .arg("dockerd")
            .arg("--data-root")
            .arg(self.root.join("data"))
            .arg("--exec-root")
            .arg(self.root.join("exec"))
            .arg("--pidfile")
            .arg(self.root.join("dockerd.pid"))
            .arg("-H")
            .arg(self.host())
            .arg("--config-file")
            .arg(self.root.join("daemon.json"))
            .args(["--containerd-namespace", &self.netns])
            .args([
                "--containerd-plugins-namespace",
                &format!("{}p", self.netns),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.is_up() {
            assert!(
                Instant::now() < deadline,
                "the private dockerd did not come up:\n{}",
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

    /// `kill -9` of dockerd (its containerd and the containers live on,
    /// as after a crash).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // nsenter execs dockerd: the child's pid is dockerd's.
            let _ = child.kill();
            let _ = child.wait();
        }
        // Its containerd dies with it (parent-death signal) but may linger
        // unreaped; a pid file naming it would make the next dockerd wait
        // for a containerd that never answers.
        let config = format!("{}/exec/containerd/containerd.toml", self.root.display());
        let _ = Command::new("pkill").args(["-9", "-f", &config]).status();
        std::thread::sleep(Duration::from_millis(200));
        let _ = std::fs::remove_file(self.root.join("dockerd.pid"));
        let _ = std::fs::remove_file(self.root.join("exec/containerd/containerd.pid"));
    }

    /// SIGTERM, and a wait (bounded) for dockerd to exit.
    fn terminate(&mut self, within: Duration) {
        if let Some(child) = self.child.as_mut() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + within;
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// A clean restart (SIGTERM, as `systemctl restart docker` does).
    /// What the clean stop leaves running is killed before the start:
    /// containers from before a crash that the daemon no longer knew (a
    /// CI run found one still holding an address on its bridge, so the
    /// container that got that address next answered nobody). Returns how
    /// many processes that was.
    pub fn restart_clean(&mut self) -> usize {
        self.terminate(Duration::from_secs(30));
        let root = self.root.display().to_string();
        let _ = Command::new("pkill").args(["-9", "-f", &root]).status();
        let mut orphans = 0;
        for dir in self.cgroup_dirs() {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines() {
                orphans += 1;
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        if orphans > 0 {
            eprintln!("private dockerd: {orphans} process(es) still running after a clean stop (containers it no longer knew): killed");
        }
        self.restart();
        orphans
    }

    /// Starts dockerd again on the same roots.
    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
    }

    /// The daemon's cgroup folders (`cgroup-parent`) under every
    /// controller, deepest first.
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
            let dir = controller.path().join(format!("tpd{}", self.id));
            if dir.is_dir() {
                walk(&dir, &mut out);
            }
        }
        out
    }
}

impl Drop for PrivateDaemon {
    fn drop(&mut self) {
        if self.child.is_none() || !self.is_up() {
            // Containers are removed through the daemon: bring it back.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.restart())).is_err() {
                eprintln!("private dockerd did not restart for teardown");
            }
        }
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            self.docker(&["rm", "-f", "-v", id]);
        }
        self.terminate(Duration::from_secs(15));
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // containerd and shims started for this daemon, then anything
        // still in its cgroup.
        let root = self.root.display().to_string();
        let _ = Command::new("pkill").args(["-9", "-f", &root]).status();
        for dir in self.cgroup_dirs() {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| m.starts_with(&root))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
        for dir in self.cgroup_dirs() {
            let _ = std::fs::remove_dir(&dir);
        }
    }
}
