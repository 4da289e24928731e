use super::*;

const SEED: &str = r#"version: '3.8'
services:
  mai-companyabc:
    image: mai-production:latest
    container_name: mai-companyabc
    volumes:
      - ./data:/app/backend/data
      - ./backups:/app/backups
    ports:
      - "8001:8080"   # Unique port per client (8001-8020)
    environment:
      - WEBUI_NAME=mAI - Company ABC
      - ENABLE_SIGNUP=false
      - ENV=prod
    restart: unless-stopped
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:8080/health"]
      interval: 30s
      timeout: 10s
      retries: 3
    deploy:
      resources:
        limits:
          cpus: '2'
          memory: 4G
        reservations:
          cpus: '1'
          memory: 2G

networks:
  default:
    name: mai-network
    external: true
"#;

fn no_env(_: &Path) -> Result<BTreeMap<String, String>, String> {
    Err("not read in this test".into())
}

#[test]
fn the_seeds_compose_file_reads_whole() {
    let path = Path::new("/opt/clients/mai-companyabc/docker-compose.yml");
    let (services, findings) = parse(path, SEED, &no_env);
    let s = &services[0];
    assert_eq!(s.container_name.as_deref(), Some("mai-companyabc"));
    assert_eq!(
        s.ports,
        [Port {
            host_ip: String::new(),
            host_port: 8001,
            container_port: 8080
        }]
    );
    assert_eq!(s.env["WEBUI_NAME"], "mAI - Company ABC");
    assert_eq!(
        s.mounts[0],
        Mount {
            from: MountFrom::Bind("/opt/clients/mai-companyabc/data".into()),
            target: "/app/backend/data".into()
        }
    );
    assert_eq!(s.networks, ["mai-network"]);
    assert_eq!(s.cpus.as_deref(), Some("2"));
    assert_eq!(s.memory_reservation.as_deref(), Some("2G"));
    let h = s.health.as_ref().unwrap();
    assert_eq!(h.command, ["curl", "-f", "http://localhost:8080/health"]);
    assert_eq!(h.timeout_ns, Some(10_000_000_000));
    // Only the CPU reservation, which plain Docker ignores, is a note.
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].severity, Severity::Note);
    assert_eq!(findings[0].line, 26);
}

#[test]
fn the_dev_instance_long_forms_and_named_volumes() {
    let text = r#"services:
  mai-dev:
    image: mai-dev:latest
    container_name: mai-dev
    volumes:
      - mai-dev-data:/app/backend/data
      - type: bind
        source: /srv/x
        target: /x
    ports:
      - target: 8080
        published: 3002
        host_ip: 127.0.0.1
    environment:
      WEBUI_NAME: mAI Development
      OLLAMA_BASE_URL: http://host.docker.internal:11434
    extra_hosts:
      - "host.docker.internal:host-gateway"
    labels:
      caddy: mai.example.com
    networks: [web]
    stop_grace_period: 1m
volumes:
  mai-dev-data:
    name: mai_dev_data
networks:
  web:
    external: true
"#;
    let (services, findings) = parse(Path::new("/srv/dev/compose.yml"), text, &no_env);
    assert!(findings.is_empty(), "{findings:?}");
    let s = &services[0];
    assert_eq!(s.mounts[0].from, MountFrom::Volume("mai_dev_data".into()));
    assert_eq!(s.mounts[1].from, MountFrom::Bind("/srv/x".into()));
    assert_eq!(s.ports[0].host_ip, "127.0.0.1");
    assert_eq!(s.ports[0].host_port, 3002);
    assert_eq!(s.extra_hosts["host.docker.internal"], "host-gateway");
    assert_eq!(s.labels["caddy"], "mai.example.com");
    assert_eq!(s.networks, ["web"]);
    assert_eq!(s.stop_grace_secs, Some(60));
}

#[test]
fn unknown_keys_and_bad_yaml_name_their_line() {
    let text = "services:\n  mai-a:\n    image: x\n    cap_add:\n      - NET_ADMIN\n";
    let (_, findings) = parse(Path::new("/c/a/docker-compose.yml"), text, &no_env);
    assert_eq!(findings[0].line, 4);
    assert_eq!(findings[0].severity, Severity::Unmapped);
    assert!(findings[0].message.contains("cap_add"));

    let bad = "services:\n  mai-a:\n    image: [x\n";
    let (services, findings) = parse(Path::new("/c/b/docker-compose.yml"), bad, &no_env);
    assert!(services.is_empty());
    assert!(
        findings[0].message.starts_with("YAML syntax"),
        "{findings:?}"
    );
    assert!(findings[0].col.is_some());
    assert!(findings[0]
        .to_string()
        .starts_with("/c/b/docker-compose.yml:"));
}

#[test]
fn version_2_limits_and_interpolation() {
    let text = "version: '2.4'\nservices:\n  mai-a:\n    image: x\n    container_name: mai-a\n    mem_limit: 4g\n    mem_reservation: 2g\n    cpus: 1.5\n    environment:\n      PRICE: \"$$5\"\n      TOKEN: ${OPENROUTER_TOKEN}\n";
    let (services, findings) = parse(Path::new("/c/a/docker-compose.yml"), text, &no_env);
    let s = &services[0];
    assert_eq!(s.memory.as_deref(), Some("4g"));
    assert_eq!(s.memory_reservation.as_deref(), Some("2g"));
    assert_eq!(s.cpus.as_deref(), Some("1.5"));
    assert_eq!(s.env["PRICE"], "$5");
    assert!(!s.env.contains_key("TOKEN"));
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].message.contains("interpolation"));
    assert!(!findings[0].message.contains("OPENROUTER_TOKEN"));
}
