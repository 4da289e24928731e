//! The two baselines, doing the same work as tenantctl: the same image,
//! env, limits, volumes, health check, restart policy and network.
//! - compose loop: the seed's status quo, one directory per client with a
//!   docker-compose.yml and a bash-style loop of `docker-compose up -d`;
//! - raw engine: `docker run -d` with tenantctl's parallelism.

use crate::measure::{
    self, docker, http_ok, sh, wait_all_healthy, wait_until, while_polling, LABEL,
};
use crate::Samples;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn compose_file(id: &str, i: usize, port: u16, name: &str) -> String {
    format!(
        r#"version: "2.4"
services:
  mai:
    image: tenantctl-standin:latest
    container_name: {id}-c{i}
    ports: ["127.0.0.1:{port}:8080"]
    environment:
      WEBUI_NAME: "mAI - {name}"
      ENABLE_SIGNUP: "false"
      ENV: prod
    volumes:
      - data:/app/backend/data
      - backups:/app/backups
    restart: unless-stopped
    cpus: 0.25
    mem_limit: 64m
    mem_reservation: 32m
    labels: {{ "{LABEL}": "{id}" }}
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:8080/health"]
      interval: 10s
      timeout: 2s
      retries: 3
      start_period: 1s
    networks: [fleet]
volumes:
  data: {{ labels: {{ "{LABEL}": "{id}" }} }}
  backups: {{ labels: {{ "{LABEL}": "{id}" }} }}
networks:
  fleet:
    external: true
    name: {id}-net
"#
    )
}

fn up(dir: &Path, project: &str) {
    sh(Command::new("docker-compose")
        .args(["-p", project, "up", "-d", "--quiet-pull"])
        .current_dir(dir));
}

/// `for client in /opt/clients/mai-*; do (cd $client && docker-compose up -d); done`
fn loop_up(dirs: &[(PathBuf, String)]) {
    for (dir, project) in dirs {
        up(dir, project);
    }
}

