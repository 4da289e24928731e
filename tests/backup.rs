//! Backups and restores on the real Docker Engine (issue 13): data written
//! through the stand-in, archived through the Engine's archive API, and
//! restored into the tenant's volume on this host.

mod common;

use common::*;
use std::path::PathBuf;
use std::time::Duration;

fn get(port: u16, name: &str) -> Option<String> {
    match http("GET", port, &format!("/data/{name}"), "") {
        Some((200, body)) => Some(body),
        _ => None,
    }
}

/// The entries of a folder, sorted; none when it does not exist.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut all: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    all.sort();
    all
}

fn put(port: u16, name: &str, body: &str) {
    let (status, _) = http("PUT", port, &format!("/data/{name}"), body).unwrap();
    assert_eq!(status, 200);
}

/// A fleet of one tenant `a` with its backups under the fleet's folder.
fn fleet_with_backups(extra: &str) -> (Fleet, u16, PathBuf) {
    let f = Fleet::new();
    let port = free_port();
    let dir = f.dir.join("backups");
    // The header's [backup] table names this folder.
    f.write(&[("a", port, extra)]);
    f.apply();
    wait_http_ok(port, "/health");
    (f, port, dir)
}

fn ids(f: &Fleet) -> Vec<String> {
    let out = f.tenantctl_expect(&["backups", "list", "a", "--json"], 0);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_restore_makes_the_data_exactly_the_backup_and_verify_checks_it() {
    let (f, port, dir) = fleet_with_backups("");
    put(port, "one.txt", "v1");
    put(port, "two.txt", "v2");
    // The app's SQLite database, as Open WebUI keeps it.
    let volume = format!("{}-a-data", f.run_id);
    let mountpoint = docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", &volume]);
    let db = rusqlite::Connection::open(PathBuf::from(&mountpoint).join("webui.db")).unwrap();
    db.execute_batch("CREATE TABLE chat(id INTEGER PRIMARY KEY, body TEXT); INSERT INTO chat(body) VALUES ('hello');")
        .unwrap();
    drop(db);
    let out = f.tenantctl_expect(&["backup", "a"], 0);
    contains(&out, "ok   a: backup ");
    contains(&out, "3 files");
    let list = f.tenantctl_expect(&["backups", "list", "a"], 0);
    contains(&list, "verified");
    assert_eq!(ids(&f).len(), 1);

    // Changed, and a file that did not exist at backup time (a stale -wal).
    put(port, "one.txt", "changed");
    put(port, "webui.db-wal", "stale");
    let out = f.tenantctl_expect(&["restore", "a", "--latest"], 0);
    contains(&out, "ok   a: restored backup ");
    wait_http_ok(port, "/health");
    assert_eq!(get(port, "one.txt").as_deref(), Some("v1"));
    assert_eq!(get(port, "two.txt").as_deref(), Some("v2"));
    assert_eq!(
        get(port, "webui.db-wal"),
        None,
        "a file newer than the backup survived"
    );
    // Nothing of the restore's own bookkeeping stays in the volume.
    let left = names(std::path::Path::new(&mountpoint));
    assert!(
        left.iter().all(|n| !n.starts_with(".tenantctl")),
        "{left:?}"
    );

    let out = f.tenantctl_expect(&["backups", "verify", "a"], 0);
    contains(&out, "ok   a ");
    contains(&out, "3 files, 1 SQLite database(s) pass integrity_check");
    contains(&f.tenantctl_expect(&["backups", "list", "a"], 0), " ok ");

    // A damaged archive: refused before the data is touched.
    put(port, "one.txt", "after");
    let archive = std::fs::read_dir(dir.join("a"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.zst"))
        .unwrap();
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&archive, &bytes).unwrap();
    let out = f.tenantctl_expect(&["restore", "a", "--latest"], 1);
    contains(&out, "damaged");
    contains(&out, "nothing was changed");
    assert_eq!(get(port, "one.txt").as_deref(), Some("after"));
    let out = f.tenantctl_expect(&["backups", "verify", "a"], 1);
    contains(&out, "FAIL a ");
}

#[test]
fn a_restore_that_fails_its_health_check_puts_the_previous_data_back() {
    let (f, port, _) = fleet_with_backups("");
    put(port, "one.txt", "good");
    f.tenantctl_expect(&["backup", "a"], 0);
    // The stand-in fails its health check while this file is in its data.
    put(port, "FAIL_HEALTH", "x");
    f.tenantctl_expect(&["backup", "a"], 0);
    let all = ids(&f);
    assert_eq!(all.len(), 2, "{all:?}");
    // Back to the good one: the marker, newer than that backup, goes.
    f.tenantctl_expect(&["restore", "a", &all[0]], 0);
    wait_http_ok(port, "/health");
    assert_eq!(get(port, "FAIL_HEALTH"), None);
    put(port, "now.txt", "current");
    // The bad one: restored, unhealthy, rolled back to what ran before.
    let out = f.tenantctl_expect(&["restore", "a", &all[1], "--health-deadline", "5s"], 1);
    contains(&out, "previous data was put back");
    wait_http_ok(port, "/health");
    assert_eq!(get(port, "now.txt").as_deref(), Some("current"));
    assert_eq!(get(port, "FAIL_HEALTH"), None);
}

#[test]
fn a_restore_under_a_running_controller_is_not_undone() {
    let (f, port, _) = fleet_with_backups("");
    put(port, "one.txt", "v1");
    f.tenantctl_expect(&["backup", "a"], 0);
    put(port, "one.txt", "v2");
    let mut ctl = f.start_controller(&["--resync", "1s"]);
    std::thread::sleep(Duration::from_secs(2));
    f.tenantctl_expect(&["restore", "a", "--latest"], 0);
    // Several resyncs later the restored data is still there and the
    // container is the same one (not recreated), running.
    let id = f.container_id("a").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(get(port, "one.txt").as_deref(), Some("v1"));
    assert_eq!(f.container_id("a").unwrap(), id);
    assert_eq!(f.inspect("a", "{{.State.Status}}"), "running");
    ctl.terminate(Duration::from_secs(15));
}

#[test]
fn retention_keeps_the_newest_and_after_command_gets_each_archive() {
    let (f, port, dir) = fleet_with_backups("");
    let log = f.dir.join("after-command.log");
    let text = std::fs::read_to_string(&f.file).unwrap().replace(
        "[backup]\n",
        &format!(
            "[backup]\nkeep_last = 2\nafter_command = [\"sh\", \"-c\", \"echo \\\"$0\\\" >> {}\"]\n",
            path_str(&log)
        ),
    );
    f.write_raw(&text);
    for i in 0..3 {
        put(port, "n.txt", &i.to_string());
        f.tenantctl_expect(&["backup", "a"], 0);
    }
    let kept = ids(&f);
    assert_eq!(kept.len(), 2, "{kept:?}");
    let archives = names(&dir.join("a"))
        .iter()
        .filter(|n| n.ends_with(".tar.zst"))
        .count();
    assert_eq!(archives, 2, "an archive of a removed backup is left");
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(calls.lines().count(), 3, "{calls}");
    assert!(calls.lines().all(|l| l.ends_with(".tar.zst")), "{calls}");
}

#[test]
fn a_tenant_without_a_container_is_a_clear_error_and_nothing_is_written() {
    let f = Fleet::new();
    let dir = f.dir.join("backups");
    f.write(&[("a", free_port(), "")]);
    let out = f.tenantctl_expect(&["backup", "a"], 1);
    contains(&out, "has no container");
    assert!(names(&dir.join("a")).is_empty());
    let out = f.tenantctl_expect(&["restore", "a", "--latest"], 1);
    contains(&out, "no such backup");
}

#[test]
fn an_upgrade_under_run_is_backed_up_first() {
    let (f, port, _) = fleet_with_backups("");
    put(port, "one.txt", "written by v1");
    let old_image = f.inspect("a", "{{.Image}}");
    // "v2": the same stand-in under a new tag with a label, so a new id.
    let v2 = format!("{}-app:v2", f.run_id);
    let build = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'FROM {STANDIN_IMAGE}\\nLABEL v=2\\n' | docker build -q -t {v2} -"
        ))
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    f.track_image(&v2);
    let mut ctl = f.start_controller(&["--resync", "1s"]);
    f.write(&[("a", port, &format!("image = \"{v2}\""))]);
    time_until("the upgrade", Duration::from_secs(60), || {
        let name = f.container_name("a");
        let out = docker(&["inspect", "-f", "{{.Config.Image}}", &name]);
        String::from_utf8_lossy(&out.stdout).trim() == v2
    });
    ctl.terminate(Duration::from_secs(15));
    let out = f.tenantctl_expect(&["backups", "list", "a", "--json"], 0);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let first = &list.as_array().unwrap()[0];
    assert_eq!(first["reason"], "pre-upgrade", "{out}");
    assert_eq!(first["image_id"], old_image.as_str(), "{out}");
    assert_eq!(first["image"], STANDIN_IMAGE, "{out}");
    assert_eq!(get(port, "one.txt").as_deref(), Some("written by v1"));
}

