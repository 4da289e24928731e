//! `tenantctl apply` and `plan` against the real Docker Engine, one test
//! per behaviour the core issue lists.

mod common;

use common::{contains, docker, docker_ok, free_port, http, wait_http_ok, Fleet};

#[test]
fn apply_from_nothing_creates_network_volumes_and_serving_containers() {
    let fleet = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    fleet.write(&[
        ("alpha", pa, "display_name = \"Alpha Co\""),
        ("beta", pb, ""),
    ]);

    let out = fleet.tenantctl_expect(&["plan", "--exit-code"], 2);
    contains(&out, "create container");

    fleet.apply();
    assert_eq!(wait_http_ok(pa, "/").trim(), "mAI - Alpha Co");
    assert_eq!(wait_http_ok(pb, "/").trim(), "mAI - beta");
    let prefix = fleet.prefix();
    for v in ["alpha-data", "alpha-backups", "beta-data", "beta-backups"] {
        assert!(fleet.volume_exists(&format!("{prefix}-{v}")), "volume {v}");
    }
    assert_eq!(
        fleet.inspect("alpha", "{{index .Config.Labels \"tenantctl.tenant\"}}"),
        "alpha"
    );
    assert_eq!(
        fleet.inspect(
            "alpha",
            "{{len (index .Config.Labels \"tenantctl.spec-hash\")}}"
        ),
        "64"
    );
    assert_eq!(
        fleet.inspect("alpha", "{{.HostConfig.RestartPolicy.Name}}"),
        "unless-stopped"
    );
    assert_eq!(
        fleet.inspect("alpha", "{{.HostConfig.Memory}}"),
        (64 << 20).to_string()
    );
    contains(
        &fleet.inspect("alpha", "{{json .NetworkSettings.Networks}}"),
        &format!("{prefix}-net"),
    );
    let env = fleet.inspect("alpha", "{{json .Config.Env}}");
    contains(&env, "ENABLE_SIGNUP=false");
    contains(&env, "ENV=prod");

    // Data lands in the data volume.
    assert_eq!(
        http("PUT", pa, "/data/note.txt", "hello").map(|r| r.0),
        Some(200)
    );
    assert_eq!(wait_http_ok(pa, "/data/note.txt"), "hello");
}

#[test]
fn second_apply_changes_nothing_and_keeps_container_ids() {
    let fleet = Fleet::new();
    fleet.write(&[("alpha", free_port(), ""), ("beta", free_port(), "")]);
    fleet.apply();
    let ids = (fleet.container_id("alpha"), fleet.container_id("beta"));

    let out = fleet.apply();
    contains(&out, "Nothing to do");
    fleet.tenantctl_expect(&["plan", "--exit-code"], 0);
    assert_eq!(
        ids,
        (fleet.container_id("alpha"), fleet.container_id("beta"))
    );
}

#[test]
fn env_edit_recreates_only_that_tenant_and_keeps_its_data() {
    let fleet = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    fleet.write(&[("alpha", pa, "display_name = \"Old\""), ("beta", pb, "")]);
    fleet.apply();
    wait_http_ok(pa, "/");
    http("PUT", pa, "/data/keep.txt", "precious").unwrap();
    let (alpha_before, beta_before) = (fleet.container_id("alpha"), fleet.container_id("beta"));

    fleet.write(&[("alpha", pa, "display_name = \"New\""), ("beta", pb, "")]);
    let plan = fleet.tenantctl_expect(&["plan", "--exit-code"], 2);
    contains(&plan, "env.WEBUI_NAME: \"mAI - Old\" -> \"mAI - New\"");
    fleet.apply();

    assert_ne!(
        fleet.container_id("alpha"),
        alpha_before,
        "alpha is recreated"
    );
    assert_eq!(fleet.container_id("beta"), beta_before, "beta is untouched");
    assert_eq!(wait_http_ok(pa, "/").trim(), "mAI - New");
    assert_eq!(wait_http_ok(pa, "/data/keep.txt"), "precious");
}

#[test]
fn hand_docker_update_is_detected_and_restored_in_place() {
    let fleet = Fleet::new();
    fleet.write(&[("alpha", free_port(), "")]);
    fleet.apply();
    let before = fleet.container_id("alpha");
    docker_ok(&[
        "update",
        "--memory",
        "48m",
        "--restart",
        "no",
        &fleet.container_name("alpha"),
    ]);

    let plan = fleet.tenantctl_expect(&["plan", "--exit-code"], 2);
    contains(&plan, "update container");
    contains(&plan, "resources.memory: 48M -> 64M");
    contains(&plan, "restart: no -> unless-stopped");
    fleet.apply();

    assert_eq!(
        fleet.container_id("alpha"),
        before,
        "restored without recreation"
    );
    assert_eq!(
        fleet.inspect("alpha", "{{.HostConfig.Memory}}"),
        (64 << 20).to_string()
    );
    assert_eq!(
        fleet.inspect("alpha", "{{.HostConfig.RestartPolicy.Name}}"),
        "unless-stopped"
    );
    fleet.tenantctl_expect(&["plan", "--exit-code"], 0);
}

