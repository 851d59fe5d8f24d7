//! `market-http`: the JSON-over-HTTP client the marketplace functions share.
//!
//! A Sluice function reaches the web through `wasi:http/outgoing-handler`: the host makes the
//! request, and only to the hosts in the manifest's `permissions.http`. This crate wraps the
//! `wasip2` bindings in one call, [`Wasi::send`], and says what a response means for the event
//! ([`Response::ok`]): 2xx is done, 408, 429 and 5xx are worth retrying, any other status
//! never heals.
//!
//! Handlers take a [`Transport`] instead of calling [`Wasi`] directly, so their unit tests run
//! natively with a fake one (`wasi:http` exists only inside the host).

mod wasi;

use std::fmt;

use sluice_sdk::Error;

pub use wasi::Wasi;

/// The HTTP methods the marketplace uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Create or notify.
    Post,
    /// Replace a whole resource.
    Put,
}

/// One request with a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// `http://host:port/path` or `https://...`.
    pub url: String,
    /// Extra headers (`content-type: application/json` and the length are added).
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body, as received.
    pub body: Vec<u8>,
}

impl Response {
    /// The response when its status says the request was done; otherwise the error the
    /// event fails with, naming `what` was called: retryable for 408, 429 and 5xx (the
    /// server may recover), permanent for any other status.
    pub fn ok(self, what: &str) -> Result<Self, Error> {
        match self.status {
            200..=299 => Ok(self),
            408 | 429 | 500..=599 => Err(Error::retryable(format!(
                "{what} answered {}: {}",
                self.status,
                excerpt(&self.body)
            ))),
            status => Err(Error::permanent(format!(
                "{what} refused the request with {status}: {}",
                excerpt(&self.body)
            ))),
        }
    }
}

/// Why no response arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL is not `scheme://authority/path`.
    BadUrl(String),
    /// The host refused the request: this authority is not in `permissions.http`.
    Denied(String),
    /// Connecting, sending or reading failed (refused, timed out, reset).
    Failed(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl(m) => write!(f, "bad url: {m}"),
            Self::Denied(authority) => write!(f, "{authority} is not in permissions.http"),
            Self::Failed(m) => write!(f, "request failed: {m}"),
        }
    }
}

impl From<HttpError> for Error {
    /// A bad or denied URL is a configuration mistake, permanent until the manifest is
    /// fixed; a failed request is retryable.
    fn from(error: HttpError) -> Self {
        match error {
            HttpError::BadUrl(_) | HttpError::Denied(_) => Error::permanent(error.to_string()),
            HttpError::Failed(_) => Error::retryable(error.to_string()),
        }
    }
}

/// Sends requests. [`Wasi`] is the real one; tests pass their own.
pub trait Transport {
    /// Sends `request` and reads the whole response.
    fn send(&self, request: &Request) -> Result<Response, HttpError>;
}

/// A URL split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Url<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// `host` or `host:port`.
    pub authority: &'a str,
    /// The path and query, starting with `/`.
    pub path: &'a str,
}

impl<'a> Url<'a> {
    /// Splits `url`; anything but `http://` and `https://` with a host is a [`HttpError::BadUrl`].
    pub fn parse(url: &'a str) -> Result<Self, HttpError> {
        let bad = |why: &str| HttpError::BadUrl(format!("{url:?}: {why}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme is not http or https"));
        }
        let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Self {
            scheme,
            authority,
            path,
        })
    }
}

/// At most 200 characters of a response body, for error messages.
fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let url = Url::parse("http://127.0.0.1:8089/hooks/listing-created?x=1").unwrap();
        assert_eq!(
            (url.scheme, url.authority, url.path),
            ("http", "127.0.0.1:8089", "/hooks/listing-created?x=1")
        );
        assert_eq!(Url::parse("https://hooks.example.com").unwrap().path, "/");
        for bad in ["127.0.0.1/x", "ftp://a/b", "http:///path"] {
            assert!(matches!(Url::parse(bad), Err(HttpError::BadUrl(_))), "{bad}");
        }
    }

    #[test]
    fn statuses_decide_between_done_retry_and_give_up() {
        let response = |status| Response {
            status,
            body: b"busy".to_vec(),
        };
        assert!(response(204).ok("hook").is_ok());
        for status in [408, 429, 500, 503] {
            let error = response(status).ok("hook").unwrap_err();
            assert!(error.is_retryable(), "{status}");
            assert_eq!(error.message(), format!("hook answered {status}: busy"));
        }
        assert!(!response(404).ok("hook").unwrap_err().is_retryable());
    }

    #[test]
    fn denied_requests_are_permanent_and_failures_retryable() {
        let denied = Error::from(HttpError::Denied("evil.example.com".into()));
        assert!(!denied.is_retryable());
        assert!(denied.message().contains("permissions.http"));
        assert!(Error::from(HttpError::Failed("connection refused".into())).is_retryable());
    }
}
