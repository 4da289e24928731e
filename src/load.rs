//! Reading a tenants file and everything it references from disk, then
//! handing the contents to the pure resolver. The only IO of the spec side.

use crate::desired::{referenced_paths, resolve, DesiredState, Inputs};
use crate::diagnostic::{at_line, Diagnostics, SourceFile};
use crate::spec::{parse_chart, parse_env_file, parse_tenants_file};
use std::path::Path;

/// Loads, parses, resolves and validates a tenants file. On error the
/// caller must keep its last good state: nothing here has side effects.
pub fn load_desired(path: &Path) -> Result<DesiredState, Diagnostics> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![at_line(
            path,
            1,
            format!("cannot read the tenants file: {e}"),
        )])
    })?;
    load_desired_from(path, text)
}

/// Same as [`load_desired`] for contents already read (e.g. from git).
pub fn load_desired_from(path: &Path, text: String) -> Result<DesiredState, Diagnostics> {
    let file = SourceFile::new(path, text);
    let (raw, mut diags) = parse_tenants_file(&file);
    if !diags.is_empty()
        && raw.tenants.is_empty()
        && diags.iter().any(|d| d.message.starts_with("TOML syntax"))
    {
        return Err(Diagnostics(diags));
    }
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let (chart_dirs, env_paths) = referenced_paths(&raw, &base_dir);
    let mut inputs = Inputs {
        base_dir,
        ..Inputs::default()
    };
    for dir in chart_dirs {
        let chart_path = dir.join("chart.toml");
        let entry = match std::fs::read_to_string(&chart_path) {
            Ok(text) => {
                let chart_file = SourceFile::new(&chart_path, text);
                match parse_chart(&chart_file) {
                    Ok(chart) => Ok((chart_file, chart)),
                    Err(chart_diags) => {
                        diags.extend(chart_diags);
                        Err("the chart has errors (listed with its path)".to_string())
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                "not found: {} does not exist",
                chart_path.display()
            )),
            Err(e) => Err(format!("cannot read {}: {e}", chart_path.display())),
        };
        inputs.charts.insert(dir, entry);
    }
    for env_path in env_paths {
        let entry = match std::fs::read_to_string(&env_path) {
            Ok(text) => parse_env_file(&env_path, &text).map_err(|env_diags| {
                diags.extend(env_diags);
                "the env file has invalid lines (listed with its path)".to_string()
            }),
            Err(e) => Err(format!("cannot read {}: {e}", env_path.display())),
        };
        inputs.env_files.insert(env_path, entry);
    }
    match resolve(&file, &raw, &inputs) {
        Ok(desired) if diags.is_empty() => Ok(desired),
        Ok(_) => Err(Diagnostics(diags)),
        Err(Diagnostics(more)) => {
            diags.extend(more);
            diags.sort_by(|a, b| (&a.path, a.line, a.col).cmp(&(&b.path, b.line, b.col)));
            diags.dedup();
            Err(Diagnostics(diags))
        }
    }
}
