//! Secrets at every log level (issue 17, item 7): a canary secret in a
//! running tenant's env file must never appear in the output of any
//! command at `debug` or `trace`, in either log format, nor in the
//! controller's log, `/metrics`, `/api/status`, the status page, container
//! labels or status JSON. (Panic messages print values through `Debug`,
//! which masks secrets: `desired::tests`.)

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn a_canary_secret_never_leaves_its_env_file() {
    let f = Fleet::new();
    let canary = format!("canary-{}-s3cr3t", f.run_id);
    let secrets = f.dir.join("alpha.env");
    std::fs::write(
        &secrets,
        format!("API_KEY={canary}\nDB_PASSWORD={canary}-db\n"),
    )
    .unwrap();
    let port = free_port();
    f.write(&[(
        "alpha",
        port,
        &format!("env_files = [\"{}\"]", secrets.display()),
    )]);
    f.apply();
    wait_http_ok(port, "/health");
    // The canary is real: the container has it.
    contains(&f.inspect("alpha", "{{json .Config.Env}}"), &canary);
    let labels = f.inspect("alpha", "{{json .Config.Labels}}");
    assert!(!labels.contains(&canary), "labels: {labels}");

    let commands: Vec<Vec<&str>> = vec![
        vec!["validate"],
        vec!["plan"],
        vec!["plan", "--json"],
        vec!["apply"],
        vec!["status"],
        vec!["status", "--json"],
        vec!["backup", "alpha"],
        vec!["backups", "list"],
        vec!["rollout", "status"],
        vec!["restart", "alpha"],
        vec!["logs", "alpha"],
    ];
    let mut checked = 0;
    for level in ["debug", "trace"] {
        for format in ["human", "json"] {
            for args in &commands {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantctl"));
                cmd.args(args)
                    .args(["--log-format", format, "-f"])
                    .arg(&f.file)
                    .env("TENANTCTL_LOG", level);
                if args[0] == "apply" {
                    cmd.arg("--lock-file").arg(f.apply_lock());
                }
                let out = cmd.output().unwrap();
                let text = output_text(&out);
                assert!(
                    !text.contains(&canary),
                    "{level} {format} {args:?} printed the secret:\n{text}"
                );
                checked += 1;
            }
        }
    }
    eprintln!("{checked} command runs checked");

    // The controller at trace, JSON logs, with a reconcile that touches
    // the tenant (its container removed by hand) and every endpoint read.
    for format in ["json", "human"] {
        let listen = free_port();
        let log = f.dir.join(format!("run-{format}.log"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_tenantctl"))
            .args(["run", "--log-format", format, "-f"])
            .arg(&f.file)
            .args(["--listen", &format!("127.0.0.1:{listen}"), "--resync", "1s"])
            .arg("--lock-file")
            .arg(f.dir.join("controller.lock"))
            .env("TENANTCTL_LOG", "trace")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(f.dir.join(format!("run-{format}.err"))).unwrap())
            .spawn()
            .unwrap();
        time_until("controller up", Duration::from_secs(20), || {
            http("GET", listen, "/readyz", "").is_some_and(|(s, _)| s == 200)
        });
        docker_ok(&["rm", "-f", &f.container_name("alpha")]);
        time_until("alpha healed", Duration::from_secs(30), || {
            http("GET", port, "/health", "").is_some_and(|(s, _)| s == 200)
        });
        for path in ["/metrics", "/api/status", "/", "/readyz"] {
            let (_, body) = http("GET", listen, path, "").unwrap();
            assert!(!body.contains(&canary), "{path}: {body}");
        }
        let _ = child.kill();
        let _ = child.wait();
        let text = [log, f.dir.join(format!("run-{format}.err"))]
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect::<String>();
        assert!(text.len() > 1000, "trace logging wrote almost nothing");
        assert!(
            !text.contains(&canary),
            "the controller's {format} trace log holds the secret"
        );
    }
}
