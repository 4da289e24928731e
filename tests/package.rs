//! `make deb`'s package (issue 18): built from the test's binary with the
//! same script, inspected, installed with dpkg on this machine, checked
//! (binary, unit, user in the docker group, a valid example fleet) and
//! purged — leaving the machine as it found it. A machine that already
//! has a tenantctl package installed is left alone (only the inspection
//! runs).

mod common;

use common::contains;
use std::process::Command;

fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd).args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_debian_package_holds_the_server_tool_installs_and_purges() {
    let out_dir = std::env::temp_dir().join(format!("tenantctl-deb-{}", std::process::id()));
    let build = Command::new(common::manifest_dir().join("scripts/build-deb.sh"))
        .args([env!("CARGO_BIN_EXE_tenantctl"), out_dir.to_str().unwrap()])
        .env("DEB_FAST", "1")
        .output()
        .unwrap();
    let (ok, text) = (
        build.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&build.stdout),
            String::from_utf8_lossy(&build.stderr)
        ),
    );
    assert!(ok, "{text}");
    let deb = text.trim().lines().last().unwrap().to_string();
    let (ok, listing) = run("dpkg-deb", &["-c", &deb]);
    assert!(ok, "{listing}");
    for path in [
        "./usr/bin/tenantctl",
        "./lib/systemd/system/tenantctl.service",
        "./etc/tenantctl/tenants.toml",
        "./etc/tenantctl/charts/mai/chart.toml",
        "./usr/share/bash-completion/completions/tenantctl",
        "./usr/share/zsh/vendor-completions/_tenantctl",
        "./usr/share/fish/vendor_completions.d/tenantctl.fish",
        "./usr/share/man/man1/tenantctl.1.gz",
    ] {
        contains(&listing, path);
    }
    let (_, info) = run("dpkg-deb", &["-I", &deb]);
    contains(&info, "Package: tenantctl");
    let (_, conffiles) = run("dpkg-deb", &["-I", &deb, "conffiles"]);
    contains(&conffiles, "/etc/tenantctl/tenants.toml");

    if run("dpkg", &["-s", "tenantctl"]).0 {
        eprintln!(
            "a tenantctl package is installed on this machine already: not installing over it"
        );
        return;
    }
    let user_existed = run("getent", &["passwd", "tenantctl"]).0;
    let state = std::path::Path::new("/var/lib/tenantctl");
    let state_existed = state.exists();
    let (ok, text) = run("dpkg", &["-i", &deb]);
    let installed = std::panic::catch_unwind(|| {
        assert!(ok, "dpkg -i: {text}");
        let (ok, version) = run("/usr/bin/tenantctl", &["--version"]);
        assert!(ok);
        contains(&version, concat!("tenantctl ", env!("CARGO_PKG_VERSION")));
        // `systemctl cat` needs a running systemd; the unit file is what it shows.
        let unit = match run("systemctl", &["cat", "tenantctl"]) {
            (true, text) => text,
            _ => std::fs::read_to_string("/lib/systemd/system/tenantctl.service").unwrap(),
        };
        contains(
            &unit,
            "ExecStart=/usr/bin/tenantctl run -f /etc/tenantctl/tenants.toml",
        );
        contains(&unit, "User=tenantctl");
        let (_, groups) = run("id", &["-nG", "tenantctl"]);
        contains(&groups, "docker");
        let (ok, valid) = run(
            "/usr/bin/tenantctl",
            &["validate", "-f", "/etc/tenantctl/tenants.toml"],
        );
        assert!(ok, "{valid}");
        assert!(std::path::Path::new("/usr/share/man/man1/tenantctl.1.gz").exists());
    });
    let (purged, text) = run("dpkg", &["--purge", "tenantctl"]);
    if !user_existed {
        let _ = run("deluser", &["--system", "tenantctl"]);
        let _ = run("delgroup", &["--system", "tenantctl"]);
    }
    if !state_existed {
        // The package keeps its data folder on purge; this one is empty.
        let _ = std::fs::remove_dir(state);
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    if let Err(panic) = installed {
        std::panic::resume_unwind(panic);
    }
    assert!(purged, "dpkg --purge: {text}");
    assert!(!std::path::Path::new("/usr/bin/tenantctl").exists());
    assert!(!std::path::Path::new("/etc/tenantctl/tenants.toml").exists());
}
