//! `wasi:http/outgoing-handler`: outbound HTTP, the only network a handler gets.
//!
//! wasmtime-wasi-http builds the request from the guest's resources and hands it to
//! [`WasiHttpHooks::send_request`]; [`HttpPolicy`] is those hooks for one call. It enforces
//! the function's manifest:
//!
//! - **`permissions.http`**: a request whose host and port no entry allows fails with
//!   `error-code.HTTP-request-denied` before any connection is made, and the host logs one
//!   line naming the function and the authority.
//! - **`limits.http_timeout`**: one deadline for the whole exchange, from connecting to the
//!   last byte of the response body. Past it the response (or the body stream) fails with
//!   `HTTP-response-timeout`. Timeouts a guest sets in `request-options` (connect, first
//!   byte, between bytes) apply too, cut to the same limit, and fail with wasmtime-wasi-http's
//!   `connection-timeout` or `connection-read-timeout`.
//! - **`limits.max_http_response`**: a `Content-Length` above the limit fails the response
//!   with `HTTP-response-body-size(length)` before the guest sees it; a body without one is
//!   counted as it streams, and the read that would pass the limit fails. The guest never
//!   receives more than the limit. Headers are bounded separately by wasmtime-wasi-http's
//!   field-size limit.
//!
//! Failures while the guest reads the body (size, deadline) end its input stream with an
//! error whose text is the reason ("HTTP response body size exceeds limit", "HTTP response
//! timeout"); wasmtime-wasi-http 48 does not map them to an `error-code` for
//! `http-error-code`, so only the response itself fails with a typed code.
//!
//! Requests go out over `http://` or `https://` (rustls with the webpki roots) through
//! wasmtime-wasi-http's default client, one connection per request, HTTP/1.1.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::{Call, State};
use crate::manifest::Manifest;
use crate::telemetry::{Parent, Recording, SpanKind, TRACEPARENT};
use crate::transcript::{Cue, HostCall, Tape};

/// What an exchange gives: the response and the future that drives the connection.
type Sent = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), Error>> + Send>,
    ),
    Error,
>;

/// What [`WasiHttpHooks::send_request`] returns.
type SendFuture = Box<dyn Future<Output = Sent> + Send>;

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_policy,
        }
    }
}

/// The outbound-HTTP rules of the function a store serves.
pub struct HttpPolicy {
    function: Arc<str>,
    manifest: Arc<Manifest>,
    /// The attempt's span, parent of each request's span; `None` when tracing is off.
    trace: Option<Parent>,
    /// Records each exchange, or answers it from a transcript.
    tape: Option<Tape>,
}

impl HttpPolicy {
    /// The rules for `call`'s function; exchanges go through `tape` when there is one.
    pub fn new(call: &Call, tape: Option<Tape>) -> Self {
        Self {
            function: call.function.clone(),
            manifest: call.manifest.clone(),
            trace: call.trace.clone(),
            tape,
        }
    }
}

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_result: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let authority = uri.authority().map_or("", |a| a.as_str()).to_owned();
        let default_port = if uri.scheme() == Some(&Scheme::HTTPS) {
            443
        } else {
            80
        };
        let port = uri.port_u16().unwrap_or(default_port);
        let host = uri.host().unwrap_or("").to_owned();
        if !self.manifest.may_call(&host, port, default_port) {
            tracing::warn!(
                function = %self.function,
                authority,
                "HTTP request denied: {authority:?} is not in permissions.http",
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        tracing::debug!(function = %self.function, method = %request.method(), authority, "HTTP request");
        let call = HostCall::new("http", format!("{} {}", request.method(), request.uri()));
        if let Some(tape) = &self.tape {
            match tape.cue::<RecordedResponse>(&call) {
                Cue::Replayed(recorded) => {
                    // Like a real exchange, the answer comes once the request body is sent.
                    return Box::new(async move {
                        let _ = request.into_body().collect().await;
                        recorded.into_response()
                    });
                }
                Cue::Diverged(why) => return Box::new(async move { Err(Error::InternalError(Some(why))) }),
                Cue::Live => {}
            }
        }
        let limits = &self.manifest.limits;
        let exchange = Exchange {
            function: self.function.clone(),
            authority,
            deadline: Instant::now() + limits.http_timeout,
            max_body: limits.max_http_response,
            tape: self.tape.clone().map(|tape| (tape, call)),
        };
        let options = capped(options, limits.http_timeout);
        let Some(parent) = &self.trace else {
            return Box::new(exchange.send(request, options));
        };
        let span = client_span(parent, &mut request, &host, port);
        Box::new(async move {
            let sent = exchange.send(request, options).await;
            end_client_span(span, &sent);
            sent
        })
    }
}

