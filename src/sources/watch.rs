//! Noticing edits of the tenants file the way people and tools really save
//! it: editors write a temp file and rename it over, `sed -i` and `mv`
//! replace the inode, `git checkout`/`pull` rewrite it. Watching the file
//! itself misses all of those, so the parent directory is watched (notify +
//! debouncer), and a periodic poll backs the watcher up. Either only says
//! "look again"; the controller re-reads and compares content.

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// The watcher's own debounce; the controller adds a trailing debounce on
/// top, so a burst of writes (50 edits in 2 s) becomes a couple of reloads.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// Whether an event can mean new content. Opening, reading and closing a
/// file unwritten are inotify events too, and the source's own read of the
/// tenants file made them: each read woke the watcher for the next one, a
/// loop of ~18 full re-reads a second (at 1,000 tenants most of a core and
/// millions of allocations). A close after writing still counts.
fn changes_content(kind: &EventKind) -> bool {
    !matches!(kind, EventKind::Access(_))
        || matches!(
            kind,
            EventKind::Access(AccessKind::Close(AccessMode::Write))
        )
}

/// Keeps the watcher alive; dropping it stops watching.
pub struct FileWatch {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

/// Watches the directories holding `paths`; sends `()` after each burst
/// that touched one of them. Changes to other files in those directories
/// (the controller's own log, a lock file, an editor's swap file) are not
/// news: at 1,000 tenants a re-read costs ~40 ms of CPU, and a log file
/// next to the tenants file made every log line one.
pub fn watch_dirs<'a>(
    paths: impl IntoIterator<Item = &'a Path>,
    tx: UnboundedSender<()>,
) -> notify::Result<FileWatch> {
    let paths: Vec<&Path> = paths.into_iter().collect();
    let names: std::collections::BTreeSet<std::ffi::OsString> = paths
        .iter()
        .filter_map(|p| p.file_name().map(ToOwned::to_owned))
        .collect();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        match result {
            Ok(events) if !events.is_empty() => {
                // The kernel's queue overflowed: changes were dropped,
                // so the file is read again whatever they were.
                let rescan = events.iter().any(|e| e.need_rescan());
                if rescan {
                    tracing::warn!("file watcher queue overflowed (inotify max_queued_events); re-reading the tenants file");
                }
                let ours = events.iter().any(|e| {
                    changes_content(&e.kind)
                        && e.paths
                            .iter()
                            .any(|p| p.file_name().is_some_and(|n| names.contains(n)))
                });
                if rescan || ours {
                    let _ = tx.send(());
                }
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
