//! Turns the state machine's commands into tasks: each runs its Docker
//! work and comes back as one `Done` the loop feeds to the machine.

use super::{pass, pass_cached, reconcile_tenant, Command, Mode, PassDone, Reconciled};
use crate::desired::DesiredState;
use crate::docker::{DockerClient, DockerError};
use crate::metrics::Metrics;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

/// Finished work, as the loop receives it.
pub enum Done {
    Pass(Box<Result<PassDone, DockerError>>),
    Tenant(Box<Reconciled>),
    Rollout(Box<crate::rollout::RolloutReport>),
}

/// Spawns `command` on `workers`; `revision` names the file revision in
/// the task's log span.
pub fn spawn(
    docker: &DockerClient,
    mode: Mode,
    revision: &str,
    command: Command,
    workers: &mut JoinSet<Done>,
) {
    let docker = docker.clone();
    match command {
        Command::Pass {
            desired,
            detail,
            rolling,
            view,
        } => {
            workers.spawn(async move {
                let done = match view {
                    Some(view) => pass_cached(&docker, &desired, view, mode, rolling).await,
                    None => pass(&docker, &desired, detail, mode, rolling).await,
                };
                Done::Pass(Box::new(done))
            });
        }
        Command::Reconcile {
            desired,
            tenant,
            view,
        } => {
            let span = tracing::info_span!("reconcile", tenant = %tenant, revision = %revision);
            workers.spawn(
                async move {
                    Done::Tenant(Box::new(
                        reconcile_tenant(&docker, &desired, &tenant, Some(&view), mode).await,
                    ))
                }
                .instrument(span),
            );
        }
        Command::Rollout { desired, tenants } => {
            let span = tracing::info_span!("rollout", revision = %revision);
            workers.spawn(
                async move {
                    Done::Rollout(Box::new(
                        crate::rollout::roll_out(&docker, &desired, &tenants, &|_| {}).await,
                    ))
                }
                .instrument(span),
            );
        }
    }
}

/// The readers that follow the desired state in force beside the loop:
/// health probes, resource stats, the backup scheduler and the ACME
/// manager (which says on `issued` when a certificate arrived).
pub fn background(
    docker: &DockerClient,
    desired: &watch::Sender<Option<Arc<DesiredState>>>,
    metrics: &Arc<Metrics>,
    stats_interval: std::time::Duration,
    observe_only: bool,
    issued: mpsc::UnboundedSender<()>,
) -> JoinSet<()> {
    let mut set = JoinSet::new();
    set.spawn(crate::probe::run_probes(
        desired.subscribe(),
        Arc::clone(metrics),
    ));
    set.spawn(crate::stats::run_stats(
        docker.clone(),
        desired.subscribe(),
        Arc::clone(metrics),
        stats_interval,
    ));
    set.spawn(crate::backup::run_scheduler(
        docker.clone(),
        desired.subscribe(),
        Arc::clone(metrics),
        observe_only,
    ));
    set.spawn(crate::acme::manager::run(
        desired.subscribe(),
        Arc::clone(metrics),
        observe_only,
        issued,
    ));
    set
}
