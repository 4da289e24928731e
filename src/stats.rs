//! Per-tenant resource usage for capacity planning and billing, from the
//! Docker stats API: one one-shot call per running tenant on a slow
//! interval, a few at a time, so it never crowds out reconciles.

use crate::desired::DesiredState;
use crate::docker::DockerClient;
use crate::metrics::Metrics;
use bollard::query_parameters::StatsOptions;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const MAX_PARALLEL: usize = 4;

pub async fn run_stats(
    docker: DockerClient,
    mut desired: watch::Receiver<Option<Arc<DesiredState>>>,
    metrics: Arc<Metrics>,
    interval: Duration,
) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = desired.changed() => {
                if changed.is_err() { return }
                continue;
            }
        }
        let Some(current) = desired.borrow().clone() else {
            continue;
        };
        let jobs = current
            .tenants
            .values()
            .map(|t| (t.name.clone(), t.container_name.clone()));
        futures_util::stream::iter(jobs)
            .for_each_concurrent(MAX_PARALLEL, |(tenant, container)| {
                let (docker, metrics) = (docker.clone(), Arc::clone(&metrics));
                async move {
                    let options = StatsOptions {
                        stream: false,
                        one_shot: true,
                    };
                    let result = docker
                        .call("stats", |d| async move {
                            d.stats(&container, Some(options)).next().await.transpose()
                        })
                        .await;
                    if let Ok(Some(stats)) = result {
                        let cpu_ns = stats
                            .cpu_stats
                            .and_then(|c| c.cpu_usage)
                            .and_then(|u| u.total_usage);
                        let memory = stats.memory_stats.and_then(|m| m.usage);
                        if let (Some(cpu_ns), Some(memory)) = (cpu_ns, memory) {
                            metrics.observe_usage(&tenant, cpu_ns as f64 / 1e9, memory as f64);
                        }
                    }
                }
            })
            .await;
    }
}
