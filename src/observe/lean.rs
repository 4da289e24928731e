//! Docker's container and volume lists as the fleet pass reads them: only
//! the fields the observed state keeps, deserialised straight from the
//! answer's pieces ([`DockerClient::get_json`]). bollard reads a list into
//! its full model of every object (each container's network endpoints,
//! mount sources, command, sizes…) after copying the body into one buffer;
//! at a thousand containers and two thousand volumes that was the
//! controller's peak memory. The lean entries become bollard's models with
//! only these fields set, so one conversion (`convert`) serves every list.
//!
//! [`DockerClient::get_json`]: crate::docker::DockerClient::get_json

use bollard::models::{
    ContainerSummary, ContainerSummaryHealth, ContainerSummaryStateEnum, MountPoint, PortSummary,
    Volume,
};
use serde::Deserialize;
use std::collections::HashMap;

/// `GET /containers/json?all=1`: every container on the host.
pub const CONTAINERS: &str = "/containers/json?all=1";
/// `GET /volumes`: every volume on the host.
pub const VOLUMES: &str = "/volumes";

#[derive(Debug, Deserialize)]
pub struct LeanContainer {
    #[serde(rename = "Id")]
    id: Option<String>,
    #[serde(rename = "Names")]
    names: Option<Vec<String>>,
    #[serde(rename = "ImageID")]
    image_id: Option<String>,
    #[serde(rename = "Labels")]
    labels: Option<HashMap<String, String>>,
    #[serde(rename = "State")]
    state: Option<ContainerSummaryStateEnum>,
    #[serde(rename = "Ports")]
    ports: Option<Vec<PortSummary>>,
    #[serde(rename = "Mounts")]
    mounts: Option<Vec<MountPoint>>,
    #[serde(rename = "Health")]
    health: Option<ContainerSummaryHealth>,
}

impl From<LeanContainer> for ContainerSummary {
    fn from(c: LeanContainer) -> Self {
        ContainerSummary {
            id: c.id,
            names: c.names,
            image_id: c.image_id,
            labels: c.labels,
            state: c.state,
            ports: c.ports,
            mounts: c.mounts,
            health: c.health,
            ..ContainerSummary::default()
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LeanVolumes {
    #[serde(rename = "Volumes")]
    volumes: Option<Vec<LeanVolume>>,
}

#[derive(Debug, Deserialize)]
struct LeanVolume {
    #[serde(rename = "Name")]
    name: String,
    /// `null` for a volume made without labels.
    #[serde(rename = "Labels")]
    labels: Option<HashMap<String, String>>,
}

impl LeanVolumes {
    /// One at a time, as the caller takes them.
    pub fn into_volumes(self) -> impl Iterator<Item = Volume> {
        self.volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| Volume {
                name: v.name,
                labels: v.labels.unwrap_or_default(),
                ..Volume::default()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One entry of Docker 20.10's `GET /containers/json?all=1`, as this
    /// machine's daemon answered it.
    const LISTED: &str = r#"[{"Id":"94ddadd205666c3fd97794b2e5e0b696bde8f19aff80f47406a08c83e16d4c8f","Names":["/rssa-t99"],"Image":"tenantctl-standin:latest","ImageID":"sha256:98a30e65ed86","Command":"/usr/local/bin/mai-standin","Created":1796166719,"Ports":[{"IP":"127.0.0.1","PrivatePort":8080,"PublicPort":30099,"Type":"tcp"}],"Labels":{"tenantctl.fleet":"rssa","tenantctl.tenant":"t99"},"State":"running","Status":"Up 51 seconds (healthy)","HostConfig":{"NetworkMode":"rssa-net"},"NetworkSettings":{"Networks":{"rssa-net":{"IPAMConfig":null,"Links":null,"Aliases":null,"NetworkID":"dce4","EndpointID":"d40e","Gateway":"172.18.0.1","IPAddress":"172.18.1.44","IPPrefixLen":16,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"MacAddress":"02:42:ac:12:01:2c","DriverOpts":null}}},"Mounts":[{"Type":"volume","Name":"rssa-t99-data","Source":"/var/lib/docker/volumes/rssa-t99-data/_data","Destination":"/app/backend/data","Driver":"local","Mode":"z","RW":true,"Propagation":""}]}]"#;

    #[test]
    fn a_lean_entry_converts_as_bollards_full_one_does() {
        let lean: Vec<LeanContainer> = serde_json::from_str(LISTED).unwrap();
        let full: Vec<ContainerSummary> = serde_json::from_str(LISTED).unwrap();
        let lean = lean.into_iter().map(ContainerSummary::from).next().unwrap();
        let full = full.into_iter().next().unwrap();
        assert_eq!(
            crate::observe::container_from_summary(lean),
            crate::observe::container_from_summary(full)
        );
    }

    #[test]
    fn volumes_without_labels_read_as_empty_labels() {
        let listed = r#"{"Volumes":[{"CreatedAt":"2026-12-01T23:00:00Z","Driver":"local","Labels":null,"Mountpoint":"/var/lib/docker/volumes/a/_data","Name":"a","Options":null,"Scope":"local"},{"Driver":"local","Labels":{"tenantctl.tenant":"t1"},"Mountpoint":"/x","Name":"b","Options":{},"Scope":"local"}],"Warnings":null}"#;
        let volumes = serde_json::from_str::<LeanVolumes>(listed)
            .unwrap()
            .into_volumes()
            .collect::<Vec<_>>();
        assert_eq!(volumes.len(), 2);
        assert!(volumes[0].labels.is_empty());
        assert_eq!(volumes[1].labels["tenantctl.tenant"], "t1");
        let none: LeanVolumes = serde_json::from_str(r#"{"Volumes":null}"#).unwrap();
        assert_eq!(none.into_volumes().count(), 0);
    }
}
