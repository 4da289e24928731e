//! A stand-in for the mAI (Open WebUI) image, so tests and the demo can run
//! real containers on a host that has no registry.
//!
//! It speaks the parts of the mAI contract tenantctl relies on:
//! - HTTP on `$PORT` (default 8080): `GET /` echoes `WEBUI_NAME`,
//!   `GET /health` answers 200 (or 503 when told to fail);
//! - data under `/app/backend/data`: `PUT /data/NAME` writes a file there,
//!   `GET /data/NAME` reads it back, so tests can prove volumes survive;
//! - `GET /hosts` returns the container's /etc/hosts (Docker's
//!   `extra_hosts` entries), for tests of host name mapping;
//! - `GET /fetch?url=http://…` makes one request from inside the container
//!   (isolation tests: can this tenant reach another one?);
//! - failing health on demand: a file `FAIL_HEALTH` in the data, env
//!   `STANDIN_FAIL_HEALTH=1` at start, or
//!   `POST /health/fail` and `POST /health/ok` at run time;
//! - a `curl -f URL` subset (when invoked as `curl`), because Docker health
//!   checks in the mAI chart run `curl` inside the container and a
//!   `FROM scratch` image has no curl of its own.

mod client;
mod server;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let invoked_as = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    if invoked_as == "curl" || args.get(1).map(String::as_str) == Some("curl") {
        return client::curl(&args[1..]);
    }
    server::serve()
}
