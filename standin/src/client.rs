//! Just enough of `curl -f URL` for a Docker health check: one GET over
//! plain HTTP, exit 0 on 2xx, 22 (curl's `--fail` code) otherwise.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

pub fn curl(args: &[String]) -> ExitCode {
    let Some(url) = args.iter().rev().find(|a| a.starts_with("http://")) else {
        eprintln!("curl (stand-in): only http:// URLs are supported");
        return ExitCode::from(2);
    };
    match get_status(url) {
        Ok(status) if (200..300).contains(&status) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("curl (stand-in): {url} answered {status}");
            ExitCode::from(22)
        }
        Err(err) => {
            eprintln!("curl (stand-in): {url}: {err}");
            ExitCode::from(7)
        }
    }
}

pub fn get_status(url: &str) -> std::io::Result<u16> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let authority = authority.replacen("localhost:", "127.0.0.1:", 1);
    // A short connect timeout: a dropped packet (an isolated peer) must
    // answer the caller quickly, not after the kernel's minutes.
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&authority)?
        .next()
        .ok_or_else(|| std::io::Error::other("name resolved to no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("malformed HTTP status line"))
}