/// The frozen-tenant test leaves a container frozen for ~20 s, and while
/// it is, the first listing pass of a controller started by another test
/// did not return on this machine (the scheduled-backups test then saw
/// its tenant never created within 20 s; alone, or with the frozen test
/// skipped, the suite passes). The two do not overlap. Whether Docker's
/// list waits on a frozen container is not yet verified (see the note).
fn frozen_tenant_guard() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn run_takes_scheduled_backups_and_exports_them() {
    let _alone = frozen_tenant_guard();
    let f = Fleet::new();
    let port = free_port();
    let text = f.header().replace(
        "[backup]\n",
        "[backup]\nschedule = \"*/2 * * * * *\"\nkeep_last = 3\n",
    );
    f.write_raw(&format!("{text}\n[tenants.a]\nport = {port}\n"));
    let mut ctl = f.start_controller(&["--resync", "1s"]);
    wait_http_ok(port, "/health");
    put(port, "one.txt", "scheduled");
    time_until("three scheduled backups", Duration::from_secs(60), || {
        ids(&f).len() >= 3
    });
    // The folder is read for the metrics at least every minute.
    time_until("the backup metric", Duration::from_secs(70), || {
        metric(
            ctl.listen,
            "tenantctl_backup_last_success_timestamp_seconds{",
        )
        .is_some()
    });
    let exported = metric(
        ctl.listen,
        "tenantctl_backup_last_success_timestamp_seconds{",
    )
    .unwrap();
    contains(&exported, "tenant=\"a\"");
    ctl.terminate(Duration::from_secs(15));
    // Retention ran after each: never more than keep_last.
    assert!(ids(&f).len() <= 3, "{:?}", ids(&f));
    assert_eq!(get(port, "one.txt").as_deref(), Some("scheduled"));
}

