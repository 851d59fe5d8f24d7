//! Splitting a request URL into the parts `wasi:http` takes (and the test host matches on).

/// A URL split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url<'a> {
    /// `http` or `https`.
    pub(crate) scheme: &'a str,
    /// `host` or `host:port`, as written.
    pub(crate) authority: &'a str,
    /// The path and query, starting with `/`; without the fragment.
    pub(crate) path: String,
}

impl<'a> Url<'a> {
    /// Splits `url`; anything but `http://` or `https://` with a host is refused with the
    /// reason.
    pub(crate) fn parse(url: &'a str) -> Result<Self, String> {
        let bad = |why: &str| format!("{url:?} is not an http(s) URL: {why}");
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(bad("the scheme is not http or https"));
        }
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("no host, or a user name before it"));
        }
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            "https"
        } else {
            "http"
        };
        Ok(Self {
            scheme,
            authority,
            path,
        })
    }
}

/// What the test host matches `permissions.http` entries and canned answers on.
#[cfg(not(target_arch = "wasm32"))]
impl Url<'_> {
    /// The host, lowercased, without the port (IPv6 addresses keep their brackets).
    pub(crate) fn host(&self) -> String {
        self.split().0.to_ascii_lowercase()
    }

    /// The port: the one written, else the scheme's default.
    pub(crate) fn port(&self) -> u16 {
        self.split().1.unwrap_or(self.default_port())
    }

    /// 443 for `https`, 80 for `http`.
    pub(crate) fn default_port(&self) -> u16 {
        if self.scheme == "https" { 443 } else { 80 }
    }

    fn split(&self) -> (&str, Option<u16>) {
        split_port(self.authority)
    }
}

/// Splits `host[:port]` (IPv6 hosts in brackets) into the host and the port, if one is
/// written and is a number.
#[cfg(not(target_arch = "wasm32"))]
fn split_port(authority: &str) -> (&str, Option<u16>) {
    let colon = if authority.starts_with('[') {
        authority.find("]:").map(|at| at + 1)
    } else {
        authority.rfind(':')
    };
    match colon {
        Some(at) => (&authority[..at], authority[at + 1..].parse().ok()),
        None => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let url = Url::parse("http://127.0.0.1:8089/hooks/listing-created?x=1").unwrap();
        assert_eq!(
            (url.scheme, url.authority, url.path.as_str()),
            ("http", "127.0.0.1:8089", "/hooks/listing-created?x=1")
        );
        assert_eq!((url.host(), url.port()), ("127.0.0.1".to_owned(), 8089));
        let url = Url::parse("HTTPS://Hooks.Example.com?q#frag").unwrap();
        assert_eq!((url.scheme, url.path.as_str()), ("https", "/?q"));
        assert_eq!((url.host(), url.port()), ("hooks.example.com".to_owned(), 443));
        assert_eq!(Url::parse("http://[::1]:8080/").unwrap().host(), "[::1]");
        assert_eq!(Url::parse("http://[::1]/").unwrap().port(), 80);
        for bad in ["127.0.0.1/x", "ftp://a/b", "http:///path", "http://user@a/"] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }
}
