//! Sending a [`Request`] through the host's `wasi:http/outgoing-handler`, with the `wasip2`
//! crate's bindings (the WASI 0.2 release the Sluice host implements).
//!
//! The body is written after the request is handed to the host, so a large body streams
//! instead of filling a buffer nobody reads. A request timeout is one deadline over the whole
//! exchange, kept here rather than as `request-options` (whose three timeouts each cover only
//! one phase): every wait polls the response (or the body stream) together with a clock
//! pollable at the deadline, and giving up drops the pending response, which makes the host
//! abandon the request.

use std::io::Write;

use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingResponse, Method as WasiMethod, OutgoingBody, OutgoingRequest, Scheme,
};
use wasip2::io::poll::{Pollable, poll};
use wasip2::io::streams::{InputStream, StreamError};

use super::error::HttpError;
use super::request::{Method, Request};
use super::response::Response;
use super::url::Url;

/// Largest chunk read from a response body at once.
const READ_CHUNK: u64 = 64 << 10;

/// Sends `request` and reads the whole response.
pub(crate) fn send(request: &Request) -> Result<Response, HttpError> {
    let what = request.describe();
    let url = Url::parse(&request.url).map_err(|why| HttpError::InvalidRequest(format!("{what}: {why}")))?;
    let deadline = request
        .timeout
        .map(|t| monotonic_clock::now().saturating_add(u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)));
    let outgoing = outgoing_request(request, &url, &what)?;
    let body = outgoing
        .body()
        .map_err(|()| HttpError::Other(format!("{what}: the request body was taken")))?;
    let pending =
        outgoing_handler::handle(outgoing, None).map_err(|code| HttpError::from_code(&code, &what))?;
    // A write or finish error is not reported once the response is known: a denied request
    // also closes its body stream, and the denial is what the handler must see.
    let written = body
        .write()
        .map_err(|()| "the body stream was taken".to_owned())
        .and_then(|mut stream| {
            let result = stream
                .write_all(&request.body)
                .and_then(|()| Write::flush(&mut stream));
            result.map_err(|e| e.to_string())
        });
    let finished = OutgoingBody::finish(body, None);
    if !wait(&pending.subscribe(), deadline) {
        return Err(timed_out(&what));
    }
    let response = pending
        .get()
        .ok_or_else(|| HttpError::Other(format!("{what}: the response was not ready")))?
        .map_err(|()| HttpError::Other(format!("{what}: the response was taken")))?
        .map_err(|code| HttpError::from_code(&code, &what))?;
    // The server has answered: a body stream it closed once it had read what it needed (a
    // server that answers and closes the connection), or before that to answer early, is not
    // a failure of the request. Reporting it would make the handler send the request again.
    if let (Err(_), _) | (_, Err(_)) = (&written, &finished) {
        crate::log::debug(&format!("{what}: answered before the body stream was finished"));
    }
    read(response, deadline, &what)
}

/// The request head: method, URL parts and headers, `content-length` from the body.
fn outgoing_request(request: &Request, url: &Url<'_>, what: &str) -> Result<OutgoingRequest, HttpError> {
    let mut headers: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.clone().into_bytes()))
        .collect();
    let sends_body =
        !request.body.is_empty() || matches!(request.method, Method::Post | Method::Put | Method::Patch);
    if sends_body
        && !request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        headers.push((
            "content-length".into(),
            request.body.len().to_string().into_bytes(),
        ));
    }
    let fields = Fields::from_list(&headers)
        .map_err(|e| HttpError::InvalidRequest(format!("{what}: the host refused a header: {e:?}")))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
        Method::Get => WasiMethod::Get,
        Method::Head => WasiMethod::Head,
        Method::Post => WasiMethod::Post,
        Method::Put => WasiMethod::Put,
        Method::Patch => WasiMethod::Patch,
        Method::Delete => WasiMethod::Delete,
        Method::Options => WasiMethod::Options,
    };
    let scheme = if url.scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    outgoing
        .set_method(&method)
        .and(outgoing.set_scheme(Some(&scheme)))
        .and(outgoing.set_authority(Some(url.authority)))
        .and(outgoing.set_path_with_query(Some(&url.path)))
        .map_err(|()| HttpError::InvalidRequest(format!("{what}: the host refused the URL")))?;
    Ok(outgoing)
}

/// Reads the status, the headers and the whole body.
fn read(response: IncomingResponse, deadline: Option<u64>, what: &str) -> Result<Response, HttpError> {
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| HttpError::Other(format!("{what}: the response body was taken")))?;
    let stream = incoming
        .stream()
        .map_err(|()| HttpError::Other(format!("{what}: the response body stream was taken")))?;
    let body = read_body(&stream, deadline, what)?;
    Ok(Response::new(status, headers, body))
}

fn read_body(stream: &InputStream, deadline: Option<u64>, what: &str) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let chunk = match deadline {
            None => stream.blocking_read(READ_CHUNK),
            Some(_) => stream.read(READ_CHUNK),
        };
        match chunk {
            Ok(chunk) if chunk.is_empty() && deadline.is_some() => {
                if !wait(&stream.subscribe(), deadline) {
                    return Err(timed_out(what));
                }
            }
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(body),
            Err(StreamError::LastOperationFailed(error)) => {
                return Err(match wasip2::http::types::http_error_code(&error) {
                    Some(code) => HttpError::from_code(&code, what),
                    None => HttpError::from_stream_text(&error.to_debug_string(), what),
                });
            }
        }
    }
}

/// Waits until `ready` is, or the deadline passes; false when the deadline came first.
fn wait(ready: &Pollable, deadline: Option<u64>) -> bool {
    let Some(deadline) = deadline else {
        ready.block();
        return true;
    };
    let timer = monotonic_clock::subscribe_instant(deadline);
    poll(&[ready, &timer]).contains(&0) || ready.ready()
}

fn timed_out(what: &str) -> HttpError {
    HttpError::Timeout(format!("{what}: timed out (the request's timeout)"))
}
