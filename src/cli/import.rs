//! `tenantctl import --compose-root DIR [--nginx DIR]… [--chart PATH]
//! [--out DIR] [--allow-partial]`: the report on stdout, what did not carry
//! over also on stderr as `PATH:LINE[:COL]: message`.

use std::path::PathBuf;
use std::process::ExitCode;
use tenantctl::import::{run, Options, Severity};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The directory holding one directory per client, each with a
    /// docker-compose.yml (or .yaml, or compose.yml).
    #[arg(long)]
    compose_root: PathBuf,
    /// An nginx sites directory (or file) mapping domains to ports; repeatable.
    #[arg(long)]
    nginx: Vec<PathBuf>,
    /// The chart the tenants use (a directory with chart.toml).
    #[arg(long, default_value = "charts/mai")]
    chart: PathBuf,
    /// Where tenants.toml, env/ and import-report.md are written.
    #[arg(long, default_value = "imported")]
    out: PathBuf,
    /// Write what can be carried over even when something cannot.
    #[arg(long)]
    allow_partial: bool,
    /// Containers are named `<prefix>-<tenant>`.
    #[arg(long, default_value = "mai")]
    name_prefix: String,
}

impl From<ImportArgs> for Options {
    fn from(a: ImportArgs) -> Options {
        Options {
            compose_root: a.compose_root,
            nginx: a.nginx,
            chart: a.chart,
            out: a.out,
            allow_partial: a.allow_partial,
            name_prefix: a.name_prefix,
        }
    }
}

pub fn run_import(opts: Options) -> ExitCode {
    let outcome = match run(&opts) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("nothing was written.");
            return ExitCode::FAILURE;
        }
    };
    say!("{}", outcome.report);
    for f in outcome
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Unmapped)
    {
        eprintln!("{f}");
    }
    if outcome.written.is_empty() {
        eprintln!(
            "error: {} item(s) cannot be carried over; nothing was written (fix them, or pass --allow-partial to write the rest)",
            outcome.unmapped()
        );
        return ExitCode::FAILURE;
    }
    for path in &outcome.written {
        say!("wrote {}", path.display());
    }
    say!(
        "Imported {} tenant(s); {} item(s) not carried over.",
        outcome.tenants,
        outcome.unmapped()
    );
    ExitCode::SUCCESS
}