pub fn compose_run(n: usize, samples: &mut Samples) {
    let id = measure::unique_id("bc");
    let _cleanup = measure::Cleanup(id.clone());
    let root = std::env::temp_dir().join(format!("tenantctl-bench-{id}"));
    let ports = measure::free_ports(n + 1);
    measure::create_network(&id);
    let write = |i: usize, name: &str| -> (PathBuf, String) {
        let dir = root.join(format!("mai-c{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("docker-compose.yml"),
            compose_file(&id, i, ports[i], name),
        )
        .unwrap();
        (dir, format!("{id}c{i}"))
    };
    let dirs: Vec<(PathBuf, String)> = (0..n).map(|i| write(i, &format!("t{i}"))).collect();
    let mut record = |s: &str, d: Duration| {
        samples
            .entry((s.into(), "compose".into()))
            .or_default()
            .push(d)
    };

    let start = Instant::now();
    record(
        "S1",
        while_polling(|| loop_up(&dirs), || wait_all_healthy(start, &ports[..n])),
    );

    let start = Instant::now();
    loop_up(&dirs);
    record("S2", start.elapsed());

    let start = Instant::now();
    write(0, "edited");
    record(
        "S3",
        while_polling(
            || loop_up(&dirs),
            || {
                wait_until(start, "compose S3", || {
                    http_ok(ports[0], "/", Some("mAI - edited"))
                })
            },
        ),
    );

    let start = Instant::now();
    let (extra_dir, extra_project) = write(n, "extra");
    record(
        "S4",
        while_polling(
            || up(&extra_dir, &extra_project),
            || wait_all_healthy(start, &ports[n..]),
        ),
    );

    let start = Instant::now();
    sh(Command::new("docker-compose")
        .args(["-p", &extra_project, "down"])
        .current_dir(&extra_dir));
    record("S5", start.elapsed());

    let start = Instant::now();
    let victims: Vec<String> = (0..n.div_ceil(10))
        .map(|i| format!("{id}-c{}", i * 10 % n))
        .collect();
    let mut rm = vec!["rm", "-f"];
    rm.extend(victims.iter().map(String::as_str));
    docker(&rm);
    record(
        "S6",
        while_polling(|| loop_up(&dirs), || wait_all_healthy(start, &ports[..n])),
    );

    let _ = std::fs::remove_dir_all(&root);
}

fn run_args(id: &str, i: usize, port: u16, name: &str) -> Vec<String> {
    let label = format!("{LABEL}={id}");
    let mount = |key: &str, target: &str| {
        format!("type=volume,src={id}-r{i}-{key},dst={target},volume-label={label}")
    };
    [
        "run",
        "-d",
        "--name",
        &format!("{id}-r{i}"),
        "--label",
        &label,
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        "-e",
        &format!("WEBUI_NAME=mAI - {name}"),
        "-e",
        "ENABLE_SIGNUP=false",
        "-e",
        "ENV=prod",
        "--mount",
        &mount("data", "/app/backend/data"),
        "--mount",
        &mount("backups", "/app/backups"),
        "--restart",
        "unless-stopped",
        "--cpus",
        "0.25",
        "--memory",
        "64m",
        "--memory-swap",
        "64m",
        "--memory-reservation",
        "32m",
        "--network",
        &format!("{id}-net"),
        "--health-cmd",
        "curl -f http://localhost:8080/health",
        "--health-interval",
        &measure::health_interval(),
        "--health-timeout",
        "2s",
        "--health-retries",
        "3",
        "--health-start-period",
        "1s",
        "tenantctl-standin:latest",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `docker run` for each index, `parallel` at a time.
fn run_parallel(id: &str, indices: &[usize], ports: &[u16], parallel: usize) {
    let chunks: Vec<Vec<usize>> = (0..parallel)
        .map(|w| indices.iter().copied().skip(w).step_by(parallel).collect())
        .collect();
    std::thread::scope(|s| {
        for chunk in &chunks {
            s.spawn(move || {
                for &i in chunk {
                    sh(Command::new("docker").args(run_args(id, i, ports[i], &format!("t{i}"))));
                }
            });
        }
    });
}

pub fn raw_run(n: usize, parallel: usize, samples: &mut Samples) {
    let id = measure::unique_id("br");
    let _cleanup = measure::Cleanup(id.clone());
    let ports = measure::free_ports(n + 1);
    measure::create_network(&id);
    let mut record =
        |s: &str, d: Duration| samples.entry((s.into(), "raw".into())).or_default().push(d);
    let all: Vec<usize> = (0..n).collect();

    let start = Instant::now();
    record(
        "S1",
        while_polling(
            || run_parallel(&id, &all, &ports, parallel),
            || wait_all_healthy(start, &ports[..n]),
        ),
    );

    let start = Instant::now();
    record(
        "S3",
        while_polling(
            || {
                docker(&["rm", "-f", &format!("{id}-r0")]);
                sh(Command::new("docker").args(run_args(&id, 0, ports[0], "edited")));
            },
            || {
                wait_until(start, "raw S3", || {
                    http_ok(ports[0], "/", Some("mAI - edited"))
                })
            },
        ),
    );

    let start = Instant::now();
    record(
        "S4",
        while_polling(
            || run_parallel(&id, &[n], &ports, 1),
            || wait_all_healthy(start, &ports[n..]),
        ),
    );

    let start = Instant::now();
    docker(&["rm", "-f", &format!("{id}-r{n}")]);
    record("S5", start.elapsed());

    let victims: Vec<usize> = (0..n.div_ceil(10)).map(|i| i * 10 % n).collect();
    let start = Instant::now();
    let names: Vec<String> = victims.iter().map(|i| format!("{id}-r{i}")).collect();
    let mut rm = vec!["rm", "-f"];
    rm.extend(names.iter().map(String::as_str));
    docker(&rm);
    record(
        "S6",
        while_polling(
            || run_parallel(&id, &victims, &ports, parallel),
            || wait_all_healthy(start, &ports[..n]),
        ),
    );
}