/// The span of an outgoing request, whose context the request carries in `traceparent`.
fn client_span(parent: &Parent, request: &mut http::Request<WasiBody>, host: &str, port: u16) -> Recording {
    let method = request.method().as_str().to_owned();
    let mut span = parent.child(SpanKind::Client, || method.clone());
    if let Ok(value) = http::HeaderValue::from_str(&span.context().to_traceparent()) {
        request.headers_mut().insert(TRACEPARENT, value);
    }
    span.set("http.request.method", method);
    span.set_with("server.address", || host.to_owned());
    span.set("server.port", i64::from(port));
    span
}

/// Ends a request's span with the response's status (a 4xx or 5xx, or no response, is an
/// error).
fn end_client_span<B, C>(mut span: Recording, sent: &Result<(http::Response<B>, C), Error>) {
    match sent {
        Ok((response, _)) => {
            let status = response.status();
            span.set("http.response.status_code", i64::from(status.as_u16()));
            if status.is_client_error() || status.is_server_error() {
                span.fail(|| status.to_string());
            }
        }
        Err(error) => span.fail(|| error.to_string()),
    }
    span.end();
}

/// The guest's `request-options`, each timeout it set cut to `limit`. Unset ones stay unset:
/// the exchange's own deadline covers them, and fails with `HTTP-response-timeout`.
fn capped(options: Option<RequestOptions>, limit: Duration) -> RequestOptions {
    let options = options.unwrap_or_default();
    let cap = |timeout: Option<Duration>| timeout.map(|t| t.min(limit));
    RequestOptions {
        connect_timeout: cap(options.connect_timeout),
        first_byte_timeout: cap(options.first_byte_timeout),
        between_bytes_timeout: cap(options.between_bytes_timeout),
    }
}

/// One allowed request on its way out: what it may take, and whom to name in the log.
struct Exchange {
    function: Arc<str>,
    authority: String,
    deadline: Instant,
    max_body: u64,
    /// Where the exchange is recorded, and as which call.
    tape: Option<(Tape, HostCall)>,
}

impl Exchange {
    async fn send(self, request: http::Request<WasiBody>, options: RequestOptions) -> Sent {
        let sent = wasmtime_wasi_http::default_send_request(request, Some(options));
        let (response, connection) = match tokio::time::timeout_at(self.deadline, sent).await {
            Ok(Ok(sent)) => sent,
            Ok(Err(error)) => return Err(self.record_failure(error)),
            Err(_elapsed) => {
                let error = self.refuse("timed out (limits.http_timeout)", Error::HttpResponseTimeout);
                return Err(self.record_failure(error));
            }
        };
        let length = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if let Some(length) = length.filter(|&length| length > self.max_body) {
            let error = self.refuse(
                "response body larger than limits.max_http_response",
                Error::HttpResponseBodySize(Some(length)),
            );
            return Err(self.record_failure(error));
        }
        let tee = self.tape.as_ref().map(|(tape, call)| {
            let index = tape.calls();
            tape.note(call.clone(), &RecordedResponse::head(&response));
            (tape.clone(), index)
        });
        let deadline = Box::pin(tokio::time::sleep_until(self.deadline));
        let exchange = Arc::new(self);
        let response = response.map(|body| {
            BoundedBody {
                inner: body.boxed_unsync(),
                received: 0,
                deadline,
                exchange,
                failed: false,
                tee,
            }
            .boxed_unsync()
        });
        let connection: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(connection);
        Ok((response, connection))
    }

    /// Records that the exchange failed with `error` (when it is recorded), and returns it.
    fn record_failure(&self, error: Error) -> Error {
        if let Some((tape, call)) = &self.tape {
            tape.note(call.clone(), &RecordedResponse::failed(&error));
        }
        error
    }