#[test]
fn purge_deletes_a_departed_tenants_volumes_only_after_a_final_backup() {
    let (f, port, _) = fleet_with_backups("");
    put(port, "one.txt", "last words");
    let volume = format!("{}-a-data", f.run_id);
    // Still in the file: refused.
    let out = f.tenantctl_expect(&["purge", "a", "--yes"], 1);
    contains(&out, "is in the file");
    // Gone from the file and pruned: its volumes stay until purge.
    let keep = free_port();
    f.write(&[("b", keep, "")]);
    f.tenantctl_expect(&["apply", "--prune"], 0);
    assert!(f.volume_exists(&volume));
    let out = f.tenantctl_expect(&["purge", "a", "--yes"], 0);
    contains(&out, "final backup");
    assert!(!f.volume_exists(&volume), "{out}");
    assert!(!f.volume_exists(&format!("{}-a-backups", f.run_id)));
    assert!(
        f.volume_exists(&format!("{}-b-data", f.run_id)),
        "another tenant's volume went"
    );
    // The final backup holds the data and verifies.
    let out = f.tenantctl_expect(&["backups", "verify", "a"], 0);
    contains(&out, "ok   a ");
    let list = f.tenantctl_expect(&["backups", "list", "a", "--json"], 0);
    contains(&list, "\"reason\": \"final\"");
    // Nothing left to purge.
    contains(
        &f.tenantctl_expect(&["purge", "a", "--yes"], 1),
        "nothing to purge",
    );
}

