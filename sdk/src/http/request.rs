//! Building an outbound request: the method, URL, headers, body and timeout.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::error::HttpError;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
    /// `OPTIONS`.
    Options,
}

impl Method {
    /// The method's name, upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to build and [`send`](Request::send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) timeout: Option<Duration>,
}

impl Request {
    /// A request with `method` to `url` (`http://` or `https://`, host, optional port, path
    /// and query), without headers or body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// A `PUT` request.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }

    /// A `DELETE` request.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    /// Adds a header after those already set (a name may repeat). `content-length` is set
    /// from the body.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body, sent as it is.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` as JSON and the `content-type` to `application/json`. A value
    /// that cannot be serialized is [`HttpError::InvalidRequest`].
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, HttpError> {
        let body = serde_json::to_vec(value).map_err(|e| {
            HttpError::InvalidRequest(format!(
                "{} {}: cannot serialize {} as JSON: {e}",
                self.method,
                self.url,
                std::any::type_name::<T>()
            ))
        })?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Gives up with [`HttpError::Timeout`] when the response, from sending the request to
    /// the last byte of its body, takes longer than `timeout`. The manifest's
    /// `limits.http_timeout` applies whatever this says: a longer timeout changes nothing.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers set, in order (`content-length` is added when it is sent).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// `METHOD url`, for messages.
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.method, self.url)
    }
}

pub(crate) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_keep_what_the_builder_set() {
        let request = Request::put("http://a.test/x")
            .header("X-One", "1")
            .json(&serde_json::json!({"n": 1}))
            .unwrap()
            .timeout(Duration::from_millis(500));
        assert_eq!(request.method(), Method::Put);
        assert_eq!(
            find_header(request.headers(), "content-type"),
            Some("application/json")
        );
        assert_eq!(find_header(request.headers(), "x-one"), Some("1"));
        assert_eq!(request.body, br#"{"n":1}"#);
        assert_eq!(request.timeout, Some(Duration::from_millis(500)));
        assert_eq!(request.describe(), "PUT http://a.test/x");
    }
}
