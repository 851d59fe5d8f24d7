//! Why an HTTP request got no response: [`HttpError`], and how the host's `wasi:http`
//! `error-code`s map onto it.

use std::fmt;

use wasip2::http::types::ErrorCode;

use crate::Error;

/// Why a request got no [`Response`](super::Response).
///
/// Each variant carries a message naming the request (`POST https://…`), what happened and,
/// where the host gave one, its `wasi:http` `error-code`. Converts into an [`Error`] with
/// `?`: [`Denied`](Self::Denied), [`ResponseTooLarge`](Self::ResponseTooLarge) and
/// [`InvalidRequest`](Self::InvalidRequest) are permanent (the same request fails the same
/// way until the manifest or the code changes); [`Timeout`](Self::Timeout),
/// [`Connection`](Self::Connection) and [`Other`](Self::Other) are retryable. A response
/// with a 5xx status is not an error here: see
/// [`Response::error_for_status`](super::Response::error_for_status). (Like
/// [`KvError`](crate::kv::KvError), it does not implement [`std::error::Error`], which would
/// make every `HttpError` retryable through [`Error`]'s blanket conversion.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host refused the request before connecting: its host and port are not in the
    /// function's `permissions.http` (`HTTP-request-denied`).
    Denied(String),
    /// Connecting, the response or its body took too long: the manifest's
    /// `limits.http_timeout`, the request's own [`timeout`](super::Request::timeout), or a
    /// DNS timeout.
    Timeout(String),
    /// The response's body (or headers) is larger than the manifest's
    /// `limits.max_http_response` allows; the handler gets none of it.
    ResponseTooLarge(String),
    /// No connection, or it broke: name not found, refused, reset, a TLS failure, a response
    /// cut short.
    Connection(String),
    /// The request itself is wrong: a URL that is not `http(s)://host/path`, a header name
    /// or value the host refuses, a body the host will not send.
    InvalidRequest(String),
    /// Anything else the host reported (a protocol error from the server, an internal error).
    Other(String),
}

impl HttpError {
    /// The explanation.
    pub fn message(&self) -> &str {
        match self {
            Self::Denied(m)
            | Self::Timeout(m)
            | Self::ResponseTooLarge(m)
            | Self::Connection(m)
            | Self::InvalidRequest(m)
            | Self::Other(m) => m,
        }
    }

    /// The host's `error-code` for `request` (`METHOD url`) as an [`HttpError`]. (Used inside
    /// WebAssembly; natively only its tests call it.)
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn from_code(code: &ErrorCode, request: &str) -> Self {
        use ErrorCode as C;
        let message = |what: &str| format!("{request}: {what} ({code:?})");
        match code {
            C::HttpRequestDenied => Self::Denied(message("denied: the host is not in permissions.http")),
            C::DnsTimeout
            | C::ConnectionTimeout
            | C::ConnectionReadTimeout
            | C::ConnectionWriteTimeout
            | C::HttpResponseTimeout => Self::Timeout(message("timed out")),
            C::HttpResponseBodySize(_)
            | C::HttpResponseHeaderSectionSize(_)
            | C::HttpResponseHeaderSize(_)
            | C::HttpResponseTrailerSectionSize(_)
            | C::HttpResponseTrailerSize(_) => Self::ResponseTooLarge(message(
                "the response is larger than limits.max_http_response allows",
            )),
            C::DnsError(_)
            | C::DestinationNotFound
            | C::DestinationUnavailable
            | C::DestinationIpProhibited
            | C::DestinationIpUnroutable
            | C::ConnectionRefused
            | C::ConnectionTerminated
            | C::ConnectionLimitReached
            | C::TlsProtocolError
            | C::TlsCertificateError
            | C::TlsAlertReceived(_)
            | C::HttpResponseIncomplete => Self::Connection(message("connection failed")),
            C::HttpRequestLengthRequired
            | C::HttpRequestBodySize(_)
            | C::HttpRequestMethodInvalid
            | C::HttpRequestUriInvalid
            | C::HttpRequestUriTooLong
            | C::HttpRequestHeaderSectionSize(_)
            | C::HttpRequestHeaderSize(_)
            | C::HttpRequestTrailerSectionSize(_)
            | C::HttpRequestTrailerSize(_) => Self::InvalidRequest(message("the host refused the request")),
            _ => Self::Other(message("failed")),
        }
    }

