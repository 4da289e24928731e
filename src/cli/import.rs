//! `tenantctl import --compose-root DIR [--nginx DIR]… [--chart PATH]
//! [--out DIR] [--allow-partial]`: the report on stdout, what did not carry
//! over also on stderr as `PATH:LINE[:COL]: message`.

use std::process::ExitCode;
use tenantctl::import::{run, Options, Severity};

pub fn run_import(opts: &Options) -> ExitCode {
    let outcome = match run(opts) {
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
