//! What the admin endpoint answers: a match on method and path picks the endpoint, one line
//! each, and one function per endpoint writes its answer.
//!
//! A HEAD request is routed like GET; hyper sends the answer's headers (its
//! `Content-Length` included) without the body.

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;

use crate::host::Host;

/// An answer: status, headers and the whole body.
pub(super) type Answer = Response<Full<Bytes>>;

/// The content type of every answer but the metrics.
const TEXT: &str = "text/plain; charset=utf-8";

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// `/metrics`: every deployed function's counters.
    Metrics,
    /// `/healthz`: whether the NATS connection is up.
    Health,
}

/// Why a request gets no endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// No such path: 404.
    NotFound,
    /// A known path asked with a method it does not answer: 405, with the methods it does
    /// (as the `Allow` header lists them).
    MethodNotAllowed(&'static str),
}

/// The endpoint `method` and `path` (the request target without its query) ask for.
pub(super) fn route(method: &Method, path: &str) -> Result<Endpoint, Refusal> {
    match (method, path) {
        (&Method::GET | &Method::HEAD, "/metrics") => Ok(Endpoint::Metrics),
        (&Method::GET | &Method::HEAD, "/healthz") => Ok(Endpoint::Health),
        (_, "/metrics" | "/healthz") => Err(Refusal::MethodNotAllowed("GET, HEAD")),
        _ => Err(Refusal::NotFound),
    }
}

/// The answer to `request`, from `host`'s state.
pub(super) fn answer<B>(request: &Request<B>, host: &Host) -> Answer {
    match route(request.method(), request.uri().path()) {
        Ok(Endpoint::Metrics) => metrics(host),
        Ok(Endpoint::Health) => health(host),
        Err(refusal) => refusal.answer(),
    }
}

impl Refusal {
    /// The answer that says so.
    pub(super) fn answer(self) -> Answer {
        match self {
            Refusal::NotFound => text(StatusCode::NOT_FOUND, "not found; try /metrics or /healthz\n"),
            Refusal::MethodNotAllowed(allowed) => method_not_allowed(allowed),
        }
    }
}

/// Every deployed function's counters in the Prometheus text format.
fn metrics(host: &Host) -> Answer {
    let functions = host
        .registry
        .names()
        .into_iter()
        .filter_map(|name| host.registry.stats(&name).map(|stats| (name, stats)))
        .collect();
    respond(
        StatusCode::OK,
        crate::metrics::CONTENT_TYPE,
        crate::metrics::encode(functions),
    )
}

/// 200 while the NATS connection is up, 503 with its state otherwise.
fn health(host: &Host) -> Answer {
    match host.dispatcher.client.connection_state() {
        async_nats::connection::State::Connected => text(StatusCode::OK, "ok\n"),
        state => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("NATS connection is {state}\n"),
        ),
    }
}

/// 405, naming the methods the path answers (`allowed`, as the `Allow` header lists them).
fn method_not_allowed(allowed: &'static str) -> Answer {
    let body = format!("only {}\n", allowed.replace(", ", " and "));
    let mut answer = text(StatusCode::METHOD_NOT_ALLOWED, body);
    answer
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allowed));
    answer
}

/// A plain-text answer.
pub(super) fn text(status: StatusCode, body: impl Into<String>) -> Answer {
    respond(status, TEXT, body.into())
}

/// An answer with `status`, `content_type` and `body` (hyper adds `Content-Length`).
fn respond(status: StatusCode, content_type: &'static str, body: String) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body)));
    *answer.status_mut() = status;
    answer
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    answer
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    /// The status and body of `answer`.
    async fn read(answer: Answer) -> (u16, String) {
        let status = answer.status().as_u16();
        let body = answer.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[test]
    fn requests_are_routed_by_method_and_path() {
        assert_eq!(route(&Method::GET, "/metrics"), Ok(Endpoint::Metrics));
        assert_eq!(route(&Method::HEAD, "/metrics"), Ok(Endpoint::Metrics));
        assert_eq!(route(&Method::GET, "/healthz"), Ok(Endpoint::Health));
        assert_eq!(route(&Method::HEAD, "/healthz"), Ok(Endpoint::Health));
        assert_eq!(route(&Method::GET, "/"), Err(Refusal::NotFound));
        assert_eq!(route(&Method::POST, "/nope"), Err(Refusal::NotFound));
        let not_allowed = Err(Refusal::MethodNotAllowed("GET, HEAD"));
        assert_eq!(route(&Method::POST, "/metrics"), not_allowed);
        assert_eq!(route(&Method::DELETE, "/healthz"), not_allowed);
    }

    #[tokio::test]
    async fn refusals_say_why() {
        let not_found = (404, "not found; try /metrics or /healthz\n".to_owned());
        assert_eq!(read(Refusal::NotFound.answer()).await, not_found);
        let refusal = Refusal::MethodNotAllowed("GET, HEAD").answer();
        assert_eq!(refusal.headers()[ALLOW], "GET, HEAD");
        assert_eq!(refusal.headers()[CONTENT_TYPE], TEXT);
        assert_eq!(read(refusal).await, (405, "only GET and HEAD\n".to_owned()));
    }
}
