//! The labels that mark what tenantctl owns, and the one rule that reads
//! them. An object without `tenantctl.tenant` is not ours: we never stop,
//! remove or change it. An object of another fleet is not ours either.

use std::collections::BTreeMap;

pub const TENANT_LABEL: &str = "tenantctl.tenant";
pub const SPEC_HASH_LABEL: &str = "tenantctl.spec-hash";
/// Which tenants file (fleet) created the object; see [`belongs_to`].
pub const FLEET_LABEL: &str = "tenantctl.fleet";
/// Names (never values) of the env keys that were secret when the container
/// was created, so a plan can mask a secret's old value once it is removed.
pub const SECRET_ENV_LABEL: &str = "tenantctl.secret-env";

/// Labels tenantctl sets for its own bookkeeping. A container created
/// before one of them existed lacks it; that alone is no drift (upgrading
/// tenantctl must not recreate a running fleet).
pub const BOOKKEEPING_LABELS: [&str; 2] = [FLEET_LABEL, SECRET_ENV_LABEL];

/// Every label of a tenant's container: the operator's extra labels, then
/// ours (which win: validation refuses `tenantctl.*` extra labels anyway).
pub fn container_labels(
    extra: &BTreeMap<String, String>,
    fleet: &str,
    tenant: &str,
    spec_hash: &str,
    secret_env_keys: &[&str],
) -> BTreeMap<String, String> {
    let mut labels = extra.clone();
    labels.insert(TENANT_LABEL.into(), tenant.into());
    labels.insert(SPEC_HASH_LABEL.into(), spec_hash.into());
    labels.insert(FLEET_LABEL.into(), fleet.into());
    labels.insert(SECRET_ENV_LABEL.into(), secret_env_keys.join(","));
    labels
}

/// A tenant's volume labels: its container's, minus what describes one
/// container (a volume outlives every container that mounts it), and
/// minus the tenant's own container labels (`own`: a proxy's routing
/// labels, say, mean nothing on a volume).
pub fn volume_labels(
    container_labels: &BTreeMap<String, String>,
    own: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    container_labels
        .iter()
        .filter(|(k, _)| k.as_str() != SPEC_HASH_LABEL && k.as_str() != SECRET_ENV_LABEL)
        .filter(|(k, _)| !own.contains_key(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The pseudo-tenant that owns the shared objects (the network).
pub const SHARED_TENANT_LABEL: &str = "_shared";

/// The fleet's shared network: owned by the pseudo-tenant `_shared`.
pub fn network_labels(extra: &BTreeMap<String, String>, fleet: &str) -> BTreeMap<String, String> {
    let mut labels = extra.clone();
    labels.insert(TENANT_LABEL.into(), SHARED_TENANT_LABEL.into());
    labels.insert(FLEET_LABEL.into(), fleet.into());
    labels
}

/// Whose an object is, read from its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner<'a> {
    /// No tenant label: never touched.
    Foreign,
    /// Ours: this fleet's, or from before fleets existed (no fleet label;
    /// it belongs to the fleet that names its tenant).
    Fleet { tenant: &'a str },
    /// Created by another tenants file on the same host.
    OtherFleet { fleet: &'a str },
}

/// Reads the owner of an object with `labels`, as seen by `fleet`.
pub fn owner<'a>(labels: &'a BTreeMap<String, String>, fleet: &str) -> Owner<'a> {
    owner_of(
        labels.get(TENANT_LABEL).map(String::as_str),
        labels.get(FLEET_LABEL).map(String::as_str),
        fleet,
    )
}

/// The one ownership rule, from the two labels it reads.
fn owner_of<'a>(tenant: Option<&'a str>, fleet_label: Option<&'a str>, fleet: &str) -> Owner<'a> {
    let Some(tenant) = tenant else {
        return Owner::Foreign;
    };
    match fleet_label {
        Some(f) if f != fleet => Owner::OtherFleet { fleet: f },
        // No fleet label: from before fleets existed, ours when we name it.
        _ => Owner::Fleet { tenant },
    }
}

/// What ownership reads of an object's labels, kept instead of all of
/// them where the host's objects are held in bulk: its volumes (two per
/// tenant) in the observed state and the controller's host view. A
/// label map costs a 560-byte tree node however few labels it holds;
/// at 1,000 tenants the volumes' maps were the largest part of the view,
/// twice over during a listing pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerLabels {
    tenant: Option<Box<str>>,
    fleet: Option<Box<str>>,
    /// Whether the object carries any label at all, ours or anyone's.
    labelled: bool,
}

impl OwnerLabels {
    /// Reads them from an object's labels (a list's map or ours).
    pub fn of<'a>(labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        let mut marks = Self::default();
        for (key, value) in labels {
            marks.labelled = true;
            match key.as_str() {
                TENANT_LABEL => marks.tenant = Some(value.as_str().into()),
                FLEET_LABEL => marks.fleet = Some(value.as_str().into()),
                _ => {}
            }
        }
        marks
    }

    /// Whose the object is, as seen by `fleet` (see [`owner`]).
    pub fn owner(&self, fleet: &str) -> Owner<'_> {
        owner_of(self.tenant.as_deref(), self.fleet.as_deref(), fleet)
    }

    /// Whether the object carries `fleet`'s own stamp (see [`stamped`]).
    pub fn stamped(&self, fleet: &str) -> bool {
        self.fleet.as_deref() == Some(fleet)
    }

    /// Not one label at all (see `plan`: a volume of the name tenantctl
    /// generates without any label is one it may reclaim).
    pub fn is_unlabelled(&self) -> bool {
        !self.labelled
    }
}

