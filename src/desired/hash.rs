//! The spec hash: sha256 over a canonical JSON of every field that can only
//! change by recreating the container. Limits and restart policy are left
//! out on purpose: Docker updates them in place, and a label cannot be
//! updated, so hashing them would force a recreate for an in-place change.
//! Secret values enter as their own sha256, never in clear.

use super::{DesiredMount, DesiredTenant, Hardening, HealthCheck};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[derive(Serialize)]
struct Hashed<'a> {
    image: &'a str,
    host_ip: &'a str,
    port: u16,
    container_port: u16,
    network: &'a str,
    env: BTreeMap<&'a str, String>,
    mounts: &'a [DesiredMount],
    health: &'a HealthCheck,
    stop_timeout_secs: i64,
    extra_labels: &'a BTreeMap<String, String>,
    // Added later: left out when unused, so a fleet that does not use
    // them keeps its hashes (and its containers) across the upgrade.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    own_labels: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    extra_hosts: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    extra_networks: &'a [String],
    #[serde(skip_serializing_if = "Hardening::is_default")]
    hardening: &'a Hardening,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

pub fn spec_hash(tenant: &DesiredTenant, extra_labels: &BTreeMap<String, String>) -> String {
    let env = tenant
        .env
        .iter()
        .map(|(k, e)| {
            let v = if e.sensitive {
                format!("sha256:{}", sha256_hex(e.value.as_bytes()))
            } else {
                e.value.clone()
            };
            (k.as_str(), v)
        })
        .collect();
    let hashed = Hashed {
        image: &tenant.image,
        host_ip: &tenant.host_ip,
        port: tenant.port,
        container_port: tenant.container_port,
        network: &tenant.network,
        env,
        mounts: &tenant.mounts,
        health: &tenant.health,
        stop_timeout_secs: tenant.stop_timeout_secs,
        extra_labels,
        own_labels: &tenant.own_labels,
        extra_hosts: &tenant.extra_hosts,
        extra_networks: &tenant.extra_networks,
        hardening: &tenant.hardening,
    };
    let json = serde_json::to_vec(&hashed).expect("plain data always serializes");
    sha256_hex(&json)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash of a tenant that uses none of the keys added by the
    /// take-over work, as the code before them computed it: a changed
    /// value here would recreate every running container on upgrade.
    #[test]
    fn a_tenant_without_the_new_keys_keeps_its_hash_across_versions() {
        let t = DesiredTenant::test("acme", 8001);
        assert_eq!(
            spec_hash(&t, &BTreeMap::new()),
            "5c0a3f9a72f3cddf0c54f791b9b96555226e96e3cd9db3389ff757f49857d26c"
        );
    }
}