    /// Logs why the exchange failed, naming the function and the authority, and returns
    /// `error` for the guest.
    fn refuse(&self, why: &str, error: Error) -> Error {
        tracing::warn!(
            function = %self.function,
            authority = self.authority,
            max_body = self.max_body,
            "HTTP request to {:?} failed: {why} ({error})",
            self.authority,
        );
        error
    }
}

/// A response body that fails once it passes the size limit or the exchange's deadline.
struct BoundedBody {
    inner: WasiBody,
    received: u64,
    deadline: Pin<Box<Sleep>>,
    exchange: Arc<Exchange>,
    failed: bool,
    /// The tape the body is recorded on, and the index of its call there.
    tee: Option<(Tape, usize)>,
}

impl Body for BoundedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let error = match polled {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |data| data.len() as u64);
                this.received += len;
                if this.received <= this.exchange.max_body {
                    if let (Some((tape, index)), Some(data)) = (&this.tee, frame.data_ref()) {
                        tape.extend_body(*index, data);
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                this.exchange.refuse(
                    "response body larger than limits.max_http_response",
                    Error::HttpResponseBodySize(None),
                )
            }
            Poll::Pending if this.deadline.as_mut().poll(cx).is_ready() => this
                .exchange
                .refuse("timed out (limits.http_timeout)", Error::HttpResponseTimeout),
            other => return other,
        };
        this.failed = true;
        Poll::Ready(Some(Err(error)))
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An HTTP exchange as a transcript keeps it: the response's status and headers, its body
/// as the handler read it (added as it streams), or the error instead of a response.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct RecordedResponse {
    status: u16,
    headers: Vec<(String, String)>,
    /// The body, base64 (set when the transcript is finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    /// Whether the body was cut at the transcript's limit.
    #[serde(default)]
    body_cut: bool,
    /// The exchange's error (wasi-http's error code, as debug text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl RecordedResponse {
    /// The status and headers of `response`; the body follows as it is read.
    fn head<B>(response: &http::Response<B>) -> Self {
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
            .collect();
        Self {
            status: response.status().as_u16(),
            headers,
            ..Self::default()
        }
    }

    /// An exchange that failed with `error`.
    fn failed(error: &Error) -> Self {
        Self {
            error: Some(format!("{error:?}")),
            ..Self::default()
        }
    }

    /// The recorded response (or error) again, for a replay.
    fn into_response(self) -> Sent {
        use base64::Engine;
        if let Some(error) = self.error {
            return Err(replayed_error(&error));
        }
        let body = self
            .body
            .and_then(|body| base64::engine::general_purpose::STANDARD.decode(body).ok())
            .unwrap_or_default();
        let mut response = http::Response::new(
            http_body_util::Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *response.status_mut() = http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::OK);
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(&value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        let connection: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(async { Ok(()) });
        Ok((response, connection))
    }
}

/// The error code a recorded exchange failed with (the codes this host gives by name; any
/// other as an internal error carrying its text).
fn replayed_error(text: &str) -> Error {
    match text {
        "HttpRequestDenied" => Error::HttpRequestDenied,
        "HttpResponseTimeout" => Error::HttpResponseTimeout,
        "ConnectionRefused" => Error::ConnectionRefused,
        "ConnectionTimeout" => Error::ConnectionTimeout,
        "ConnectionReadTimeout" => Error::ConnectionReadTimeout,
        text if text.starts_with("HttpResponseBodySize") => Error::HttpResponseBodySize(None),
        "DnsTimeout" => Error::DnsTimeout,
        text if text.starts_with("DnsError") => Error::DnsError {
            rcode: None,
            info_code: None,
        },
        text if text.starts_with("Connect(") => Error::Connect(std::io::Error::other(text.to_owned())),
        text => Error::InternalError(Some(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_timeouts_are_capped_at_the_limit() {
        let limit = Duration::from_secs(2);
        assert_eq!(capped(None, limit), RequestOptions::default());
        let asked = capped(
            Some(RequestOptions {
                connect_timeout: Some(Duration::from_millis(100)),
                first_byte_timeout: Some(Duration::from_secs(60)),
                between_bytes_timeout: None,
            }),
            limit,
        );
        assert_eq!(asked.connect_timeout, Some(Duration::from_millis(100)));
        assert_eq!(asked.first_byte_timeout, Some(limit));
        assert_eq!(asked.between_bytes_timeout, None);
    }
}
