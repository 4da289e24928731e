//! Noticing edits of the tenants file the way people and tools really save
//! it: editors write a temp file and rename it over, `sed -i` and `mv`
//! replace the inode, `git checkout`/`pull` rewrite it. Watching the file
//! itself misses all of those, so the parent directory is watched (notify +
//! debouncer), and a periodic poll backs the watcher up. Either only says
//! "look again"; the controller re-reads and compares content.

use notify::RecursiveMode;
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// The watcher's own debounce; the controller adds a trailing debounce on
/// top, so a burst of writes (50 edits in 2 s) becomes a couple of reloads.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// Keeps the watcher alive; dropping it stops watching.
pub struct FileWatch {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

/// Watches the directories holding `paths`; sends `()` after each burst.
pub fn watch_dirs<'a>(
    paths: impl IntoIterator<Item = &'a Path>,
    tx: UnboundedSender<()>,
) -> notify::Result<FileWatch> {
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        match result {
            Ok(events) if !events.is_empty() => {
                // The kernel's queue overflowed: changes were dropped,
                // so the file is read again whatever they were.
                if events.iter().any(|e| e.need_rescan()) {
                    tracing::warn!("file watcher queue overflowed (inotify max_queued_events); re-reading the tenants file");
                }
                let _ = tx.send(());
            }
            Ok(_) => {}
            Err(errors) => {
                for e in errors {
                    tracing::warn!(error = %e, "file watcher error; the poll keeps working");
                }
                let _ = tx.send(());
            }
        }
    })?;
    let mut watched = std::collections::BTreeSet::new();
    for path in paths {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if watched.insert(dir.to_path_buf()) {
            debouncer.watch(dir, RecursiveMode::NonRecursive)?;
        }
    }
    Ok(FileWatch {
        _debouncer: debouncer,
    })
}
