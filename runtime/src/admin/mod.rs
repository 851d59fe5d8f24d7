//! The admin endpoint (`--admin ADDR`): `GET /metrics` for Prometheus and `GET /healthz` for
//! probes, over hyper's HTTP/1.1 server. `routes` says what each method and path answer;
//! this module owns the socket and its limits.
//!
//! Strategy: a scraper or a probe sends one small request and reads one response, so each
//! connection carries one request and the answer says `Connection: close`. The limits hold
//! against clients that misbehave: at most [`MAX_CONNECTIONS`] connections are served at once,
//! and the permit is taken before accepting, so a flood waits in the listen backlog instead of
//! growing tasks; a request head over [`MAX_HEAD`] bytes is answered 431 (by hyper, as is a
//! malformed one, 400); a connection gets [`REQUEST_TIMEOUT`] to send its request and receive
//! the answer, then it is closed. Stopping stops accepting, closes the connections that have
//! not sent a byte yet and lets the others finish within that timeout.

mod routes;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use http::header::{CONNECTION, HeaderValue};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use crate::host::Host;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// Longest request head (request line and headers) read; a longer one is answered 431. It is
/// hyper's read buffer, which cannot be smaller than 8 KiB.
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

    /// Stops accepting, closes the connections that have not sent a byte yet and waits for the
    /// others (each within [`REQUEST_TIMEOUT`]).
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
                let (host, stop) = (host.clone(), stop.clone());
                connections.spawn(async move {
                    let answer = |request: Request<Incoming>| routes::answer(&request, &host);
                    let served = tokio::time::timeout(REQUEST_TIMEOUT, serve(stream, answer, stop));
                    if served.await.is_err() {
                        tracing::debug!("admin endpoint: connection closed after {REQUEST_TIMEOUT:?}");
                    }
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

/// Serves the one request `io` carries with `answer` and closes the connection; at `stop`, closes
/// it at once if no request has started.
async fn serve<I, A>(io: I, answer: A, stop: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin,
    A: Fn(Request<Incoming>) -> routes::Answer,
{
    let service = service_fn(|request| {
        let mut response = answer(request);
        let close = HeaderValue::from_static("close");
        response.headers_mut().insert(CONNECTION, close);
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let mut http = http1::Builder::new();
    http.keep_alive(false).max_buf_size(MAX_HEAD);
    let mut connection = pin!(http.serve_connection(TokioIo::new(io), service));
    let served = tokio::select! {
        served = connection.as_mut() => served,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = served {
        // A malformed or oversized head (already answered by hyper) or a peer gone early.
        tracing::debug!("admin endpoint: {error}");
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Answers a routed request with its endpoint's name (the real answers need a host).
    fn answer(request: Request<Incoming>) -> routes::Answer {
        match routes::route(request.method(), request.uri().path()) {
            Ok(endpoint) => routes::text(StatusCode::OK, format!("{endpoint:?}\n")),
            Err(refusal) => refusal.answer(),
        }
    }

    /// What the server writes back to `request`, up to closing the connection.
    async fn exchange(request: &str) -> String {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let served = tokio::spawn(serve(server, answer, CancellationToken::new()));
        client.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        client.read_to_string(&mut response).await.unwrap();
        served.await.unwrap();
        response
    }

    #[tokio::test]
    async fn an_answer_carries_its_length_and_closes_the_connection() {
        let response = exchange("GET /healthz?verbose HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(
            response.contains("\r\ncontent-type: text/plain; charset=utf-8\r\n"),
            "{response}"
        );
        assert!(response.contains("\r\ncontent-length: 7\r\n"), "{response}");
        assert!(response.contains("\r\nconnection: close\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\nHealth\n"), "{response}");
    }

    #[tokio::test]
    async fn head_gets_the_headers_only() {
        let response = exchange("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("\r\ncontent-length: 8\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\n"), "{response}");
    }

    #[tokio::test]
    async fn refusals_are_answered() {
        let response = exchange("POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(
            response.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{response}"
        );
        assert!(response.contains("\r\nallow: GET, HEAD\r\n"), "{response}");
        let response = exchange("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(response.starts_with("HTTP/1.1 404 Not Found\r\n"), "{response}");
        assert!(
            response.ends_with("\r\n\r\nnot found; try /metrics or /healthz\n"),
            "{response}"
        );
    }

    #[tokio::test]
    async fn an_oversized_or_malformed_head_is_refused() {
        let big = "a".repeat(MAX_HEAD);
        let response = exchange(&format!("GET /metrics HTTP/1.1\r\nX-Big: {big}\r\n\r\n")).await;
        assert!(
            response.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{response}"
        );
        let response = exchange("garbage\r\n\r\n").await;
        assert!(response.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{response}");
    }

    #[tokio::test]
    async fn stopping_closes_a_connection_that_sent_nothing() {
        let (mut client, server) = tokio::io::duplex(1024);
        let stop = CancellationToken::new();
        let served = tokio::spawn(serve(server, answer, stop.clone()));
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .expect("closed at once")
            .unwrap();
        let mut response = Vec::new();
        client.read_to_end(&mut response).await.unwrap();
        assert!(response.is_empty());
    }
}
