//! Reading a tenants file and everything it references from disk, then
//! handing the contents to the pure resolver. The only IO of the spec side.

use crate::desired::{referenced_paths, resolve, DesiredState, Inputs, Scope};
use crate::diagnostic::{at_line, Diagnostics, SourceFile};
use crate::spec::{parse_chart, parse_env_file, parse_tenants_file};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Loads, parses, resolves and validates a tenants file. On error the
/// caller must keep its last good state: nothing here has side effects.
/// Every tenant of the file ([`Scope::Fleet`]).
pub fn load_desired(path: &Path) -> Result<DesiredState, Diagnostics> {
    load_desired_for(path, &Scope::Fleet)
}

/// [`load_desired`] for the tenants of `scope` (a server's, with `--node`).
pub fn load_desired_for(path: &Path, scope: &Scope) -> Result<DesiredState, Diagnostics> {
    load(
        path,
        read_tenants_file(path)?,
        None,
        scope,
        None,
        &mut Vec::new(),
    )
}

/// [`load_desired`], also returning every file the result depends on: the
/// tenants file, its charts, env files and static TLS files. The file
/// source's poll re-reads only when one of them changed on disk.
/// `previous`: the state in force, whose unchanged tenants are shared.
pub fn load_desired_tracked(
    path: &Path,
    scope: &Scope,
    previous: Option<Arc<DesiredState>>,
) -> (Result<DesiredState, Diagnostics>, Vec<PathBuf>) {
    let mut inputs = vec![path.to_path_buf()];
    let result = read_tenants_file(path)
        .and_then(|text| load(path, text, None, scope, previous, &mut inputs));
    if let Ok(desired) = &result {
        let tls = desired
            .tenants
            .values()
            .filter_map(|t| t.tls.as_ref())
            .chain(desired.proxy.as_ref().and_then(|p| p.tls.as_ref()));
        for source in tls {
            if let crate::desired::TlsSource::Files(files) = source {
                inputs.push(files.certificate.clone());
                inputs.push(files.key.clone());
            }
        }
        inputs.sort();
        inputs.dedup();
    }
    (result, inputs)
}

fn read_tenants_file(path: &Path) -> Result<String, Diagnostics> {
    read_regular_file(path, MAX_TENANTS_FILE_BYTES).map_err(|e| {
        Diagnostics(vec![at_line(
            path,
            1,
            format!("cannot read the tenants file: {e}"),
        )])
    })
}

/// Env files and charts are small: a larger one is a mistake (or
/// `/dev/zero`), never something to read into memory.
pub const MAX_INPUT_BYTES: u64 = 1 << 20;
/// A tenants file of 10,000 tenants is about 1 MiB; room to spare.
pub const MAX_TENANTS_FILE_BYTES: u64 = 16 << 20;

/// Reads a regular file of at most `limit` bytes. A FIFO, device or
/// directory is refused before it is opened (opening a FIFO blocks).
pub fn read_regular_file(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or directory cannot be read as configuration)",
        ));
    }
    let too_big = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {} KiB limit", limit / 1024),
        )
    };
    if meta.len() > limit {
        return Err(too_big());
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(text)
}

/// [`load_desired`] for a tenants file inside a git checkout: a chart must
/// come from the repository too. A revision whose chart path leaves the
/// checkout (`../../etc`, or a symlink out of it) is refused, so what runs
/// is always what was reviewed in git. Env files are exempt: they hold
/// secrets and live outside git on purpose.
/// `previous`: the state in force, whose unchanged tenants are shared.
pub fn load_desired_in_repo(
    path: &Path,
    root: &Path,
    scope: &Scope,
    previous: Option<Arc<DesiredState>>,
) -> Result<DesiredState, Diagnostics> {
    load(
        path,
        read_tenants_file(path)?,
        Some(root),
        scope,
        previous,
        &mut Vec::new(),
    )
}

/// Same as [`load_desired`] for contents already read (e.g. from git).
pub fn load_desired_from(path: &Path, text: String) -> Result<DesiredState, Diagnostics> {
    load(path, text, None, &Scope::Fleet, None, &mut Vec::new())
}

/// `root`: a git checkout every chart must stay inside; `previous`: the
/// state in force, whose unchanged tenants are shared; `read`: every other
/// file this reads is added to it.
fn load(
    path: &Path,
    text: String,
    root: Option<&Path>,
    scope: &Scope,
    previous: Option<Arc<DesiredState>>,
    read: &mut Vec<PathBuf>,
) -> Result<DesiredState, Diagnostics> {
    let file = SourceFile::new(path, text);
    let (raw, mut diags) = parse_tenants_file(&file);
    if !diags.is_empty()
        && raw.tenants.is_empty()
        && diags.iter().any(|d| d.message.starts_with("TOML syntax"))
    {
        return Err(Diagnostics(diags));
    }
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let (chart_dirs, env_paths) = referenced_paths(&raw, &base_dir, scope);
    let mut inputs = Inputs {
        base_dir,
        scope: scope.clone(),
        previous,
        ..Inputs::default()
    };
    for dir in chart_dirs {
        let chart_path = dir.join("chart.toml");
        read.push(chart_path.clone());
        if let Some(root) = root {
            if let Err(why) = inside(root, &chart_path) {
                inputs.charts.insert(dir, Err(why));
                continue;
            }
        }
        let entry = match read_regular_file(&chart_path, MAX_INPUT_BYTES) {
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
        read.push(env_path.clone());
        let entry = match read_regular_file(&env_path, MAX_INPUT_BYTES) {
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

/// `Ok` when `path` (symlinks resolved) lies inside `root`.
fn inside(root: &Path, path: &Path) -> Result<(), String> {
    let root = std::fs::canonicalize(root)
        .map_err(|e| format!("cannot resolve the checkout {}: {e}", root.display()))?;
    match std::fs::canonicalize(path) {
        Ok(real) if real.starts_with(&root) => Ok(()),
        Ok(real) => Err(format!(
            "refused: {} is outside the git checkout; a chart must come from the repository",
            real.display()
        )),
        // Not found: the usual "not found" message follows from the read.
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(display_b: &str) -> String {
        format!(
            "[defaults]\nchart = \"{}\"\nimage = \"mai-production:latest\"\n\n[tenants.a]\nport = 8001\n\n[tenants.b]\nport = 8002\ndisplay_name = \"{display_b}\"\n",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/mai").display()
        )
    }

    #[test]
    fn a_reload_shares_the_tenants_it_did_not_change_and_resolves_the_same() {
        let dir = std::env::temp_dir().join(format!("tenantctl-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tenants.toml");
        std::fs::write(&path, fleet("B")).unwrap();
        let (first, _) = load_desired_tracked(&path, &Scope::Fleet, None);
        let first = Arc::new(first.unwrap());
        std::fs::write(&path, fleet("B2")).unwrap();
        let (second, _) = load_desired_tracked(&path, &Scope::Fleet, Some(Arc::clone(&first)));
        let second = second.unwrap();
        assert!(Arc::ptr_eq(&first.tenants["a"], &second.tenants["a"]));
        assert!(!Arc::ptr_eq(&first.tenants["b"], &second.tenants["b"]));
        assert_eq!(second.tenants["b"].display_name, "B2");
        let (alone, _) = load_desired_tracked(&path, &Scope::Fleet, None);
        assert_eq!(alone.unwrap(), second, "sharing changes nothing");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