#[test]
fn hand_stopped_container_is_started_not_recreated() {
    let fleet = Fleet::new();
    let port = free_port();
    fleet.write(&[("alpha", port, "")]);
    fleet.apply();
    let before = fleet.container_id("alpha");
    docker_ok(&["stop", &fleet.container_name("alpha")]);

    contains(
        &fleet.tenantctl_expect(&["plan", "--exit-code"], 2),
        "start container",
    );
    fleet.apply();
    assert_eq!(fleet.container_id("alpha"), before);
    assert_eq!(fleet.inspect("alpha", "{{.State.Running}}"), "true");
    wait_http_ok(port, "/health");
}

#[test]
fn foreign_container_with_a_tenant_name_is_left_alone_and_reported() {
    let fleet = Fleet::new();
    let name = fleet.container_name("alpha");
    let foreign_id = fleet.run_foreign(&name, &[]);
    let port_b = free_port();
    fleet.write(&[("alpha", free_port(), ""), ("beta", port_b, "")]);

    let out = fleet.tenantctl_expect(&["apply"], 1);
    contains(&out, "not managed by tenantctl");
    assert_eq!(
        fleet.container_id("alpha"),
        Some(foreign_id),
        "the foreign container is untouched"
    );
    assert_eq!(fleet.inspect("alpha", "{{.State.Running}}"), "true");
    let label = fleet.inspect("alpha", "{{index .Config.Labels \"tenantctl.tenant\"}}");
    assert!(
        label.is_empty() || label == "<no value>",
        "no label was added: {label}"
    );
    wait_http_ok(port_b, "/health");
    let status = fleet.tenantctl_expect(&["status"], 0);
    contains(&status, "container conflict");
}

#[test]
fn foreign_container_holding_a_tenants_port_blocks_only_that_tenant() {
    let fleet = Fleet::new();
    let port = free_port();
    let mapping = format!("127.0.0.1:{port}:8080");
    fleet.run_foreign(&format!("{}-squatter", fleet.run_id), &["-p", &mapping]);
    let port_b = free_port();
    fleet.write(&[("alpha", port, ""), ("beta", port_b, "")]);

    let out = fleet.tenantctl_expect(&["apply"], 1);
    contains(&out, &format!("host port {port} is already published"));
    assert!(fleet.container_id("alpha").is_none());
    wait_http_ok(port_b, "/health");
}

#[test]
fn prune_removes_the_container_of_a_removed_tenant_and_keeps_its_volumes() {
    let fleet = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    fleet.write(&[("alpha", pa, ""), ("beta", pb, "")]);
    fleet.apply();

    fleet.write(&[("alpha", pa, "")]);
    let out = fleet.apply();
    contains(&out, "kept; `apply --prune` removes it");
    assert!(
        fleet.container_id("beta").is_some(),
        "without --prune nothing is removed"
    );

    let out = fleet.tenantctl_expect(&["apply", "--prune"], 0);
    contains(&out, "pruned");
    assert!(fleet.container_id("beta").is_none());
    assert!(fleet.container_id("alpha").is_some());
    let prefix = fleet.prefix();
    assert!(
        fleet.volume_exists(&format!("{prefix}-beta-data")),
        "volumes survive prune"
    );
    assert!(fleet.volume_exists(&format!("{prefix}-beta-backups")));
}

#[test]
fn invalid_file_changes_nothing_on_the_host() {
    let fleet = Fleet::new();
    let port = free_port();
    fleet.write(&[("alpha", port, "")]);
    fleet.apply();
    let before = fleet.container_id("alpha");

    fleet.write(&[(
        "alpha",
        port,
        "display_name = \"Changed\"\ncolour = \"red\"",
    )]);
    let out = fleet.tenantctl_expect(&["apply"], 1);
    contains(&out, "unknown field `colour`");
    contains(&out, "nothing was changed");
    assert_eq!(fleet.container_id("alpha"), before);
    assert_eq!(wait_http_ok(port, "/").trim(), "mAI - alpha");

    // An empty fleet is refused too, so a truncated file cannot wipe it.
    fleet.write_raw(&fleet.header());
    let out = fleet.tenantctl_expect(&["apply", "--prune"], 1);
    contains(&out, "no tenants defined");
    assert_eq!(fleet.container_id("alpha"), before);
}

#[test]
fn retagged_image_counts_as_drift_and_recreates() {
    let fleet = Fleet::new();
    let tag = format!("tenantctl-standin:{}", fleet.run_id);
    fleet.track_image(&tag);
    docker_ok(&["tag", common::STANDIN_IMAGE, &tag]);
    let port = free_port();
    fleet.write(&[("alpha", port, &format!("image = \"{tag}\""))]);
    fleet.apply();
    let before = fleet.container_id("alpha");

    // Build a different image under the same tag, as `docker build` or a
    // pull of a moved tag would.
    let ctx = fleet.dir.join("image");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\nLABEL variant=\"{}\"\n",
            common::STANDIN_IMAGE,
            fleet.run_id
        ),
    )
    .unwrap();
    docker_ok(&["build", "-q", "-t", &tag, &common::path_str(&ctx)]);

    contains(
        &fleet.tenantctl_expect(&["plan", "--exit-code"], 2),
        "image:",
    );
    fleet.apply();
    assert_ne!(fleet.container_id("alpha"), before);
    assert_eq!(
        fleet.inspect("alpha", "{{.Image}}"),
        docker_ok(&["image", "inspect", "-f", "{{.Id}}", &tag])
    );
    fleet.tenantctl_expect(&["plan", "--exit-code"], 0);
}

