#![allow(dead_code)] // each test binary uses a different subset of helpers
//! Let's Encrypt's ACME test server, Pebble (Debian's `pebble`), with its
//! mock DNS `pebble-challtestsrv`, for the HTTPS tests. The test makes
//! Pebble's own HTTPS certificate (a CA and a leaf for 127.0.0.1, with
//! rcgen); DNS answers only the names the test adds, so a domain can be
//! made not to resolve; Pebble validates HTTP-01 on the test nginx's plain
//! port. Both processes are killed on drop, also after a failed assertion.

use super::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Pebble {
    pub dir: PathBuf,
    /// The ACME directory URL.
    pub directory: String,
    /// Trust for Pebble's own HTTPS (`directory_ca`).
    pub ca: PathBuf,
    /// The root that signs the certificates Pebble issues.
    pub issuing_root: PathBuf,
    dns_management: u16,
    children: Vec<Child>,
}

fn write_https_identity(dir: &Path) -> PathBuf {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tenantctl test CA for Pebble");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params.subject_alt_names = vec![
        rcgen::SanType::DnsName("localhost".try_into().unwrap()),
        rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()),
    ];
    let leaf = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    ca_file
}

impl Pebble {
    /// Starts the mock DNS and Pebble; HTTP-01 is validated on
    /// `127.0.0.1:http_port`.
    pub fn start(parent: &Path, http_port: u16) -> Pebble {
        let dir = parent.join("pebble");
        std::fs::create_dir_all(&dir).unwrap();
        let ca = write_https_identity(&dir);
        let (dns, dns_management, listen, management) =
            (free_port(), free_port(), free_port(), free_port());
        let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
        let mut children = Vec::new();
        children.push(
            Command::new("pebble-challtestsrv")
                .args(["-defaultIPv4", "", "-defaultIPv6", ""])
                .args(["-dns01", &format!("127.0.0.1:{dns}")])
                .args(["-management", &format!("127.0.0.1:{dns_management}")])
                .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
                .stdout(log("challtestsrv.log"))
                .stderr(log("challtestsrv.err"))
                .spawn()
                .expect("pebble-challtestsrv not found: install Debian's `pebble` (.ci/run does)"),
        );
        let config = dir.join("pebble.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"pebble": {{"listenAddress": "127.0.0.1:{listen}", "managementListenAddress": "127.0.0.1:{management}", "certificate": "{}", "privateKey": "{}", "httpPort": {http_port}, "tlsPort": {}, "ocspResponderURL": "", "externalAccountBindingRequired": false}}}}"#,
                dir.join("cert.pem").display(),
                dir.join("key.pem").display(),
                free_port(),
            ),
        )
        .unwrap();
        children.push(
            Command::new("pebble")
                .arg("-config")
                .arg(&config)
                .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
                // No random validation delay, no random nonce rejection:
                // the test measures tenantctl, not Pebble's chaos.
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .stdout(log("pebble.log"))
                .stderr(Stdio::null())
                .spawn()
                .expect("pebble not found: install Debian's `pebble` (.ci/run does)"),
        );
        let pebble = Pebble {
            directory: format!("https://127.0.0.1:{listen}/dir"),
            issuing_root: dir.join("issuing-root.pem"),
            dir,
            ca,
            dns_management,
            children,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let root = pebble.curl(&format!("https://127.0.0.1:{management}/roots/0"));
            if let Some(root) = root.filter(|r| r.contains("BEGIN CERTIFICATE")) {
                std::fs::write(&pebble.issuing_root, root).unwrap();
                break;
            }
            assert!(
                Instant::now() < deadline,
                "pebble did not start: {}",
                std::fs::read_to_string(pebble.dir.join("pebble.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        pebble
    }

    fn curl(&self, url: &str) -> Option<String> {
        let out = Command::new("curl")
            .args(["-sf", "-m", "5", "--cacert"])
            .arg(&self.ca)
            .arg(url)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// Makes `host` resolve to 127.0.0.1 for Pebble's validation.
    pub fn add_host(&self, host: &str) {
        let out = Command::new("curl")
            .args(["-sf", "-m", "5", "-X", "POST", "-d"])
            .arg(format!(
                r#"{{"host": "{host}.", "addresses": ["127.0.0.1"]}}"#
            ))
            .arg(format!("http://127.0.0.1:{}/add-a", self.dns_management))
            .output()
            .unwrap();
        assert!(out.status.success(), "challtestsrv add-a {host}: {out:?}");
    }

    /// Stops Pebble (the CA becomes unreachable); DNS stays.
    pub fn stop_ca(&mut self) {
        if let Some(mut ca) = self.children.pop() {
            let _ = ca.kill();
            let _ = ca.wait();
        }
    }

    /// The `[proxy.acme]` table for tenantctl.
    pub fn acme_table(&self, state_dir: &Path) -> String {
        format!(
            "[proxy.acme]\ndirectory = \"{}\"\ndirectory_ca = \"{}\"\nemail = \"ops@example.test\"\nstate_dir = \"{}\"\n",
            self.directory,
            self.ca.display(),
            state_dir.display()
        )
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
