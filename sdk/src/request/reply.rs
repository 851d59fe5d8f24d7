//! The answer to a request.

use serde::de::DeserializeOwned;

use crate::Error;

/// The answer to a [`request`](super::request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    payload: Vec<u8>,
    headers: Vec<(String, String)>,
}

impl Reply {
    /// A reply with this payload and headers (for tests and the host glue).
    pub fn new(payload: impl Into<Vec<u8>>, headers: Vec<(String, String)>) -> Self {
        Self {
            payload: payload.into(),
            headers,
        }
    }

    /// The answer's body.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The answer's headers, in order; names may repeat.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The value of the first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The answer parsed as JSON; one that does not parse as `T` is a permanent error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.payload).map_err(|e| {
            Error::permanent(format!(
                "reply is not valid JSON for {}: {e}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// The answer as UTF-8 text; one that is not is a permanent error.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.payload)
            .map_err(|e| Error::permanent(format!("reply is not UTF-8 text: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_find_headers_case_insensitively() {
        let reply = Reply::new(
            "{\"n\":1}",
            vec![("Content-Type".into(), "application/json".into())],
        );
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.json::<serde_json::Value>().unwrap()["n"], 1);
        assert!(reply.text().is_ok());
    }
}
