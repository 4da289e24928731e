//! Docker's container and volume lists as the fleet pass reads them: only
//! the fields the observed state keeps, deserialised straight from the
//! answer's pieces ([`DockerClient::get_json`]). bollard reads a list into
//! its full model of every object (each container's network endpoints,
//! mount sources, command, sizes…) after copying the body into one buffer;
//! at a thousand containers and two thousand volumes that was the
//! controller's peak memory. Each entry is converted as soon as it is
//! parsed, so the list never exists whole in Docker's shape: a lean
//! container becomes bollard's model with only these fields set (one
//! conversion, `convert`, serves every list), a volume its name and
//! whose it is.
//!
//! [`DockerClient::get_json`]: crate::docker::DockerClient::get_json

use crate::labels::OwnerLabels;
use crate::observe::ObservedContainer;
use bollard::models::{
    ContainerSummary, ContainerSummaryHealth, ContainerSummaryStateEnum, MountPoint, PortSummary,
};
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

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

/// The container list, each entry turned into an [`ObservedContainer`]
/// as soon as it is parsed: never the whole list in Docker's shape at once
/// (at 1,000 containers that was ~2 MB beside the answer itself).
#[derive(Debug)]
pub struct ListedContainers(pub Vec<ObservedContainer>);

impl<'de> Deserialize<'de> for ListedContainers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(EachConverted::new(|c: LeanContainer| {
            crate::observe::container_from_summary(c.into())
        }))
        .map(ListedContainers)
    }
}

/// `GET /volumes`, each volume kept as its name and whose it is
/// ([`OwnerLabels`]), converted as it is parsed.
#[derive(Debug, Deserialize)]
pub struct LeanVolumes {
    #[serde(rename = "Volumes")]
    volumes: Option<ListedVolumes>,
}

#[derive(Debug, Default)]
struct ListedVolumes(Vec<(String, OwnerLabels)>);

impl<'de> Deserialize<'de> for ListedVolumes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(EachConverted::new(|v: LeanVolume| {
            let marks = OwnerLabels::of(v.labels.iter().flatten());
            Some((v.name, marks))
        }))
        .map(ListedVolumes)
    }
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
    /// Name and ownership of every listed volume.
    pub fn into_volumes(self) -> impl Iterator<Item = (String, OwnerLabels)> {
        self.volumes.unwrap_or_default().0.into_iter()
    }
}

/// A JSON array read one element at a time, each converted (or skipped,
/// `None`) before the next is parsed.
struct EachConverted<E, T, F>(F, PhantomData<fn(E) -> T>);

impl<E, T, F: FnMut(E) -> Option<T>> EachConverted<E, T, F> {
    fn new(convert: F) -> Self {
        Self(convert, PhantomData)
    }
}

impl<'de, E, T, F> Visitor<'de> for EachConverted<E, T, F>
where
    E: Deserialize<'de>,
    F: FnMut(E) -> Option<T>,
{
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(entry) = seq.next_element::<E>()? {
            out.extend((self.0)(entry));
        }
        Ok(out)
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
    fn the_list_converts_entry_by_entry_as_the_lean_entries_do() {
        let streamed: ListedContainers = serde_json::from_str(LISTED).unwrap();
        let lean: Vec<LeanContainer> = serde_json::from_str(LISTED).unwrap();
        let converted: Vec<_> = lean
            .into_iter()
            .filter_map(|c| crate::observe::container_from_summary(c.into()))
            .collect();
        assert_eq!(streamed.0, converted);
        assert_eq!(streamed.0[0].name, "rssa-t99");
    }

    #[test]
    fn volumes_without_labels_read_as_unlabelled() {
        let listed = r#"{"Volumes":[{"CreatedAt":"2026-12-01T23:00:00Z","Driver":"local","Labels":null,"Mountpoint":"/var/lib/docker/volumes/a/_data","Name":"a","Options":null,"Scope":"local"},{"Driver":"local","Labels":{"tenantctl.tenant":"t1"},"Mountpoint":"/x","Name":"b","Options":{},"Scope":"local"}],"Warnings":null}"#;
        let volumes = serde_json::from_str::<LeanVolumes>(listed)
            .unwrap()
            .into_volumes()
            .collect::<Vec<_>>();
        assert_eq!(volumes.len(), 2);
        assert_eq!(volumes[0].0, "a");
        assert!(volumes[0].1.is_unlabelled());
        assert_eq!(
            volumes[1].1.owner("f"),
            crate::labels::Owner::Fleet { tenant: "t1" }
        );
        let none: LeanVolumes = serde_json::from_str(r#"{"Volumes":null}"#).unwrap();
        assert_eq!(none.into_volumes().count(), 0);
    }
}
