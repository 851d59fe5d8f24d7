//! The `http` op: a POST through `wasi:http/outgoing-handler`, with the `wasip2` crate's
//! bindings (the same WASI 0.2 release the host implements).

use std::io::Write;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

/// Largest chunk read from the response body at once.
const READ_CHUNK: u64 = 64 << 10;

/// What came back: the status and the body as text.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body, lossily decoded as UTF-8.
    pub body: String,
}

/// POSTs `body` to `url` (`scheme://authority/path`) and reads the whole response. An error
/// is the host's `error-code`, debug-printed (e.g. `HttpRequestDenied`), or what failed.
pub fn post(url: &str, body: &[u8]) -> Result<Response, String> {
    let (scheme, rest) = url.split_once("://").ok_or("the url has no scheme")?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
    let headers = Fields::from_list(&[
        ("content-type".into(), b"application/json".to_vec()),
        ("content-length".into(), body.len().to_string().into_bytes()),
    ])
    .map_err(|e| format!("headers: {e:?}"))?;
    let request = OutgoingRequest::new(headers);
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.into()),
    };
    request
        .set_method(&Method::Post)
        .and(request.set_scheme(Some(&scheme)))
        .and(request.set_authority(Some(authority)))
        .and(request.set_path_with_query(Some(path)))
        .map_err(|()| format!("the host refused the url {url:?}"))?;
    let outgoing = request.body().map_err(|()| "the request body was taken")?;
    // The body is small enough to be buffered before the request goes out.
    let written = outgoing
        .write()
        .map_err(|()| "the body stream was taken".to_owned())
        .and_then(|mut stream| stream.write_all(body).map_err(|e| e.to_string()));
    let pending = outgoing_handler::handle(request, None).map_err(|code| describe(&code))?;
    let finished = OutgoingBody::finish(outgoing, None).map_err(|code| describe(&code));
    let response = loop {
        match pending.get() {
            Some(response) => break response,
            None => pending.subscribe().block(),
        }
    };
    let response = response
        .map_err(|()| "the response was taken".to_owned())?
        .map_err(|code| describe(&code))?;
    written.map_err(|e| format!("writing the body: {e}"))?;
    finished?;
    let status = response.status();
    let incoming = response.consume().map_err(|()| "the body was taken")?;
    let stream = incoming.stream().map_err(|()| "the body stream was taken")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(error)) => {
                return Err(match wasip2::http::types::http_error_code(&error) {
                    Some(code) => describe(&code),
                    None => error.to_debug_string(),
                });
            }
        }
    }
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

fn describe(code: &ErrorCode) -> String {
    format!("{code:?}")
}
