//! The one wrapper around bollard. Every call goes through [`DockerClient::call`],
//! which puts it under a timeout, counts it per operation (so anyone can check
//! that a no-op pass costs O(1) calls), and maps Docker's status codes into
//! [`DockerError`] variants the reconciler can reason about.

use bollard::Docker;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Errors from the Docker Engine, one variant per way it matters to us.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DockerError {
    #[error("cannot reach the Docker Engine: {source}")]
    Connect {
        #[source]
        source: bollard::errors::Error,
    },
    #[error("Docker {operation} timed out after {seconds}s")]
    Timeout {
        operation: &'static str,
        seconds: u64,
    },
    /// 404: often "already converged" (e.g. removing what is gone).
    #[error("Docker {operation}: not found: {message}")]
    NotFound {
        operation: &'static str,
        message: String,
    },
    /// 409: a name is taken, or the object is in a state that forbids it.
    #[error("Docker {operation}: conflict: {message}")]
    Conflict {
        operation: &'static str,
        message: String,
    },
    #[error("Docker {operation} failed: {source}")]
    Api {
        operation: &'static str,
        #[source]
        source: bollard::errors::Error,
    },
}

impl DockerError {
    /// A fixed string per variant, safe as a metric label value.
    pub fn metric_label(&self) -> &'static str {
        match self {
            DockerError::Connect { .. } => "connect",
            DockerError::Timeout { .. } => "timeout",
            DockerError::NotFound { .. } => "not_found",
            DockerError::Conflict { .. } => "conflict",
            DockerError::Api { .. } => "api",
        }
    }

    /// Whether trying again later can help without a change of spec.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, DockerError::NotFound { .. })
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, DockerError::NotFound { .. })
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, DockerError::Conflict { .. })
    }

    /// The container a reconcile looked at went away while it acted (gone,
    /// or being removed: `docker rm -f` sends its die event first, and the
    /// reconcile that event started finds the container still there).
    /// Its look is stale; nothing failed.
    pub fn is_vanished_container(&self) -> bool {
        match self {
            DockerError::NotFound { message, .. } => message.contains("No such container"),
            DockerError::Conflict { message, .. } => {
                message.contains("marked for removal") || message.contains("already in progress")
            }
            _ => false,
        }
    }
}

/// Docker calls made, by operation, since the process started; mirrored
/// into `tenantctl_docker_requests_total` once a metric is attached.
#[derive(Debug, Default)]
pub struct RequestCounter {
    counts: Mutex<BTreeMap<&'static str, u64>>,
    metric: OnceLock<prometheus::IntCounterVec>,
}

impl RequestCounter {
    fn bump(&self, operation: &'static str) {
        let mut map = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(operation).or_default() += 1;
        if let Some(metric) = self.metric.get() {
            metric.with_label_values(&[operation]).inc();
        }
    }

    /// Mirrors every later call into `metric` (labels: `operation`).
    pub fn attach(&self, metric: prometheus::IntCounterVec) {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for (operation, count) in counts.iter() {
            metric.with_label_values(&[operation]).inc_by(*count);
        }
        let _ = self.metric.set(metric);
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }
}

/// A connected Docker client with a per-call timeout.
#[derive(Clone)]
pub struct DockerClient {
    pub(crate) api: Docker,
    /// The Engine's socket, as bollard's local connection chose it (for
    /// [`get_json`](Self::get_json)).
    socket: std::path::PathBuf,
    timeout: Duration,
    requests: Arc<RequestCounter>,
}

