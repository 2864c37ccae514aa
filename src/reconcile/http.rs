//! The controller's localhost HTTP endpoint: `GET /healthz`, `/readyz` and
//! `/metrics`, one request per connection, answered from the shared
//! [`Metrics`]. Nothing else is served; the endpoint changes nothing.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::metrics::Metrics;

/// Binds `address` (which must be a loopback address) and serves it on a
/// thread for the life of the process; returns the bound address.
pub fn serve(address: &str, metrics: Arc<Mutex<Metrics>>, stale_ms: u64) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(address)?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{bound} is not a loopback address: the endpoint is for this machine (127.0.0.1 or [::1])"),
        ));
    }
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &metrics, stale_ms);
        }
    });
    Ok(bound)
}

fn answer(stream: TcpStream, metrics: &Mutex<Metrics>, stale_ms: u64) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // The rest of the head, so that closing does not reset the connection.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let now = rtt_telemetry::now_ms();
    let (status, kind, body) = {
        let metrics = metrics.lock().unwrap_or_else(|p| p.into_inner());
        match (request.split_whitespace().next(), path) {
            (Some("GET"), "/metrics") => ("200 OK", "text/plain; version=0.0.4", metrics.exposition()),
            (Some("GET"), "/healthz") => match metrics.healthy(now, stale_ms) {
                Ok(body) => ("200 OK", "text/plain", body),
                Err(body) => ("503 Service Unavailable", "text/plain", body),
            },
            (Some("GET"), "/readyz") => match metrics.ready() {
                Ok(body) => ("200 OK", "text/plain", body),
                Err(body) => ("503 Service Unavailable", "text/plain", body),
            },
            (Some("GET"), _) => ("404 Not Found", "text/plain", "/healthz, /readyz or /metrics\n".to_owned()),
            _ => ("405 Method Not Allowed", "text/plain", "GET only\n".to_owned()),
        }
    };
    let mut stream = reader.into_inner();
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