#[test]
fn apply_after_a_crash_mid_recreate_converges_without_duplicates() {
    let fleet = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    fleet.write(&[("alpha", pa, ""), ("beta", pb, "")]);
    fleet.apply();
    // A crash after "remove old" and before "create new" leaves no
    // container; one after "create" and before "start" leaves it created.
    docker_ok(&["rm", "-f", &fleet.container_name("alpha")]);
    docker_ok(&["stop", &fleet.container_name("beta")]);
    fleet.apply();
    assert_eq!(
        fleet.containers(),
        vec![fleet.container_name("alpha"), fleet.container_name("beta")]
    );
    wait_http_ok(pa, "/health");
    wait_http_ok(pb, "/health");
    fleet.tenantctl_expect(&["plan", "--exit-code"], 0);
}

#[test]
fn secrets_from_env_files_are_applied_but_never_printed() {
    let fleet = Fleet::new();
    let secret = format!("sk-{}-do-not-print", fleet.run_id);
    std::fs::write(
        fleet.dir.join("alpha.env"),
        format!("OPENAI_API_KEY={secret}\n"),
    )
    .unwrap();
    let port = free_port();
    fleet.write(&[("alpha", port, "env_files = [\"alpha.env\"]")]);
    let out = fleet.apply();
    assert!(!out.contains(&secret));
    contains(&fleet.inspect("alpha", "{{json .Config.Env}}"), &secret);
    let labels = fleet.inspect("alpha", "{{json .Config.Labels}}");
    assert!(!labels.contains(&secret));

    std::fs::write(fleet.dir.join("alpha.env"), "OPENAI_API_KEY=rotated\n").unwrap();
    let plan = fleet.tenantctl_expect(&["plan", "--exit-code"], 2);
    contains(&plan, "env.OPENAI_API_KEY: (sensitive) -> (sensitive)");
    assert!(!plan.contains(&secret) && !plan.contains("rotated"));
    let json = fleet.tenantctl_expect(&["plan", "--json"], 0);
    assert!(!json.contains(&secret) && !json.contains("rotated"));
}

#[test]
fn without_a_docker_daemon_commands_fail_with_a_clear_message() {
    let fleet = Fleet::new();
    fleet.write(&[("alpha", free_port(), "")]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .args(["plan", "-f"])
        .arg(&fleet.file)
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-docker.sock", fleet.dir.display()),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    contains(
        &String::from_utf8_lossy(&out.stderr),
        "cannot reach the Docker Engine",
    );
    // Nothing was created for this run.
    assert!(
        docker(&["network", "inspect", &format!("{}-net", fleet.run_id)])
            .status
            .code()
            != Some(0)
    );
}

/// Removes the named volumes on drop (they carry no run label, so the
/// fleet's own cleanup would not find them).
struct UnlabeledVolumes(Vec<String>);

impl Drop for UnlabeledVolumes {
    fn drop(&mut self) {
        for v in &self.0 {
            let _ = docker(&["volume", "rm", "-f", v]);
        }
    }
}

#[test]
fn an_empty_unlabeled_volume_a_crash_left_is_made_again_one_with_files_is_left_alone() {
    let fleet = Fleet::new();
    let (alpha, beta) = (
        format!("{}-alpha-data", fleet.prefix()),
        format!("{}-beta-data", fleet.prefix()),
    );
    // What a daemon killed between a volume's folder and its labels
    // leaves; beta's holds a file, as a volume someone uses would.
    let _cleanup = UnlabeledVolumes(vec![alpha.clone(), beta.clone()]);
    docker_ok(&["volume", "create", &alpha]);
    docker_ok(&["volume", "create", &beta]);
    let mountpoint = docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", &beta]);
    let kept = std::path::Path::new(mountpoint.trim()).join("keep.txt");
    std::fs::write(&kept, "not ours").unwrap();
    fleet.write(&[("alpha", free_port(), ""), ("beta", free_port(), "")]);
    let out = fleet.tenantctl_expect(&["apply"], 1);
    assert!(
        out.contains(&format!("create volume {alpha} (an unlabeled one")),
        "{out}"
    );
    assert!(out.contains("it holds files"), "{out}");
    let label = docker_ok(&[
        "volume",
        "inspect",
        "-f",
        "{{index .Labels \"tenantctl.tenant\"}}",
        &alpha,
    ]);
    assert_eq!(label.trim(), "alpha", "{out}");
    assert_eq!(fleet.inspect("alpha", "{{.State.Running}}").trim(), "true");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "not ours");
    assert!(
        fleet.container_id("beta").is_none(),
        "beta was created on a foreign volume"
    );
}
