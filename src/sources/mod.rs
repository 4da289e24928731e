//! Trigger sources: everything that tells the controller to look again.
//! Each sends [`Trigger`](crate::trigger::Trigger)s into one channel;
//! `tenantctl run` starts them ([`start`]) and hands the controller the one
//! receiver. None of them imports the controller.
//!
//! - `file`: the tenants file changed (watch + poll) → `Loaded`;
//! - `git`: a new revision on the followed branch (pull interval, webhook)
//!   → `Loaded`;
//! - `events`: Docker events about our containers → `Tenant`, and
//!   `Relist` after each (re)connect.

mod debounce;
pub mod events;
pub mod file;
mod fingerprint;
pub mod git;
mod watch;

pub use git::GitSettings;

use crate::docker::DockerClient;
use crate::metrics::Metrics;
use crate::trigger::Trigger;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, Receiver, UnboundedReceiver};
use tokio::task::JoinSet;

/// Where the desired state comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A file on this host, re-read when it changes and every `poll`;
    /// `scope`: the tenants this process manages.
    File {
        path: PathBuf,
        poll: Duration,
        scope: crate::desired::Scope,
    },
    /// A branch of a git repository (GitOps).
    Git(GitSettings),
}

/// The running sources; dropping this stops them.
pub struct Sources {
    _tasks: JoinSet<()>,
}

/// Starts the sources and returns the one receiver the controller reads.
/// `hooks` are webhook pull requests (git only); `events` subscribes to
/// Docker events.
pub fn start(
    origin: Origin,
    docker: Option<(DockerClient, Arc<tokio::sync::Notify>)>,
    hooks: Receiver<()>,
    metrics: Arc<Metrics>,
) -> (Sources, UnboundedReceiver<Trigger>) {
    let (tx, rx) = unbounded_channel();
    let mut tasks = JoinSet::new();
    match origin {
        Origin::File { path, poll, scope } => {
            tasks.spawn(file::run_file(path, poll, scope, tx.clone()));
        }
        Origin::Git(git) => {
            tasks.spawn(git::run_git(git, tx.clone(), hooks, Arc::clone(&metrics)));
        }
    }
    if let Some((docker, reopen)) = docker {
        tasks.spawn(events::watch_events(docker, tx, reopen, metrics));
    }
    (Sources { _tasks: tasks }, rx)
}
