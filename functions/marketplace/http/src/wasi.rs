//! The real [`Transport`]: one request through `wasi:http/outgoing-handler`, with the
//! `wasip2` crate's bindings (the WASI 0.2 release the Sluice host implements).

use std::io::Write;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, IncomingResponse, OutgoingBody, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

use crate::{HttpError, Method, Request, Response, Transport, Url};

/// Largest chunk read from a response body at once.
const READ_CHUNK: u64 = 64 << 10;

/// Sends requests through the host's `wasi:http`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wasi;

impl Transport for Wasi {
    fn send(&self, request: &Request) -> Result<Response, HttpError> {
        let url = Url::parse(&request.url)?;
        let outgoing = outgoing_request(request, &url)?;
        let body = outgoing
            .body()
            .map_err(|()| HttpError::Failed("the request body was taken".into()))?;
        // Bodies here are small JSON documents: buffered before the request goes out.
        let written = body
            .write()
            .map_err(|()| "the body stream was taken".to_owned())
            .and_then(|mut stream| stream.write_all(&request.body).map_err(|e| e.to_string()));
        let pending =
            outgoing_handler::handle(outgoing, None).map_err(|code| failure(&code, url.authority))?;
        let finished = OutgoingBody::finish(body, None).map_err(|code| failure(&code, url.authority));
        let response = loop {
            match pending.get() {
                Some(response) => break response,
                None => pending.subscribe().block(),
            }
        };
        let response = response
            .map_err(|()| HttpError::Failed("the response was taken".into()))?
            .map_err(|code| failure(&code, url.authority))?;
        written.map_err(|e| HttpError::Failed(format!("writing the body: {e}")))?;
        finished?;
        read(response, url.authority)
    }
}

/// The request head: method, URL parts and headers.
fn outgoing_request(request: &Request, url: &Url<'_>) -> Result<OutgoingRequest, HttpError> {
    let mut headers = vec![
        ("content-type".to_owned(), b"application/json".to_vec()),
        (
            "content-length".to_owned(),
            request.body.len().to_string().into_bytes(),
        ),
    ];
    headers.extend(
        request
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone().into_bytes())),
    );
    let fields = Fields::from_list(&headers).map_err(|e| HttpError::BadUrl(format!("headers: {e:?}")))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
        Method::Post => wasip2::http::types::Method::Post,
        Method::Put => wasip2::http::types::Method::Put,
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
        .and(outgoing.set_path_with_query(Some(url.path)))
        .map_err(|()| HttpError::BadUrl(format!("the host refused the url {:?}", request.url)))?;
    Ok(outgoing)
}

/// Reads the status and the whole body.
fn read(response: IncomingResponse, authority: &str) -> Result<Response, HttpError> {
    let status = response.status();
    let incoming = response
        .consume()
        .map_err(|()| HttpError::Failed("the response body was taken".into()))?;
    let stream = incoming
        .stream()
        .map_err(|()| HttpError::Failed("the response body stream was taken".into()))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(error)) => {
                return Err(match wasip2::http::types::http_error_code(&error) {
                    Some(code) => failure(&code, authority),
                    None => HttpError::Failed(error.to_debug_string()),
                });
            }
        }
    }
    Ok(Response { status, body })
}

/// The host's `error-code` as an [`HttpError`]: a denial, or a failure to retry.
fn failure(code: &ErrorCode, authority: &str) -> HttpError {
    match code {
        ErrorCode::HttpRequestDenied => HttpError::Denied(authority.to_owned()),
        other => HttpError::Failed(format!("{authority}: {other:?}")),
    }
}
