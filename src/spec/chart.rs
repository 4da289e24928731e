//! `chart.toml`: what one kind of tenant is (image, port, env template,
//! volumes, restart policy, limits, health check). Tenants reference a
//! chart directory by path and may override any of its settings.

use super::parse::decode;
use super::raw::{EnvTable, RawHardening, RawHealth, RawResources};
use super::Spanned;
use crate::diagnostic::{Diagnostic, SourceFile};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::de::DeTable;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChart {
    /// Informational name (`mai`).
    pub name: Option<String>,
    pub image: Option<Spanned<String>>,
    pub container_port: Option<Spanned<i64>>,
    pub restart: Option<Spanned<String>>,
    /// Seconds Docker waits after SIGTERM before SIGKILL on stop/recreate.
    pub stop_timeout: Option<Spanned<i64>>,
    #[serde(default)]
    pub env: EnvTable,
    /// Env keys whose values are secrets: shown as `(sensitive)` everywhere.
    #[serde(default)]
    pub sensitive_env: Vec<Spanned<String>>,
    /// Volume key (`data`) → mount path inside the container.
    #[serde(default)]
    pub volumes: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub resources: RawResources,
    #[serde(default)]
    pub health: RawHealth,
    /// As the tenant keys of the same names (`RawTenant`).
    pub extra_hosts: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    pub labels: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    pub networks: Option<Vec<Spanned<String>>>,
    /// How a backup reads a live tenant: `none`, `pause` (default), `stop`.
    pub consistency: Option<Spanned<String>>,
    /// The volume keys a backup archives (default: `data`).
    pub backup_volumes: Option<Vec<Spanned<String>>>,
    /// `stop-first` (default) or `start-first`.
    pub strategy: Option<Spanned<String>>,
    /// Restore a failed upgrade's data from its pre-upgrade backup
    /// (default true).
    pub rollback_data: Option<bool>,
    #[serde(default)]
    pub hardening: RawHardening,
}

/// Parses a chart file, reporting syntax and unknown-key errors with positions.
pub fn parse_chart(file: &SourceFile) -> Result<RawChart, Vec<Diagnostic>> {
    let (table, errors) = DeTable::parse_recoverable(&file.text);
    if !errors.is_empty() {
        return Err(errors
            .into_iter()
            .map(|e| file.diag(e.span(), format!("TOML syntax: {}", e.message())))
            .collect());
    }
    let mut diags = Vec::new();
    let span = table.span();
    let value = Spanned::new(span, toml::de::DeValue::Table(table.into_inner()));
    match decode::<RawChart>(file, value, &mut diags) {
        Some(chart) if diags.is_empty() => Ok(chart),
        _ => Err(diags),
    }
}
