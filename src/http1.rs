//! One HTTP/1 request on a stream, built on hyper's client: the host's
//! health probes and nginx checks (`probe`, over TCP) and the Engine's big
//! lists (`DockerClient::get_json`, over its unix socket) share it. No
//! imports from the crate: both sides use it without importing each other.

/// Aborts the task driving a connection when the caller is done with it,
/// also when the caller's future is dropped by a timeout (a detached
/// driver would keep the connection and its buffers until the peer closed).
pub struct Driver(tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One HTTP/1 request over `stream` (TCP for probes, the Engine's unix
/// socket for `DockerClient::get_json`): the response with its body
/// unread, and the connection's driver to keep while reading it.
pub async fn send_on<S>(
    stream: S,
    method: &str,
    host_header: &str,
    path: &str,
    json: Option<String>,
) -> Result<(hyper::Response<hyper::body::Incoming>, Driver), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
    let driver = Driver(tokio::spawn(connection));
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, host_header)
        .header(hyper::header::USER_AGENT, "tenantctl");
    if json.is_some() {
        request = request.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let body = http_body_util::Full::new(hyper::body::Bytes::from(json.unwrap_or_default()));
    let request = request.body(body).map_err(|e| format!("request: {e}"))?;
    let response = sender.send_request(request).await.map_err(|e| {
        if e.is_incomplete_message() {
            "no HTTP answer".to_string()
        } else {
            format!("not an HTTP answer: {e}")
        }
    })?;
    Ok((response, driver))
}