/// Whether an object with `labels` is `tenant`'s of `fleet` (a legacy
/// object without a fleet label counts when its tenant label matches).
pub fn belongs_to(labels: &BTreeMap<String, String>, fleet: &str, tenant: &str) -> bool {
    matches!(owner(labels, fleet), Owner::Fleet { tenant: t } if t == tenant)
}

/// Whether the object carries `fleet`'s own stamp. Stricter than
/// [`belongs_to`]: what tenantctl removes or renames without its tenant
/// in the file (orphans, a tenant's strays) must be stamped, because a
/// legacy object could be another file's.
pub fn stamped(labels: &BTreeMap<String, String>, fleet: &str) -> bool {
    labels.get(FLEET_LABEL).map(String::as_str) == Some(fleet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_object_of_another_fleet_is_not_ours_and_a_legacy_one_is() {
        let other = labels(&[(TENANT_LABEL, "x"), (FLEET_LABEL, "staging")]);
        let legacy = labels(&[(TENANT_LABEL, "x")]);
        let mine = labels(&[(TENANT_LABEL, "x"), (FLEET_LABEL, "mai")]);
        assert!(!belongs_to(&other, "mai", "x"));
        assert!(belongs_to(&legacy, "mai", "x"));
        assert!(belongs_to(&mine, "mai", "x"));
        assert!(!belongs_to(&mine, "mai", "y"));
        assert_eq!(owner(&labels(&[]), "mai"), Owner::Foreign);
    }

    #[test]
    fn owner_labels_read_ownership_as_the_full_labels_do() {
        let cases = [
            labels(&[(TENANT_LABEL, "x"), (FLEET_LABEL, "staging")]),
            labels(&[(TENANT_LABEL, "x")]),
            labels(&[(TENANT_LABEL, "x"), (FLEET_LABEL, "mai"), ("a", "b")]),
            labels(&[("com.docker.compose.project", "x")]),
            labels(&[]),
        ];
        for full in &cases {
            let marks = OwnerLabels::of(full);
            assert_eq!(marks.owner("mai"), owner(full, "mai"), "{full:?}");
            assert_eq!(marks.stamped("mai"), stamped(full, "mai"), "{full:?}");
            assert_eq!(marks.is_unlabelled(), full.is_empty(), "{full:?}");
        }
    }
}
