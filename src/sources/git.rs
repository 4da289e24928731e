//! GitOps pull: `tenantctl run --git URL` keeps its own checkout of one
//! branch, fetches it every pull interval (or when a signed webhook asks),
//! and hands each new revision's desired state to the controller. Charts
//! referenced by relative path come from the same revision. Force pushes
//! are followed (the branch ref is fetched with `+`). A revision that does
//! not validate is refused once and logged with its commit; the controller
//! keeps enforcing the last good one. An unreachable remote only bumps the
//! failure counter.

use crate::load::load_desired_in_repo;
use crate::metrics::Metrics;
use crate::trigger::Trigger;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{Receiver, UnboundedSender};

const GIT_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct GitSettings {
    pub url: String,
    pub branch: String,
    /// The tenants file inside the repository.
    pub path: PathBuf,
    pub pull_interval: Duration,
    /// The controller's own working copy (created if missing).
    pub checkout: PathBuf,
    /// The tenants this process manages (a server's, with `--node`).
    pub scope: crate::desired::Scope,
}

impl GitSettings {
    pub fn tenants_file(&self) -> PathBuf {
        self.checkout.join(&self.path)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("`git {args}` failed: {stderr}")]
    Command { args: String, stderr: String },
    #[error("`git {args}` timed out after {GIT_TIMEOUT:?}")]
    Timeout { args: String },
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
}

async fn git(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let joined = args.join(" ");
    let output = tokio::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(GIT_TIMEOUT, output)
        .await
        .map_err(|_| GitError::Timeout {
            args: joined.clone(),
        })?
        .map_err(GitError::Spawn)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr)
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .to_string();
        Err(GitError::Command {
            args: joined,
            stderr,
        })
    }
}

/// Fetches the branch and returns the remote head's commit.
async fn fetch(settings: &GitSettings) -> Result<String, GitError> {
    let dir = &settings.checkout;
    if !dir.join(".git").exists() {
        std::fs::create_dir_all(dir).map_err(GitError::Spawn)?;
        git(dir, &["init", "--quiet"]).await?;
    }
    // (Re)point origin every time, so a changed --git URL takes effect.
    let _ = git(dir, &["remote", "remove", "origin"]).await;
    git(dir, &["remote", "add", "origin", &settings.url]).await?;
    let refspec = format!("+refs/heads/{0}:refs/remotes/origin/{0}", settings.branch);
    git(dir, &["fetch", "--quiet", "--no-tags", "origin", &refspec]).await?;
    git(
        dir,
        &[
            "rev-parse",
            &format!("refs/remotes/origin/{}", settings.branch),
        ],
    )
    .await
}

/// Runs forever: pull, and on a new head check it out, load it and send
/// it to the controller as `Trigger::Loaded`.
pub async fn run_git(
    settings: GitSettings,
    tx: UnboundedSender<Trigger>,
    mut hooks: Receiver<()>,
    metrics: Arc<Metrics>,
) {
    let mut seen: Option<String> = None;
    // The last valid state sent: a reload shares its unchanged tenants.
    let mut in_force: Option<Arc<crate::desired::DesiredState>> = None;
    loop {
        match fetch(&settings).await {
            Err(e) => {
                metrics.git_pull_failures.inc();
                tracing::warn!(error = %e, url = %settings.url, "git pull failed; the last good revision stays enforced");
            }
            Ok(head) => {
                metrics
                    .git_last_pull_success
                    .set(crate::clock::unix_secs_f64());
                if seen.as_deref() != Some(head.as_str()) {
                    let checked_out = git(
                        &settings.checkout,
                        &["checkout", "--quiet", "--force", "--detach", &head],
                    )
                    .await;
                    let _ = git(&settings.checkout, &["clean", "-fdq"]).await;
                    match checked_out {
                        Err(e) => {
                            tracing::warn!(error = %e, revision = %head, "cannot check out the new revision")
                        }
                        Ok(_) => {
                            seen = Some(head.clone());
                            let file = settings.tenants_file();
                            let root = settings.checkout.clone();
                            let scope = settings.scope.clone();
                            let previous = in_force.clone();
                            let result = tokio::task::spawn_blocking(move || {
                                load_desired_in_repo(&file, &root, &scope, previous)
                            })
                            .await
                            .unwrap_or_else(|e| {
                                Err(crate::diagnostic::Diagnostics(vec![
                                    crate::diagnostic::at_line(
                                        Path::new("?"),
                                        1,
                                        format!("loader panicked: {e}"),
                                    ),
                                ]))
                            });
                            let result = result.map(std::sync::Arc::new);
                            if let Ok(state) = &result {
                                in_force = Some(Arc::clone(state));
                            }
                            if tx
                                .send(Trigger::Loaded {
                                    revision: head,
                                    result: Box::new(result),
                                })
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.pull_interval) => {}
            hook = hooks.recv() => {
                if hook.is_some() {
                    tracing::info!("webhook: pulling now");
                }
            }
        }
    }
}
