//! Tenants file parsing. The document is parsed once into a spanned tree
//! (recovering from syntax errors to report them all), then every top-level
//! key and every tenant is deserialized on its own, so one tenant's unknown
//! key does not hide another tenant's error.

use super::raw::{RawFile, RawTenant};
use crate::diagnostic::{Diagnostic, SourceFile};
use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

const TOP_LEVEL_KEYS: &str =
    "`allow_empty`, `backend`, `publish_mode`, `fleet`, `name_prefix`, `network`, `isolate_tenants`, `host_ip`, `labels`, `proxy`, `backup`, `rollout`, `defaults`, `tenants`";

/// Parses a tenants file. Returns the raw file (as far as it could be read)
/// and every problem found; a non-empty list means the file is rejected.
pub fn parse_tenants_file(file: &SourceFile) -> (RawFile, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut raw = RawFile::default();
    let (table, errors) = DeTable::parse_recoverable(&file.text);
    if !errors.is_empty() {
        for err in errors {
            diags.push(file.diag(err.span(), format!("TOML syntax: {}", err.message())));
        }
        diags.sort_by_key(|d| (d.line, d.col));
        diags.dedup();
        return (raw, diags);
    }
    for (key, value) in table.into_inner() {
        let key_span = key.span();
        match key.get_ref().as_ref() {
            "allow_empty" => {
                raw.allow_empty = decode(file, value, &mut diags).unwrap_or(false);
            }
            "name_prefix" => raw.name_prefix = decode(file, value, &mut diags),
            "backend" => raw.backend = decode(file, value, &mut diags),
            "publish_mode" => raw.publish_mode = decode(file, value, &mut diags),
            "fleet" => raw.fleet = decode(file, value, &mut diags),
            "network" => raw.network = decode(file, value, &mut diags),
            "isolate_tenants" => raw.isolate_tenants = decode(file, value, &mut diags),
            "host_ip" => raw.host_ip = decode(file, value, &mut diags),
            "labels" => raw.labels = decode(file, value, &mut diags).unwrap_or_default(),
            "defaults" => raw.defaults = decode(file, value, &mut diags).unwrap_or_default(),
            "proxy" => raw.proxy = decode(file, value, &mut diags),
            "backup" => raw.backup = decode(file, value, &mut diags),
            "rollout" => raw.rollout = decode(file, value, &mut diags),
            "tenants" => {
                raw.tenants_span = Some(value.span());
                parse_tenants(file, value, &mut raw, &mut diags);
            }
            other => diags.push(file.diag(
                Some(key_span),
                format!("unknown key `{other}`; expected one of {TOP_LEVEL_KEYS}"),
            )),
        }
    }
    diags.sort_by_key(|d| (d.line, d.col));
    diags.dedup();
    (raw, diags)
}

fn parse_tenants(
    file: &SourceFile,
    value: Spanned<DeValue<'_>>,
    raw: &mut RawFile,
    diags: &mut Vec<Diagnostic>,
) {
    let span = value.span();
    let DeValue::Table(tenants) = value.into_inner() else {
        diags.push(file.diag(
            Some(span),
            "`tenants` must be a table of tenants, e.g. `[tenants.companyabc]`",
        ));
        return;
    };
    for (name, tenant) in tenants {
        let name_span = name.span();
        let name = Spanned::new(name_span.clone(), name.into_inner().into_owned());
        if !matches!(tenant.get_ref(), DeValue::Table(_)) {
            diags.push(file.diag(
                Some(tenant.span()),
                format!(
                    "tenant `{}` must be a table, e.g. `[tenants.{}]` with `port = 8001`",
                    name.get_ref(),
                    name.get_ref()
                ),
            ));
            continue;
        }
        let parsed: Option<RawTenant> = decode_each_key(file, tenant, diags);
        raw.tenants.push((name, parsed));
    }
    raw.tenants.sort_by_key(|(name, _)| name.span().start);
}

/// Deserializes a tenant table. serde stops at the first bad field, so on
/// failure every key is decoded again on its own: all of a tenant's type
/// errors are reported in one run, as the README promises.
fn decode_each_key(
    file: &SourceFile,
    value: Spanned<DeValue<'_>>,
    diags: &mut Vec<Diagnostic>,
) -> Option<RawTenant> {
    let mut first = Vec::new();
    if let Some(tenant) = decode(file, value.clone(), &mut first) {
        return Some(tenant);
    }
    let span = value.span();
    let DeValue::Table(table) = value.into_inner() else {
        diags.extend(first);
        return None;
    };
    let before = diags.len();
    for (key, item) in table {
        let mut one = toml::de::DeTable::new();
        one.insert(key, item);
        let _: Option<RawTenant> =
            decode(file, Spanned::new(span.clone(), DeValue::Table(one)), diags);
    }
    if diags.len() == before {
        diags.extend(first);
    }
    None
}

/// Deserializes one spanned subtree, recording its error (with position).
pub(super) fn decode<T: DeserializeOwned>(
    file: &SourceFile,
    value: Spanned<DeValue<'_>>,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    let fallback = value.span();
    match T::deserialize(ValueDeserializer::from(value)) {
        Ok(v) => Some(v),
        Err(err) => {
            let span = err.span().or(Some(fallback));
            diags.push(file.diag(span, err.message().trim().to_string()));
            None
        }
    }
}
