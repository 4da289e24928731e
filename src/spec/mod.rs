//! The tenants file and charts as the operator wrote them (ripgrep's
//! "low args"): raw serde types with spans, and the parser that turns TOML
//! into them while collecting every error, not just the first.
//! Meaning (defaults, charts, validation) is resolved later in `desired`.

mod chart;
mod env_file;
mod parse;
mod raw;
pub mod rules;

pub use chart::{parse_chart, RawChart};
pub use env_file::parse_env_file;
pub use parse::parse_tenants_file;
pub use raw::{
    EnvTable, EnvValue, RawAcme, RawBackup, RawFile, RawHardening, RawHealth, RawProxy,
    RawResources, RawRollout, RawTenant, RawTls, RawTlsFiles, ScalarValue,
};

/// A value with the byte span it came from, for `PATH:LINE:COL` errors.
pub type Spanned<T> = toml::Spanned<T>;
