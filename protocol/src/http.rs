//! `permissions.http` entries: the hosts (and ports) a function may send HTTP requests to.
//!
//! An entry is a host name or IP address, optionally with `:port`; a leading `*.` allows
//! every subdomain (at any depth) but not the domain itself. Without a port, only the
//! scheme's default port is allowed (80 for `http`, 443 for `https`), so `api.example.com`
//! does not open `api.example.com:8443`. Host names compare case-insensitively.

use std::fmt;

/// One validated `permissions.http` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityPattern {
    /// The host, lowercased; an IPv6 address keeps its brackets. For a wildcard, the domain
    /// after `*.`.
    host: String,
    /// Whether the entry was `*.host`.
    wildcard: bool,
    /// The one port allowed; `None` means the scheme's default port.
    port: Option<u16>,
}

impl AuthorityPattern {
    /// Parses an entry such as `api.example.com`, `127.0.0.1:8080`, `[::1]:80` or
    /// `*.hooks.example.com`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = |why: &str| format!("{text:?} is not a host or host:port ({why})");
        if text.contains("://") {
            return Err(invalid(
                "write the host without a scheme, e.g. \"api.example.com\"",
            ));
        }
        if text.contains(['/', '?', '#', '@']) || text.contains(char::is_whitespace) {
            return Err(invalid("no path, user or spaces"));
        }
        let (wildcard, rest) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (host, port) = split_port(rest).map_err(|why| invalid(&why))?;
        let host = host.to_ascii_lowercase();
        if host.starts_with('[') {
            if wildcard {
                return Err(invalid("`*.` only applies to host names"));
            }
            let inner = &host[1..host.len() - 1];
            inner
                .parse::<std::net::Ipv6Addr>()
                .map_err(|_| invalid("not an IPv6 address in brackets"))?;
        } else if !is_host_name(&host) {
            return Err(invalid(
                "a host name is letters, digits, `-` and `.`; `*` only as a leading `*.`",
            ));
        }
        Ok(Self { host, wildcard, port })
    }

    /// Whether a request to `host` on `port` matches; `default_port` is the request scheme's
    /// default (80 or 443), the only port an entry without `:port` allows.
    pub fn matches(&self, host: &str, port: u16, default_port: u16) -> bool {
        if port != self.port.unwrap_or(default_port) {
            return false;
        }
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        if self.wildcard {
            host.strip_suffix(&self.host)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
        } else {
            host == self.host
        }
    }
}

impl fmt::Display for AuthorityPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let star = if self.wildcard { "*." } else { "" };
        match self.port {
            Some(port) => write!(f, "{star}{}:{port}", self.host),
            None => write!(f, "{star}{}", self.host),
        }
    }
}

/// Splits `host[:port]` (IPv6 hosts in brackets) into the host and the port, if any.
fn split_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if text.starts_with('[') {
        let end = text.find(']').ok_or("an unclosed `[`")?;
        match &text[end + 1..] {
            "" => (text, None),
            rest => (
                &text[..=end],
                Some(rest.strip_prefix(':').ok_or("text after `]`")?),
            ),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        None => None,
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => return Err(format!("port {port:?} is not a number from 1 to 65535")),
        },
    };
    Ok((host, port))
}

fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entry: &str, host: &str, port: u16) -> bool {
        AuthorityPattern::parse(entry).unwrap().matches(host, port, 443)
    }

    #[test]
    fn a_bare_host_allows_only_the_default_port() {
        assert!(allows("api.example.com", "api.example.com", 443));
        assert!(allows("api.example.com", "API.Example.com.", 443));
        assert!(!allows("api.example.com", "api.example.com", 8443));
        assert!(!allows("api.example.com", "evil-api.example.com", 443));
        assert!(!allows("api.example.com", "api.example.com.evil", 443));
    }

    #[test]
    fn a_port_allows_only_that_port() {
        assert!(allows("127.0.0.1:8080", "127.0.0.1", 8080));
        assert!(!allows("127.0.0.1:8080", "127.0.0.1", 443));
        assert!(allows("[::1]:80", "[::1]", 80));
    }

    #[test]
    fn a_wildcard_allows_subdomains_but_not_the_domain() {
        assert!(allows("*.hooks.example.com", "a.hooks.example.com", 443));
        assert!(allows("*.hooks.example.com", "a.b.hooks.example.com", 443));
        assert!(!allows("*.hooks.example.com", "hooks.example.com", 443));
        assert!(!allows("*.hooks.example.com", "evilhooks.example.com", 443));
    }

    #[test]
    fn malformed_entries_say_what_is_wrong() {
        for (entry, expected) in [
            ("https://api.example.com", "without a scheme"),
            ("api.example.com/v1", "no path"),
            ("api.example.com:0", "port \"0\""),
            ("api.example.com:http", "port \"http\""),
            ("*", "letters, digits"),
            ("a.*.example.com", "letters, digits"),
            ("", "letters, digits"),
            ("[::1", "unclosed"),
            ("[nope]:80", "IPv6"),
            ("*.[::1]", "only applies to host names"),
        ] {
            let error = AuthorityPattern::parse(entry).unwrap_err();
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn entries_print_as_written() {
        for entry in [
            "api.example.com",
            "127.0.0.1:8080",
            "*.hooks.example.com",
            "[::1]:80",
        ] {
            assert_eq!(AuthorityPattern::parse(entry).unwrap().to_string(), entry);
        }
    }
}
