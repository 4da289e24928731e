//! Docker events as hints. The stream is subscribed first, then a relist is
//! requested, so nothing that happens in between is missed. On an error, an
//! end of stream, or a stream silent for too long, it reconnects with
//! backoff and asks for a relist again: events are never the only source of
//! truth, the periodic resync is.

use crate::backoff::backoff;
use crate::docker::DockerClient;
use crate::labels::TENANT_LABEL;
use crate::trigger::{ContainerEvent, EventAction, Trigger};
use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::Notify;

use crate::metrics::Metrics;

/// Why the stream was left without an item.
enum Wake {
    /// Nothing for [`SILENCE`].
    Silent,
    /// The watchdog asked for a reopen.
    Frozen,
}

/// The next event, or why there is none.
async fn next_or_reopen<S>(stream: &mut S, reopen: &Notify) -> Result<Option<S::Item>, Wake>
where
    S: futures_util::Stream + Unpin,
{
    tokio::select! {
        item = tokio::time::timeout(SILENCE, stream.next()) => item.map_err(|_| Wake::Silent),
        _ = reopen.notified() => Err(Wake::Frozen),
    }
}

/// A stream with no event for this long is reopened (and a relist done):
/// a proxy or daemon restart can leave a connection open but dead.
pub const SILENCE: Duration = Duration::from_secs(300);

/// Events that can mean drift. Health checks alone raise `exec_*` events
/// every interval on every container; reacting to those would turn a quiet
/// fleet into a steady stream of reconciles.
const RELEVANT: [&str; 8] = [
    "die", "stop", "destroy", "update", "rename", "pause", "unpause", "oom",
];

/// `reopen`: the controller's watchdog found the stream frozen (a change
/// the resync saw that no event announced).
pub async fn watch_events(
    docker: DockerClient,
    tx: UnboundedSender<Trigger>,
    reopen: Arc<Notify>,
    metrics: Arc<Metrics>,
) {
    let reopened = |reason: &str| {
        metrics
            .event_stream_reopened
            .with_label_values(&[reason])
            .inc();
    };
    let mut attempt = 0u32;
    loop {
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("label".to_string(), vec![TENANT_LABEL.to_string()]),
            (
                "event".to_string(),
                RELEVANT.iter().map(|e| e.to_string()).collect(),
            ),
        ]);
        docker.count("events");
        let mut stream = Box::pin(docker.api().events(Some(EventsOptions {
            filters: Some(filters),
            ..Default::default()
        })));
        // The request goes out on the first poll: subscribe, then relist.
        let first = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
        if tx.send(Trigger::Relist).is_err() {
            return;
        }
        let mut next = match first {
            Ok(item) => Ok(item),
            Err(_) => next_or_reopen(&mut stream, &reopen).await,
        };
        loop {
            match next {
                Ok(Some(Ok(event))) => {
                    attempt = 0;
                    let labels = event.actor.as_ref().and_then(|a| a.attributes.as_ref());
                    let tenant = labels.and_then(|l| l.get(TENANT_LABEL));
                    let action = EventAction::parse(event.action.as_deref().unwrap_or(""));
                    // A rename names the container's old name apart.
                    let name_key = if action == EventAction::Rename {
                        "oldName"
                    } else {
                        "name"
                    };
                    let container = labels.and_then(|l| l.get(name_key));
                    if let (Some(tenant), Some(container)) = (tenant, container) {
                        tracing::debug!(tenant, ?action, "docker event");
                        let event = ContainerEvent {
                            tenant: tenant.clone(),
                            container: container.trim_start_matches('/').to_string(),
                            action,
                        };
                        if tx.send(Trigger::Event(event)).is_err() {
                            return;
                        }
                    }
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(error = %e, "docker event stream failed; reconnecting");
                    reopened("error");
                    break;
                }
                Ok(None) => {
                    tracing::warn!("docker event stream ended; reconnecting");
                    reopened("ended");
                    break;
                }
                Err(Wake::Silent) => {
                    tracing::debug!("docker event stream silent; reopening it");
                    reopened("silent");
                    attempt = 0;
                    break;
                }
                Err(Wake::Frozen) => {
                    tracing::warn!("reopening the docker event stream the watchdog found frozen");
                    reopened("frozen");
                    attempt = 0;
                    break;
                }
            }
            next = next_or_reopen(&mut stream, &reopen).await;
        }
        attempt += 1;
        tokio::time::sleep(backoff("events", attempt)).await;
    }
}