    /// A failed read of `request`'s response body that carries no `error-code`, only the
    /// host's text: the Sluice host ends the body stream with "HTTP response body size exceeds
    /// limit" or "HTTP response timeout".
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn from_stream_text(text: &str, request: &str) -> Self {
        let message = format!("{request}: reading the response body failed: {text}");
        let lower = text.to_ascii_lowercase();
        if lower.contains("size exceeds limit") {
            Self::ResponseTooLarge(message)
        } else if lower.contains("timeout") || lower.contains("timed out") {
            Self::Timeout(message)
        } else {
            Self::Connection(message)
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl From<HttpError> for Error {
    fn from(error: HttpError) -> Self {
        match error {
            HttpError::Denied(m) | HttpError::ResponseTooLarge(m) | HttpError::InvalidRequest(m) => {
                Error::permanent(m)
            }
            HttpError::Timeout(m) | HttpError::Connection(m) | HttpError::Other(m) => Error::retryable(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = "POST http://a.test/hook";

    fn kind(code: ErrorCode) -> (&'static str, bool) {
        let error = HttpError::from_code(&code, REQUEST);
        let kind = match error {
            HttpError::Denied(_) => "denied",
            HttpError::Timeout(_) => "timeout",
            HttpError::ResponseTooLarge(_) => "too-large",
            HttpError::Connection(_) => "connection",
            HttpError::InvalidRequest(_) => "invalid",
            HttpError::Other(_) => "other",
        };
        (kind, Error::from(error).is_retryable())
    }

    #[test]
    fn error_codes_map_to_what_handlers_branch_on() {
        assert_eq!(kind(ErrorCode::HttpRequestDenied), ("denied", false));
        assert_eq!(kind(ErrorCode::HttpResponseTimeout), ("timeout", true));
        assert_eq!(kind(ErrorCode::ConnectionTimeout), ("timeout", true));
        assert_eq!(kind(ErrorCode::ConnectionReadTimeout), ("timeout", true));
        assert_eq!(
            kind(ErrorCode::HttpResponseBodySize(Some(2048))),
            ("too-large", false)
        );
        assert_eq!(kind(ErrorCode::ConnectionRefused), ("connection", true));
        assert_eq!(kind(ErrorCode::TlsCertificateError), ("connection", true));
        assert_eq!(kind(ErrorCode::HttpRequestUriInvalid), ("invalid", false));
        assert_eq!(kind(ErrorCode::InternalError(None)), ("other", true));
        assert_eq!(kind(ErrorCode::HttpProtocolError), ("other", true));
    }

    #[test]
    fn messages_name_the_request_and_the_code() {
        let error = HttpError::from_code(&ErrorCode::HttpRequestDenied, REQUEST);
        assert_eq!(
            error.message(),
            "POST http://a.test/hook: denied: the host is not in permissions.http (ErrorCode::HttpRequestDenied)"
        );
        assert_eq!(error.to_string(), error.message());
    }

    #[test]
    fn stream_failures_are_read_from_the_hosts_text() {
        let too_large = HttpError::from_stream_text("HTTP response body size exceeds limit", REQUEST);
        assert!(
            matches!(too_large, HttpError::ResponseTooLarge(_)),
            "{too_large:?}"
        );
        let late = HttpError::from_stream_text("HTTP response timeout", REQUEST);
        assert!(matches!(late, HttpError::Timeout(_)), "{late:?}");
        let reset = HttpError::from_stream_text("connection reset", REQUEST);
        assert!(matches!(reset, HttpError::Connection(_)), "{reset:?}");
    }
}
