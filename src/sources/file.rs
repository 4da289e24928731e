//! The plain-file source: re-reads the tenants file (and its charts and env
//! files) when it changes and sends `Trigger::Loaded` exactly as the git
//! source does, only when the result differs from what it sent last.
//!
//! The first change of a burst is read at once; a read that looks
//! half-written — invalid, or dropping tenants the last good state had —
//! is not sent until the file has been quiet (`Debounce`) and reads the
//! same again, so an editor that truncates before writing never makes the
//! controller forget (or prune) a tenant. A poll every `poll` backs up the
//! watcher (changes to charts and env files are seen there).

use super::debounce::Debounce;
use super::fingerprint::Fingerprint;
use super::watch::watch_dirs;
use crate::desired::DesiredState;
use crate::diagnostic::Diagnostics;
use crate::load::load_desired_tracked;
use crate::trigger::Trigger;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

type Loaded = Result<std::sync::Arc<DesiredState>, Diagnostics>;

/// Runs until the controller's receiver is gone.
/// `scope`: the tenants this process manages (a server's, with `--node`).
pub async fn run_file(
    file: PathBuf,
    poll: Duration,
    scope: crate::desired::Scope,
    tx: UnboundedSender<Trigger>,
) {
    let (changed_tx, mut changed_rx) = unbounded_channel::<()>();
    let _watch = match watch_dirs([file.as_path()], changed_tx) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the tenants file's directory; polling only");
            None
        }
    };
    let mut source = FileSource {
        file: file.clone(),
        scope,
        tx,
        last: None,
        last_good: None,
        inputs: vec![file.clone()],
        read_from: None,
    };
    if !source.read().await {
        return;
    }
    let mut debounce = Debounce::default();
    let mut next_poll = Instant::now() + poll;
    loop {
        let wake = debounce.due_at().map_or(next_poll, |d| d.min(next_poll));
        let eager = tokio::select! {
            Some(()) = changed_rx.recv() => debounce.touch(Instant::now()),
            _ = tokio::time::sleep_until(wake.into()) => {
                let now = Instant::now();
                if debounce.take_due(now) {
                    if !source.read().await {
                        return;
                    }
                    false
                } else if now >= next_poll {
                    next_poll = now + poll;
                    // Inside a burst the trailing read comes soon anyway.
                    !debounce.pending() && source.inputs_changed()
                } else {
                    false
                }
            }
        };
        if eager {
            match source.read_eager().await {
                Eager::Sent => {}
                // Nothing changed (say, an editor's temp file appeared
                // next to it): no burst began, the next change reads at once.
                Eager::Same => debounce.cancel(),
                Eager::Doubtful => {
                    debounce.touch(Instant::now());
                }
                Eager::Closed => return,
            }
        }
    }
}

enum Eager {
    Sent,
    Same,
    /// Invalid or dropping tenants: wait for quiet and read again.
    Doubtful,
    Closed,
}

struct FileSource {
    file: PathBuf,
    scope: crate::desired::Scope,
    tx: UnboundedSender<Trigger>,
    /// What was sent last, to send only changes.
    last: Option<Loaded>,
    /// The last valid state sent: what "dropping tenants" is judged by
    /// (an invalid read in between does not reset it), and whose unchanged
    /// tenants the next load shares.
    last_good: Option<std::sync::Arc<DesiredState>>,
    /// The files the last load read.
    inputs: Vec<PathBuf>,
    /// Their stamps, when the last load was valid and nothing changed
    /// while it read.
    read_from: Option<Fingerprint>,
}

impl FileSource {
    async fn load(&mut self) -> Loaded {
        let (file, previous) = (self.file.clone(), self.inputs.clone());
        let scope = self.scope.clone();
        let in_force = self.last_good.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let before = Fingerprint::of(&previous);
            let (loaded, inputs) = load_desired_tracked(&file, &scope, in_force);
            let after = Fingerprint::of(&inputs);
            (loaded, inputs, before, after)
        })
        .await;
        match loaded {
            Ok((loaded, inputs, before, after)) => {
                // Trusted only when every input is stamped as it was
                // before the read (nothing changed while reading, and
                // none is new): otherwise the next poll reads again. An
                // invalid state is re-read at every poll: a file it needs
                // may appear, and not every such file is among `inputs`.
                self.read_from = (loaded.is_ok() && after.within(&before)).then_some(after);
                self.inputs = inputs;
                loaded.map(std::sync::Arc::new)
            }
            Err(e) => Err(Diagnostics(vec![crate::diagnostic::at_line(
                &self.file,
                1,
                format!("loader panicked: {e}"),
            )])),
        }
    }

    /// Whether a file the last load read changed since (always true
    /// after an invalid load).
    fn inputs_changed(&self) -> bool {
        self.read_from
            .as_ref()
            .is_none_or(|stamps| *stamps != stamps.again())
    }

    /// Reads after a change, before the file is known to be quiet.
    async fn read_eager(&mut self) -> Eager {
        let loaded = self.load().await;
        if same(self.last.as_ref(), &loaded) {
            return Eager::Same;
        }
        let doubtful = match (&loaded, &self.last_good) {
            (Err(_), _) => true,
            (Ok(new), Some(old)) => old.tenants.keys().any(|t| !new.tenants.contains_key(t)),
            (Ok(_), None) => false,
        };
        if doubtful {
            return Eager::Doubtful;
        }
        if self.send(loaded) {
            Eager::Sent
        } else {
            Eager::Closed
        }
    }

    /// Reads and sends whatever the file says, if it differs from the last
    /// send. False once the controller is gone.
    async fn read(&mut self) -> bool {
        let loaded = self.load().await;
        same(self.last.as_ref(), &loaded) || self.send(loaded)
    }

    fn send(&mut self, loaded: Loaded) -> bool {
        if let Ok(good) = &loaded {
            self.last_good = Some(std::sync::Arc::clone(good));
        }
        self.last = Some(loaded.clone());
        self.tx
            .send(Trigger::Loaded {
                revision: String::new(),
                result: Box::new(loaded),
            })
            .is_ok()
    }
}

fn same(last: Option<&Loaded>, new: &Loaded) -> bool {
    match (last, new) {
        (Some(Ok(a)), Ok(b)) => a == b,
        (Some(Err(a)), Err(b)) => a == b,
        _ => false,
    }
}
