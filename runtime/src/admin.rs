//! The admin endpoint (`--admin ADDR`): `GET /metrics` for Prometheus and `GET /healthz` for
//! probes.
//!
//! Strategy: a scraper or a probe sends one small request and reads one response, so this is
//! a deliberately minimal HTTP/1.1 responder over a `TcpListener` rather than an HTTP stack:
//! read the request head (at most [`MAX_HEAD`] bytes, within [`REQUEST_TIMEOUT`]), route on
//! method and path, answer with `Content-Length` and `Connection: close`, and close. At most
//! [`MAX_CONNECTIONS`] connections are served at once; the permit is taken before accepting,
//! so a flood waits in the listen backlog instead of growing tasks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use crate::host::Host;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// Longest request head read; a longer one is answered 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// How long one connection may take to send its request and receive the answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the admin endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for the admin endpoint on {addr}: {source}")]
pub struct AdminError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// What the OS said.
    pub source: std::io::Error,
}

/// A running admin endpoint; [`AdminServer::stop`] closes it, and so does dropping it
/// (without waiting).
pub struct AdminServer {
    addr: SocketAddr,
    stop: CancellationToken,
    _stop_on_drop: DropGuard,
    task: tokio::task::JoinHandle<()>,
}

impl AdminServer {
    /// Listens on `addr` (port 0 picks a free port) and serves `host`'s metrics and health.
    pub async fn start(addr: SocketAddr, host: Arc<Host>) -> Result<Self, AdminError> {
        let bound = TcpListener::bind(addr).await;
        let listener = bound.map_err(|source| AdminError { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| AdminError { addr, source })?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept(listener, host, stop.clone()));
        tracing::info!(%addr, "admin endpoint: http://{addr}/metrics and http://{addr}/healthz");
        Ok(Self {
            addr,
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
            task,
        })
    }

    /// The address it listens on (the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the connections being served.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Accepts connections until `stop`, one task per connection, then waits for those tasks.
async fn accept(listener: TcpListener, host: Arc<Host>, stop: CancellationToken) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let connections = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit.expect("admin permits are never closed"),
        };
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let host = host.clone();
                connections.spawn(async move {
                    let _ = tokio::time::timeout(REQUEST_TIMEOUT, serve(stream, &host)).await;
                    drop(permit);
                });
            }
            Err(error) => {
                // Usually out of file descriptors: pause rather than spin.
                tracing::warn!("admin endpoint: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    connections.close();
    connections.wait().await;
}

/// Reads one request from `stream`, answers it and closes the connection.
async fn serve(mut stream: TcpStream, host: &Host) -> std::io::Result<()> {
    let response = match read_head(&mut stream).await? {
        Some(head) => route(&head, host),
        None => Response::text(431, "Request Header Fields Too Large", "request head too large\n"),
    };
    stream.write_all(&response.to_bytes()).await?;
    stream.shutdown().await
}

/// The request head (up to the blank line), or `None` if it exceeds [`MAX_HEAD`].
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..read]);
    }
    Ok(Some(head))
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `/metrics`.
    Metrics,
    /// `/healthz`.
    Health,
}

/// The endpoint the request whose head is `head` asks for, and whether it wants the headers
/// only (HEAD); or the error response.
fn parse(head: &[u8]) -> Result<(Endpoint, bool), Response> {
    let line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Response::text(400, "Bad Request", "malformed request line\n"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(Response::text(
            505,
            "HTTP Version Not Supported",
            "HTTP/1.x only\n",
        ));
    }
    let endpoint = match target.split('?').next().unwrap_or_default() {
        "/metrics" => Endpoint::Metrics,
        "/healthz" => Endpoint::Health,
        _ => {
            return Err(Response::text(
                404,
                "Not Found",
                "not found; try /metrics or /healthz\n",
            ));
        }
    };
    match method {
        "GET" => Ok((endpoint, false)),
        "HEAD" => Ok((endpoint, true)),
        _ => Err(Response::text(405, "Method Not Allowed", "only GET and HEAD\n")),
    }
}

/// The answer to the request whose head is `head`.
fn route(head: &[u8], host: &Host) -> Response {
    match parse(head) {
        Ok((endpoint, head_only)) => {
            let response = match endpoint {
                Endpoint::Metrics => metrics(host),
                Endpoint::Health => health(host),
            };
            Response {
                head_only,
                ..response
            }
        }
        Err(response) => response,
    }
}

/// Every deployed function's counters in the Prometheus text format.
fn metrics(host: &Host) -> Response {
    let functions = host
        .registry
        .names()
        .into_iter()
        .filter_map(|name| host.registry.stats(&name).map(|stats| (name, stats)))
        .collect();
    Response {
        status: (200, "OK"),
        content_type: crate::metrics::CONTENT_TYPE,
        body: crate::metrics::encode(functions),
        head_only: false,
    }
}

/// 200 while the NATS connection is up, 503 with its state otherwise.
fn health(host: &Host) -> Response {
    match host.dispatcher.client.connection_state() {
        async_nats::connection::State::Connected => Response::text(200, "OK", "ok\n"),
        state => Response::text(
            503,
            "Service Unavailable",
            &format!("NATS connection is {state}\n"),
        ),
    }
}

/// An HTTP response, always closing the connection.
struct Response {
    status: (u16, &'static str),
    content_type: &'static str,
    body: String,
    /// Send the headers only (a HEAD request).
    head_only: bool,
}

impl Response {
    fn text(code: u16, reason: &'static str, body: &str) -> Self {
        Self {
            status: (code, reason),
            content_type: "text/plain; charset=utf-8",
            body: body.to_owned(),
            head_only: false,
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let (code, reason) = self.status;
        let mut bytes = format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if !self.head_only {
            bytes.extend_from_slice(self.body.as_bytes());
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(result: Result<(Endpoint, bool), Response>) -> Result<(Endpoint, bool), u16> {
        result.map_err(|response| response.status.0)
    }

    #[test]
    fn requests_are_routed_by_method_and_path() {
        let parsed = |head: &str| status(parse(head.as_bytes()));
        assert_eq!(
            parsed("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok((Endpoint::Metrics, false))
        );
        assert_eq!(
            parsed("GET /healthz?verbose HTTP/1.0\r\n\r\n"),
            Ok((Endpoint::Health, false))
        );
        assert_eq!(
            parsed("HEAD /healthz HTTP/1.1\r\n\r\n"),
            Ok((Endpoint::Health, true))
        );
        assert_eq!(parsed("GET / HTTP/1.1\r\n\r\n"), Err(404));
        assert_eq!(parsed("POST /metrics HTTP/1.1\r\n\r\n"), Err(405));
        assert_eq!(parsed("GET /metrics HTTP/2\r\n\r\n"), Err(505));
        assert_eq!(parsed("garbage\r\n\r\n"), Err(400));
        assert_eq!(parsed(""), Err(400));
    }

    #[test]
    fn responses_carry_length_and_close() {
        let response = Response::text(503, "Service Unavailable", "NATS connection is disconnected\n");
        let text = String::from_utf8(response.to_bytes()).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 32\r\nConnection: close\r\n\r\nNATS connection is disconnected\n"
        );
        let head = Response {
            head_only: true,
            ..response
        };
        assert!(String::from_utf8(head.to_bytes()).unwrap().ends_with("\r\n\r\n"));
    }
}
