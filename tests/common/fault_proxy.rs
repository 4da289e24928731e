//! A fault-injecting proxy for the Docker API on a unix socket: tenantctl
//! talks to it as `DOCKER_HOST`, it talks to a real daemon. Each request is
//! forwarded on its own upstream connection (`Connection: close`), so a
//! fault applies to every request, not to the first of a keep-alive
//! connection. The fault in force is switched by the test at any time.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    None,
    /// Container, volume and network lists answer 500.
    List500,
    /// Container lists answer `[]` although containers exist.
    ListEmpty,
    /// Lists never answer.
    ListHang,
    /// Every request waits 30 s before it is forwarded.
    Slow,
    /// Event streams stay open and deliver nothing.
    EventsSilent,
    /// Event streams are cut (each new one too, once its answer began).
    EventsCut,
}

pub struct FaultProxy {
    pub socket: PathBuf,
    fault: Arc<Mutex<Fault>>,
    active: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl FaultProxy {
    pub fn start(upstream: &Path, socket: &Path) -> FaultProxy {
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket).unwrap();
        let proxy = FaultProxy {
            socket: socket.to_path_buf(),
            fault: Arc::new(Mutex::new(Fault::None)),
            active: Arc::default(),
            peak: Arc::default(),
        };
        let (fault, active, peak) = (
            Arc::clone(&proxy.fault),
            Arc::clone(&proxy.active),
            Arc::clone(&proxy.peak),
        );
        let upstream = upstream.to_path_buf();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (fault, active, peak, upstream) = (
                    Arc::clone(&fault),
                    Arc::clone(&active),
                    Arc::clone(&peak),
                    upstream.clone(),
                );
                std::thread::spawn(move || {
                    let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    let _ = serve(client, &upstream, &fault);
                    active.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        proxy
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// Most connections open at once since the last reset.
    pub fn take_peak(&self) -> usize {
        self.peak
            .swap(self.active.load(Ordering::SeqCst), Ordering::SeqCst)
    }
}

fn current(fault: &Mutex<Fault>) -> Fault {
    *fault.lock().unwrap()
}

fn respond(client: &mut UnixStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        client,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn serve(mut client: UnixStream, upstream: &Path, fault: &Mutex<Fault>) -> std::io::Result<()> {
    // The request head (and whatever body bytes came with it).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let bare = path.split('?').next().unwrap_or("");
    let is_container_list = method == "GET" && bare.ends_with("/containers/json");
    let is_list = is_container_list
        || (method == "GET" && (bare.ends_with("/volumes") || bare.ends_with("/networks")));
    let is_events = bare.ends_with("/events");

    match current(fault) {
        Fault::List500 if is_list => {
            return respond(
                &mut client,
                "500 Internal Server Error",
                r#"{"message":"injected fault"}"#,
            )
        }
        Fault::ListEmpty if is_container_list => return respond(&mut client, "200 OK", "[]"),
        Fault::ListHang if is_list => {
            while current(fault) == Fault::ListHang {
                std::thread::sleep(Duration::from_millis(100));
            }
            return Ok(());
        }
        Fault::EventsSilent if is_events => {
            client.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            )?;
            while current(fault) == Fault::EventsSilent {
                std::thread::sleep(Duration::from_millis(100));
            }
            return Ok(());
        }
        Fault::Slow => std::thread::sleep(Duration::from_secs(30)),
        _ => {}
    }

    // Forward on a connection of its own, closed after the answer.
    let mut up = UnixStream::connect(upstream)?;
    let mut rewritten = String::new();
    for line in head[..head.len() - 4].split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            rewritten.push_str(line);
            rewritten.push_str("\r\n");
        }
    }
    rewritten.push_str("Connection: close\r\n\r\n");
    up.write_all(rewritten.as_bytes())?;
    up.write_all(&buf[head_end..])?;
    let (mut client_in, mut up_out) = (client.try_clone()?, up.try_clone()?);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut up_out);
    });
    // The answer back, filtered for event-stream faults (checked at least
    // every 200 ms on a quiet stream).
    if is_events {
        up.set_read_timeout(Some(Duration::from_millis(200)))?;
    }
    loop {
        if is_events && current(fault) == Fault::EventsCut {
            break;
        }
        let n = match up.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        if !(is_events && current(fault) == Fault::EventsSilent) {
            client.write_all(&chunk[..n])?;
        }
    }
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = up.shutdown(std::net::Shutdown::Both);
    Ok(())
}