impl DockerClient {
    /// Connects with the usual defaults (`DOCKER_HOST` or the local socket)
    /// and negotiates the API version, so older engines work too.
    pub async fn connect(timeout: Duration) -> Result<Self, DockerError> {
        let api = Docker::connect_with_local_defaults()
            .map_err(|source| DockerError::Connect { source })?;
        let api = tokio::time::timeout(timeout, api.negotiate_version())
            .await
            .map_err(|_| DockerError::Timeout {
                operation: "negotiate_version",
                seconds: timeout.as_secs(),
            })?
            .map_err(|source| DockerError::Connect { source })?;
        // bollard's local connection: `DOCKER_HOST` when it names a unix
        // socket, else the default one (other schemes are not used).
        let socket = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(std::path::PathBuf::from))
            .unwrap_or_else(|| "/var/run/docker.sock".into());
        let client = Self {
            api,
            socket,
            timeout,
            requests: Arc::default(),
        };
        client
            .call("ping", |d| async move { d.ping().await })
            .await?;
        Ok(client)
    }

    /// The raw API, for streams (events) that do not fit [`call`](Self::call);
    /// count them with [`count`](Self::count).
    pub fn api(&self) -> &Docker {
        &self.api
    }

    pub fn count(&self, operation: &'static str) {
        self.requests.bump(operation);
    }

    pub fn requests(&self) -> &RequestCounter {
        &self.requests
    }

    /// An error of a call driven by hand (a stream), mapped as [`call`]'s.
    pub fn error(&self, operation: &'static str, source: bollard::errors::Error) -> DockerError {
        map_error(operation, source)
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs one Docker call under the client's timeout, counted and mapped.
    pub async fn call<T, F, Fut>(&self, operation: &'static str, f: F) -> Result<T, DockerError>
    where
        F: FnOnce(Docker) -> Fut,
        Fut: Future<Output = Result<T, bollard::errors::Error>>,
    {
        self.call_with_timeout(operation, self.timeout, f).await
    }

    /// Like [`call`](Self::call) with its own limit (stop waits for the app).
    pub async fn call_with_timeout<T, F, Fut>(
        &self,
        operation: &'static str,
        timeout: Duration,
        f: F,
    ) -> Result<T, DockerError>
    where
        F: FnOnce(Docker) -> Fut,
        Fut: Future<Output = Result<T, bollard::errors::Error>>,
    {
        self.requests.bump(operation);
        match tokio::time::timeout(timeout, f(self.api.clone())).await {
            Err(_) => Err(DockerError::Timeout {
                operation,
                seconds: timeout.as_secs(),
            }),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(map_error(operation, source)),
        }
    }
}

impl DockerClient {
    /// `GET path_and_query` (at the negotiated API version) on the Engine's
    /// socket, the JSON answer deserialised into `T` straight from the
    /// body's pieces, under the client's timeout, counted as `operation`
    /// and mapped as [`call`](Self::call)'s errors are. For the lists of a
    /// fleet pass, where `T` keeps only what tenantctl reads (see
    /// `observe::lean`): bollard gathers the body into one buffer and
    /// builds its full model of every object, which at a thousand
    /// containers was the controller's peak memory.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        path_and_query: &str,
    ) -> Result<T, DockerError> {
        self.requests.bump(operation);
        let version = self.api.client_version();
        let uri = format!(
            "/v{}.{}{path_and_query}",
            version.major_version, version.minor_version
        );
        match tokio::time::timeout(self.timeout, get_json(&self.socket, uri)).await {
            Err(_) => Err(DockerError::Timeout {
                operation,
                seconds: self.timeout.as_secs(),
            }),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(map_error(operation, source)),
        }
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    socket: &std::path::Path,
    uri: String,
) -> Result<T, bollard::errors::Error> {
    use http_body_util::BodyExt;
    use hyper::body::Buf;
    let stream = tokio::net::UnixStream::connect(socket).await?;
    let (response, _driver) = crate::http1::send_on(stream, "GET", "docker", &uri, None)
        .await
        .map_err(std::io::Error::other)?;
    let status = response.status().as_u16();
    // The pieces as they came, read in place: no copy into one buffer.
    let body = response.into_body().collect().await?.aggregate();
    if status >= 400 {
        #[derive(serde::Deserialize)]
        struct Refusal {
            message: String,
        }
        let message = serde_json::from_reader::<_, Refusal>(body.reader())
            .map(|r| r.message)
            .unwrap_or_default();
        return Err(bollard::errors::Error::DockerResponseServerError {
            status_code: status,
            message,
        });
    }
    Ok(serde_json::from_reader(body.reader())?)
}

fn map_error(operation: &'static str, source: bollard::errors::Error) -> DockerError {
    match source {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message,
        } => DockerError::NotFound { operation, message },
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message,
        } => DockerError::Conflict { operation, message },
        source => DockerError::Api { operation, source },
    }
}