/// The host directory behind the tenant's data volume (tests run as root).
fn data_dir(f: &Fleet, tenant: &str) -> PathBuf {
    let volume = format!("{}-{tenant}-data", f.run_id);
    PathBuf::from(docker_ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Mountpoint}}",
        &volume,
    ]))
}

/// `size` bytes nobody can compress, straight into the volume.
fn random_file(path: &std::path::Path, size: &str) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c {size} /dev/urandom > '{}'",
            path.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// A small tmpfs mounted over a folder for the test's life.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: PathBuf, size: &str) -> SmallDisk {
        std::fs::create_dir_all(&at).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk(at)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).output();
    }
}

fn spawn_tenantctl(f: &Fleet, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .args(args)
        .arg("-f")
        .arg(&f.file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_full_backup_disk_leaves_no_partial_file_older_backups_and_a_running_tenant() {
    let f = Fleet::new();
    let port = free_port();
    let disk = SmallDisk::mount(f.dir.join("backups"), "2m");
    f.write(&[("a", port, "")]);
    f.apply();
    wait_http_ok(port, "/health");
    put(port, "one.txt", "small");
    f.tenantctl_expect(&["backup", "a"], 0);
    random_file(&data_dir(&f, "a").join("big.bin"), "8M");
    let out = f.tenantctl_expect(&["backup", "a"], 1);
    contains(&out, "No space left on device");
    let left = names(&disk.0.join("a"));
    assert!(left.iter().all(|n| !n.ends_with(".partial")), "{left:?}");
    assert_eq!(ids(&f).len(), 1);
    contains(
        &f.tenantctl_expect(&["backups", "verify", "a"], 0),
        "ok   a ",
    );
    assert_eq!(f.inspect("a", "{{.State.Status}}"), "running");
    wait_http_ok(port, "/health");
}

#[test]
fn a_backup_killed_while_the_tenant_is_frozen_is_undone_by_the_next_apply() {
    let _alone = frozen_tenant_guard();
    let (f, port, dir) = fleet_with_backups("");
    // Large enough that the backup is still reading (the tenant frozen)
    // when it is killed: with 300M a CI run once saw it finish first.
    random_file(&data_dir(&f, "a").join("big.bin"), "800M");
    let mut child = spawn_tenantctl(&f, &["backup", "a"]);
    time_until(
        "the tenant frozen by the backup",
        Duration::from_secs(30),
        || {
            let name = f.container_name("a");
            let out = docker(&["inspect", "-f", "{{.State.Paused}}", &name]);
            String::from_utf8_lossy(&out.stdout).trim() == "true"
        },
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(f.inspect("a", "{{.State.Paused}}"), "true");
    assert!(ids(&f).is_empty(), "a killed backup left a manifest");
    // The next apply (or the controller) thaws it: the hold died with it.
    contains(&f.apply(), "unpause");
    wait_http_ok(port, "/health");
    // The next backup sweeps what the killed one left, and succeeds.
    f.tenantctl_expect(&["backup", "a"], 0);
    let left = names(&dir.join("a"));
    assert!(left.iter().all(|n| !n.ends_with(".partial")), "{left:?}");
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn a_restore_killed_half_way_never_leaves_mixed_data() {
    let (f, port, _) = fleet_with_backups("");
    let data = data_dir(&f, "a");
    random_file(&data.join("big.bin"), "200M");
    put(port, "note.txt", "backed up");
    f.tenantctl_expect(&["backup", "a"], 0);
    put(port, "note.txt", "current");
    let mut child = spawn_tenantctl(&f, &["restore", "a", "--latest"]);
    time_until(
        "the restore setting the data aside",
        Duration::from_secs(60),
        || data.join(".tenantctl-restore-aside").exists(),
    );
    std::thread::sleep(Duration::from_millis(50));
    child.kill().unwrap();
    child.wait().unwrap();
    // Whoever converges the tenant next finishes the job: the old data.
    f.apply();
    wait_http_ok(port, "/health");
    assert_eq!(get(port, "note.txt").as_deref(), Some("current"));
    let left = names(&data);
    assert!(
        left.iter().all(|n| !n.starts_with(".tenantctl")),
        "{left:?}"
    );
    assert_eq!(
        std::fs::metadata(data.join("big.bin")).unwrap().len(),
        200 << 20
    );
}

#[test]
fn a_backup_taken_while_the_client_writes_is_one_instant() {
    let (f, port, dir) = fleet_with_backups("");
    // Enough data that reading it takes a while, as a real volume's does,
    // in files the archive reads in between the client's (directory order).
    for i in 0..60 {
        random_file(&data_dir(&f, "a").join(format!("upload{i}")), "1M");
    }
    const FILES: usize = 40;
    // The client writes round n into p0, p1, … p39, round after round: at
    // any one instant the values fall from p0 to p39 by at most one. A
    // copy read file by file while it writes breaks that.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                for i in 0..FILES {
                    let _ = http("PUT", port, &format!("/data/p{i}"), &n.to_string());
                }
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..3 {
        f.tenantctl_expect(&["backup", "a"], 0);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = writer.join().unwrap();
    assert!(rounds > 3, "the client hardly wrote ({rounds} rounds)");
    let out = f.tenantctl_expect(&["backups", "list", "a", "--json"], 0);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut pauses = Vec::new();
    for m in list.as_array().unwrap() {
        pauses.push(m["pause_seconds"].as_f64().unwrap());
        let file = dir
            .join("a")
            .join(m["volumes"][0]["file"].as_str().unwrap());
        let decoder = zstd::Decoder::new(std::fs::File::open(&file).unwrap()).unwrap();
        let mut archive = tar::Archive::new(decoder);
        let mut values = std::collections::BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            if let Some(i) = name.strip_prefix("data/p") {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
                values.insert(i.parse::<usize>().unwrap(), text.parse::<u64>().unwrap());
            }
        }
        let v: Vec<u64> = (0..FILES).map(|i| values[&i]).collect();
        let one_instant = v.windows(2).all(|w| w[0] >= w[1]) && v[0] - v[FILES - 1] <= 1;
        assert!(one_instant, "a torn copy: {v:?}");
    }
    assert!(pauses.iter().all(|p| *p > 0.0 && *p < 30.0), "{pauses:?}");
    eprintln!("pauses while the client wrote: {pauses:?}");
}

#[test]
fn stop_consistency_and_restoring_another_tenants_backup_explicitly() {
    let f = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    f.write(&[("a", pa, "consistency = \"stop\""), ("b", pb, "")]);
    f.apply();
    wait_http_ok(pa, "/health");
    wait_http_ok(pb, "/health");
    put(pa, "one.txt", "a's data");
    f.tenantctl_expect(&["backup", "a"], 0);
    let out = f.tenantctl_expect(&["backups", "list", "a", "--json"], 0);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["consistency"], "stop", "{out}");
    assert!(list[0]["pause_seconds"].as_f64().unwrap() > 0.0, "{out}");
    wait_http_ok(pa, "/health");
    assert_eq!(f.inspect("a", "{{.State.Status}}"), "running");
    let id = list[0]["id"].as_str().unwrap().to_string();
    // b cannot take a's backup by accident...
    let out = f.tenantctl_expect(&["restore", "b", &id], 1);
    contains(&out, "--from-tenant");
    assert_eq!(get(pb, "one.txt"), None);
    // ...only when told to.
    f.tenantctl_expect(&["restore", "b", &id, "--from-tenant", "a"], 0);
    wait_http_ok(pb, "/health");
    assert_eq!(get(pb, "one.txt").as_deref(), Some("a's data"));
}
