//! Tenants cannot reach each other, and their containers run hardened
//! (issue 17, items 8 and 9): real Docker, the stand-in's `/fetch`
//! endpoint making requests from inside one tenant's container.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpListener;

/// What tenant `from` gets when it fetches `url` from inside its container.
fn fetch_from(port: u16, url: &str) -> String {
    let (status, body) =
        http("GET", port, &format!("/fetch?url={url}"), "").expect("the tenant answers");
    assert_eq!(status, 200, "{body}");
    body.trim().to_string()
}

/// A one-answer-per-connection HTTP server on every host address: what
/// `host-gateway` leads to from inside a container.
fn host_server() -> u16 {
    // A port from free_port: a kernel-chosen one could be a tenant's port
    // that free_port just handed out and released.
    let port = free_port();
    let listener = TcpListener::bind(("0.0.0.0", port)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            // The whole request head first: closing with unread bytes
            // makes the kernel reset the connection, and the client may
            // see the reset before the answer (CI once did).
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 << 10 {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
    });
    port
}

fn ip_of(fleet: &Fleet, tenant: &str) -> String {
    fleet
        .inspect(
            tenant,
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        )
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn tenants_on_an_isolated_network_reach_only_the_host_and_move_there_with_one_recreate() {
    let f = Fleet::new();
    let (pa, pb) = (free_port(), free_port());
    let gateway_port = host_server();
    let tenants = |network_line: &str| {
        let mut text =
            f.header()
                .replacen(&format!("network = \"{}-net\"", f.run_id), network_line, 1);
        text.push_str(&format!(
            "\n[tenants.a]\nport = {pa}\nextra_hosts = {{ \"host.docker.internal\" = \"host-gateway\" }}\n\
             \n[tenants.b]\nport = {pb}\nhardening = {{ read_only = true, tmpfs = [\"/tmp\"], pids_limit = 200 }}\n"
        ));
        text
    };

    // Before: a shared network (as every fleet had), where a reaches b.
    f.write_raw(&tenants(&format!(
        "network = \"{}-net\"\nisolate_tenants = false",
        f.run_id
    )));
    f.apply();
    wait_http_ok(pa, "/health");
    wait_http_ok(pb, "/health");
    let b_name = f.container_name("b");
    assert_eq!(
        fetch_from(pa, &format!("http://{b_name}:8080/health")),
        "status 200",
        "control: on a shared network one tenant reaches another"
    );
    http("PUT", pb, "/data/keep.txt", "b's data").unwrap();

    // Isolation asked for on the old network: said, not changed.
    f.write_raw(&tenants(&format!("network = \"{}-net\"", f.run_id)));
    let plan = f.tenantctl_expect(&["plan"], 0);
    contains(&plan, "can reach each other");
    contains(&plan, "set `network` to a new name");

    // The move: a new network name; one recreate per tenant.
    let before = (f.container_id("a").unwrap(), f.container_id("b").unwrap());
    f.write_raw(&tenants(&format!("network = \"{}-iso\"", f.run_id)));
    f.apply();
    wait_http_ok(pa, "/health");
    wait_http_ok(pb, "/health");
    assert_ne!(f.container_id("a").unwrap(), before.0);
    assert_ne!(f.container_id("b").unwrap(), before.1);
    assert_eq!(
        http("GET", pb, "/data/keep.txt", "").unwrap().1,
        "b's data",
        "the move keeps the data"
    );
    assert_eq!(
        docker_ok(&[
            "network",
            "inspect",
            "-f",
            "{{index .Options \"com.docker.network.bridge.enable_icc\"}}",
            &format!("{}-iso", f.run_id),
        ]),
        "false"
    );

    // Now a reaches neither b's name nor b's address, but the host does.
    let by_name = fetch_from(pa, &format!("http://{b_name}:8080/health"));
    assert!(by_name.starts_with("error"), "by name: {by_name}");
    let by_ip = fetch_from(pa, &format!("http://{}:8080/health", ip_of(&f, "b")));
    assert!(by_ip.starts_with("error"), "by IP: {by_ip}");
    assert_eq!(
        fetch_from(pa, &format!("http://host.docker.internal:{gateway_port}/")),
        "status 200",
        "host-gateway still reaches the host"
    );
    // The proxy's path: the host reaches every tenant's published port.
    assert!(http("GET", pb, "/health", "").is_some_and(|(s, _)| s == 200));
    // Volumes: each container mounts only its own.
    for t in ["a", "b"] {
        let mounts = f.inspect(t, "{{range .Mounts}}{{.Name}} {{end}}");
        for name in mounts.split_whitespace() {
            assert!(
                name.starts_with(&format!("{}-{t}-", f.run_id)),
                "{t} mounts {name}"
            );
        }
    }

    // Hardened as the chart says, b with its own overrides.
    let a = f.inspect(
        "a",
        "{{json .HostConfig.SecurityOpt}} {{json .HostConfig.CapDrop}} {{json .HostConfig.CapAdd}} {{.HostConfig.PidsLimit}} {{json .HostConfig.LogConfig.Config}} {{.HostConfig.ReadonlyRootfs}}",
    );
    contains(&a, "[\"no-new-privileges:true\"] [\"ALL\"]");
    contains(&a, "CHOWN");
    contains(&a, " 1024 ");
    contains(&a, "\"max-file\":\"3\",\"max-size\":\"10485760\"");
    contains(&a, " false");
    let b = f.inspect(
        "b",
        "{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.Tmpfs}} {{.HostConfig.PidsLimit}}",
    );
    assert_eq!(b, "true {\"/tmp\":\"\"} 200");

    // Docker's reading of it equals the file's: nothing to do.
    let plan = f.tenantctl_expect(&["plan"], 0);
    contains(&plan, "2 of 2 tenants in sync");
    // A hardening edit is a field of the plan, applied by a recreate.
    f.write_raw(
        &tenants(&format!("network = \"{}-iso\"", f.run_id))
            .replace("pids_limit = 200", "pids_limit = 300"),
    );
    let plan = f.tenantctl_expect(&["plan"], 0);
    contains(&plan, "hardening");
    contains(&plan, "pids_limit 300");
    f.apply();
    assert_eq!(f.inspect("b", "{{.HostConfig.PidsLimit}}"), "300");
}
