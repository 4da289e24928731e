//! The labels that mark what tenantctl owns. An object without
//! `tenantctl.tenant` is not ours: we never stop, remove or change it.

pub const TENANT_LABEL: &str = "tenantctl.tenant";
pub const SPEC_HASH_LABEL: &str = "tenantctl.spec-hash";
