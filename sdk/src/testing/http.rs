//! The [`TestHost`](super::TestHost)'s side of outbound HTTP: the `permissions.http` check
//! and canned responses.

use std::time::Duration;

use serde::de::DeserializeOwned;
use sluice_protocol::AuthorityPattern;

use super::with_run;
use crate::http::error::HttpError;
use crate::http::request::{Method, Request};
use crate::http::response::Response;
use crate::http::url::Url;

/// What the test host does with requests to one URL or host.
#[derive(Debug, Clone)]
pub(super) enum Canned {
    /// Answers with this response.
    Respond(Response),
    /// Fails with this error.
    Fail(HttpError),
}

/// One HTTP request a handler sent (and the host let through `permissions.http`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    /// The method.
    pub method: Method,
    /// The URL, as the handler gave it.
    pub url: String,
    /// The headers the handler set, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The request's own timeout, if it set one.
    pub timeout: Option<Duration>,
}

impl HttpCall {
    /// The value of the first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body parsed as JSON; panics with the body when it does not parse.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "body sent to {} is not the expected JSON ({error}): {}",
                self.url,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

pub(crate) fn http_send(request: &Request) -> Result<Response, HttpError> {
    with_run("http", |run| {
        let what = request.describe();
        let url =
            Url::parse(request.url()).map_err(|why| HttpError::InvalidRequest(format!("{what}: {why}")))?;
        let allowed = run.host.http_allowed.as_deref().unwrap_or_default();
        if !allowed.iter().any(|entry| allows(entry, &url)) {
            return Err(HttpError::Denied(format!(
                "{what}: denied: {} is not in permissions.http (TestHost::allow_http)",
                url.authority
            )));
        }
        run.http.push(HttpCall {
            method: request.method(),
            url: request.url().to_owned(),
            headers: request.headers().to_vec(),
            body: request.body.clone(),
            timeout: request.timeout,
        });
        match canned(&run.host.http_answers, request.url(), &url) {
            Some(Canned::Respond(response)) => Ok(response.clone()),
            Some(Canned::Fail(error)) => Err(error.clone()),
            None => Err(HttpError::Connection(format!(
                "{what}: connection refused (no TestHost::respond for it)"
            ))),
        }
    })
}

/// The most specific canned answer for a request to `raw` (`url` split): the exact URL, the
/// URL without its query, the `host:port` as written, then the host alone.
fn canned<'a>(
    answers: &'a std::collections::BTreeMap<String, Canned>,
    raw: &str,
    url: &Url<'_>,
) -> Option<&'a Canned> {
    let raw = raw.split_once('#').map_or(raw, |(before, _)| before);
    let without_query = raw.split_once('?').map_or(raw, |(before, _)| before);
    [
        raw.to_owned(),
        without_query.to_owned(),
        url.authority.to_ascii_lowercase(),
        url.host(),
    ]
    .iter()
    .find_map(|key| answers.get(key))
}

/// Whether `permissions.http` entry `entry` allows `url`, by the host's own rule
/// ([`AuthorityPattern::matches`]).
fn allows(entry: &AuthorityPattern, url: &Url<'_>) -> bool {
    entry.matches(&url.host(), url.port(), url.default_port())
}

/// The key a canned answer for `url_or_host` is stored under.
pub(super) fn answer_key(url_or_host: &str) -> String {
    if url_or_host.contains("://") {
        url_or_host.to_owned()
    } else {
        url_or_host.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entry: &str, url: &str) -> bool {
        allows(
            &AuthorityPattern::parse(entry).unwrap(),
            &Url::parse(url).unwrap(),
        )
    }

    #[test]
    fn entries_allow_what_the_hosts_do() {
        assert!(allowed("api.example.com", "https://API.example.com./v1"));
        assert!(!allowed("api.example.com", "https://api.example.com:8443/v1"));
        assert!(allowed("127.0.0.1:8089", "http://127.0.0.1:8089/hooks"));
        assert!(!allowed("127.0.0.1:8089", "http://localhost:8089/hooks"));
        assert!(allowed("*.hooks.example.com", "https://a.b.hooks.example.com/"));
        assert!(!allowed("*.hooks.example.com", "https://hooks.example.com/"));
        assert!(!allowed("*.hooks.example.com", "https://evilhooks.example.com/"));
    }
}
