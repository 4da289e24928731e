//! `tenantctl import`: a server run the seed's way (one compose file per
//! client under a root, hand-written nginx sites) read into a tenants
//! file. It only reads the host's files: nothing outside `--out` is
//! written, Docker is not asked, and when anything does not carry over
//! nothing is written at all unless `--allow-partial` says so.
//!
//! `compose` and `nginx` parse, `map` decides what each client's table
//! holds against the chart, `emit` writes text; this module does the IO.

mod chart;
mod compose;
mod emit;
mod locate;
mod map;
mod nginx;

use std::fmt;
use std::path::{Path, PathBuf};

/// Something in an input file, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: PathBuf,
    pub line: usize,
    pub col: Option<usize>,
    pub severity: Severity,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Not carried over: import fails unless `--allow-partial`.
    Unmapped,
    /// Carried over differently, or left out on purpose; reported only.
    Note,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)?;
        if let Some(col) = self.col {
            write!(f, ":{col}")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub compose_root: PathBuf,
    pub nginx: Vec<PathBuf>,
    /// A chart directory (holding `chart.toml`).
    pub chart: PathBuf,
    pub out: PathBuf,
    pub allow_partial: bool,
    pub name_prefix: String,
}

/// What import did.
#[derive(Debug)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub tenants: usize,
    /// Files written (none when something did not carry over and
    /// `--allow-partial` was not given).
    pub written: Vec<PathBuf>,
    pub report: String,
}

impl Outcome {
    pub fn unmapped(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Unmapped)
            .count()
    }
}

/// The compose files of the root: `*/docker-compose.yml` (or `.yaml`, or
/// `compose.yml`), one per client directory, sorted.
pub fn compose_files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        for name in [
            "docker-compose.yml",
            "docker-compose.yaml",
            "compose.yml",
            "compose.yaml",
        ] {
            let file = dir.join(name);
            if file.is_file() {
                found.push(file);
                break;
            }
        }
    }
    Ok(found)
}

/// Runs the import (see the module docs). `Err` is for what stops it
/// before anything could be read (a missing root or chart).
pub fn run(opts: &Options) -> Result<Outcome, String> {
    let root = std::fs::canonicalize(&opts.compose_root)
        .map_err(|e| format!("--compose-root {}: {e}", opts.compose_root.display()))?;
    let chart_dir = std::fs::canonicalize(&opts.chart).map_err(|e| {
        format!(
            "--chart {}: {e} (give the directory of the chart.toml the tenants should use)",
            opts.chart.display()
        )
    })?;
    let chart_path = chart_dir.join("chart.toml");
    let chart_text = std::fs::read_to_string(&chart_path)
        .map_err(|e| format!("{}: {e}", chart_path.display()))?;
    let chart_file = crate::diagnostic::SourceFile::new(chart_path.clone(), chart_text);
    let raw_chart = crate::spec::parse_chart(&chart_file).map_err(|d| {
        d.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let chart = chart::Chart::from_raw(&raw_chart);

    let mut findings = Vec::new();
    let files = compose_files(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    if files.is_empty() {
        return Err(format!(
            "no */docker-compose.yml (or .yaml, compose.yml) under {}",
            root.display()
        ));
    }
    let read_env = |path: &Path| -> Result<std::collections::BTreeMap<String, String>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        crate::spec::parse_env_file(path, &text).map_err(|d| {
            d.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
    };
    let mut services = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let (found, problems) = compose::parse(file, &text, &read_env);
        services.extend(found);
        findings.extend(problems);
    }
    let mut site_texts = Vec::new();
    for dir in &opts.nginx {
        let paths = if dir.is_file() {
            vec![dir.clone()]
        } else {
            nginx::site_files(dir).map_err(|e| format!("--nginx {}: {e}", dir.display()))?
        };
        for p in paths {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            site_texts.push((p, text));
        }
    }
    let (sites, problems) = nginx::sites(&site_texts);
    findings.extend(problems);
    let fleet = map::map(&services, &sites, &chart, &opts.name_prefix, &mut findings);
    findings.sort_by(|a, b| (&a.path, a.line, &a.message).cmp(&(&b.path, b.line, &b.message)));
    findings.dedup();

    let unmapped = findings.iter().any(|f| f.severity == Severity::Unmapped);
    let write = !unmapped || opts.allow_partial;
    let sources = format!(
        "Compose root: {} ({} files, {} services); nginx: {}; chart: {}",
        root.display(),
        files.len(),
        services.len(),
        if opts.nginx.is_empty() {
            "none".to_string()
        } else {
            site_texts
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        },
        chart_dir.display()
    );
    let report = emit::report(&fleet, &findings, &sources, write);
    let mut outcome = Outcome {
        tenants: fleet.tenants.len(),
        findings,
        written: vec![],
        report,
    };
    if !write {
        return Ok(outcome);
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("--out {}: {e}", opts.out.display()))?;
    let out = std::fs::canonicalize(&opts.out)
        .map_err(|e| format!("--out {}: {e}", opts.out.display()))?;
    let header = format!(
        "Written by `tenantctl import` from {}.\nReview it, then `tenantctl plan -f tenants.toml --adopt` (see import-report.md).",
        root.display()
    );
    let toml_text = emit::tenants_toml(&fleet, &relative(&out, &chart_dir), &header);
    write_file(
        &out.join("tenants.toml"),
        &toml_text,
        0o644,
        &mut outcome.written,
    )?;
    for t in fleet.tenants.iter().filter(|t| !t.secrets.is_empty()) {
        let path = out.join(emit::env_file_name(&t.name));
        std::fs::create_dir_all(path.parent().unwrap_or(&out)).map_err(|e| e.to_string())?;
        write_file(
            &path,
            &emit::env_file(&t.secrets),
            0o600,
            &mut outcome.written,
        )?;
    }
    let report_text = outcome.report.clone();
    write_file(
        &out.join("import-report.md"),
        &report_text,
        0o644,
        &mut outcome.written,
    )?;
    Ok(outcome)
}

/// Written whole to a temporary name with its mode, then renamed: a
/// reader never sees half a file, and a secret is never world-readable.
fn write_file(
    path: &Path,
    text: &str,
    mode: u32,
    written: &mut Vec<PathBuf>,
) -> Result<(), String> {
    crate::atomic_file::write_atomic(path, text.as_bytes(), mode)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    written.push(path.to_path_buf());
    Ok(())
}

/// `to` relative to the directory `from` (both absolute).
fn relative(from: &Path, to: &Path) -> String {
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); a.len() - common];
    parts.extend(
        b[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}
