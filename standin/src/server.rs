//! The HTTP side of the stand-in: a thread per connection, HTTP/1.0 style
//! (`Connection: close`), which is all a health probe or a test needs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const DATA_DIR: &str = "/app/backend/data";
const MAX_BODY: usize = 1 << 20;

struct State {
    fail_health: AtomicBool,
    /// `STANDIN_SPLIT_STATUS=1`: write the status line in pieces, as some
    /// servers do, to check that probes read a whole line.
    split_status: bool,
    name: String,
    data_dir: PathBuf,
}

pub fn serve() -> ExitCode {
    exit_on_sigterm();
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let state = Arc::new(State {
        fail_health: AtomicBool::new(std::env::var("STANDIN_FAIL_HEALTH").as_deref() == Ok("1")),
        split_status: std::env::var("STANDIN_SPLIT_STATUS").as_deref() == Ok("1"),
        name: std::env::var("WEBUI_NAME").unwrap_or_else(|_| "mAI".into()),
        data_dir: std::env::var_os("STANDIN_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DATA_DIR)),
    });
    let listener = match TcpListener::bind(format!("0.0.0.0:{port}")) {
        Ok(l) => l,
        Err(err) => {
            eprintln!("mai-standin: cannot listen on port {port}: {err}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("mai-standin: listening on port {port}");
    for stream in listener.incoming().flatten() {
        let state = Arc::clone(&state);
        std::thread::spawn(move || {
            if let Err(err) = handle(stream, &state) {
                eprintln!("mai-standin: connection error: {err}");
            }
        });
    }
    ExitCode::SUCCESS
}

/// As PID 1 the process would ignore SIGTERM and `docker stop` would wait
/// for its full timeout; exit promptly like the real app does.
fn exit_on_sigterm() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    match signal_hook::iterator::Signals::new([SIGTERM, SIGINT]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                if signals.forever().next().is_some() {
                    std::process::exit(0);
                }
            });
        }
        Err(err) => eprintln!("mai-standin: cannot install signal handler: {err}"),
    }
}

fn handle(stream: TcpStream, state: &State) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("/").to_string();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((key, value)) = line.split_once(':') {
            if key.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; content_length.min(MAX_BODY)];
    reader.read_exact(&mut body)?;
    let (status, text) = route(&method, &path, body, state);
    respond(stream, status, &text, state.split_status)
}

fn route(method: &str, path: &str, body: Vec<u8>, state: &State) -> (u16, String) {
    match (method, path) {
        ("GET", "/") => (200, format!("{}\n", state.name)),
        // A marker in the data fails health too: a restore test's bad backup.
        ("GET", "/health")
            if state.fail_health.load(Ordering::Relaxed)
                || state.data_dir.join("FAIL_HEALTH").exists() =>
        {
            (503, "{\"status\":false}\n".into())
        }
        ("GET", "/health") => (200, "{\"status\":true}\n".into()),
        ("POST", "/health/fail") => {
            state.fail_health.store(true, Ordering::Relaxed);
            (200, "health will fail\n".into())
        }
        ("POST", "/health/ok") => {
            state.fail_health.store(false, Ordering::Relaxed);
            (200, "health will pass\n".into())
        }
        // What the container's resolver sees for names set by Docker
        // (`extra_hosts`): a FROM scratch image has no shell to ask.
        ("GET", "/hosts") => match std::fs::read_to_string("/etc/hosts") {
            Ok(text) => (200, text),
            Err(err) => (500, format!("{err}\n")),
        },
        // An outbound request from inside the container, for isolation
        // tests: `GET /fetch?url=http://host:port/path` answers 200 with
        // `status N` (what the other end answered) or `error: …`.
        ("GET", path) if path.starts_with("/fetch?url=") => {
            match crate::client::get_status(&path["/fetch?url=".len()..]) {
                Ok(status) => (200, format!("status {status}\n")),
                Err(err) => (200, format!("error: {err}\n")),
            }
        }
        (method, path) if path.starts_with("/data/") => data(method, &path[6..], body, state),
        _ => (404, "not found\n".into()),
    }
}

fn data(method: &str, name: &str, body: Vec<u8>, state: &State) -> (u16, String) {
    let safe = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !safe {
        return (400, "file names are [A-Za-z0-9._-]+\n".into());
    }
    let file = state.data_dir.join(name);
    let result = match method {
        // Whole or not at all (a temporary file, then a rename), as a
        // careful app writes: a snapshot never holds half a file.
        "PUT" | "POST" => {
            let tmp = state.data_dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, body)
                .and_then(|_| std::fs::rename(&tmp, &file))
                .map(|_| "written\n".to_string())
        }
        "GET" => std::fs::read_to_string(&file),
        _ => return (405, "method not allowed\n".into()),
    };
    match result {
        Ok(text) => (200, text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => (404, "no such file\n".into()),
        Err(err) => (500, format!("{err}\n")),
    }
}

fn respond(mut stream: TcpStream, status: u16, text: &str, split: bool) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Error",
    };
    if split {
        stream.set_nodelay(true)?;
        for piece in [
            "HTTP/1.0 ",
            &status.to_string()[..1],
            &status.to_string()[1..],
        ] {
            stream.write_all(piece.as_bytes())?;
            stream.flush()?;
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        return write!(
            stream,
            " {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
    }
    write!(
        stream,
        "HTTP/1.0 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(dir: &std::path::Path) -> State {
        State {
            fail_health: AtomicBool::new(false),
            split_status: false,
            name: "mAI - Test".into(),
            data_dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn root_echoes_the_name_and_health_can_be_told_to_fail() {
        let s = state(&std::env::temp_dir());
        assert_eq!(route("GET", "/", vec![], &s), (200, "mAI - Test\n".into()));
        assert_eq!(route("GET", "/health", vec![], &s).0, 200);
        route("POST", "/health/fail", vec![], &s);
        assert_eq!(route("GET", "/health", vec![], &s).0, 503);
        route("POST", "/health/ok", vec![], &s);
        assert_eq!(route("GET", "/health", vec![], &s).0, 200);
    }

    #[test]
    fn data_files_round_trip_and_unsafe_names_are_refused() {
        let dir = std::env::temp_dir().join(format!("standin-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = state(&dir);
        assert_eq!(route("PUT", "/data/note.txt", b"hi".to_vec(), &s).0, 200);
        assert_eq!(
            route("GET", "/data/note.txt", vec![], &s),
            (200, "hi".into())
        );
        assert_eq!(route("GET", "/data/missing", vec![], &s).0, 404);
        assert_eq!(route("GET", "/data/..%2fetc", vec![], &s).0, 400);
        assert_eq!(route("GET", "/data/.hidden", vec![], &s).0, 400);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
