//! W3C trace context: the `traceparent` header a span's identity travels in between functions.

use std::fmt::Write as _;

/// The header that carries a span's context (W3C Trace Context).
pub const TRACEPARENT: &str = "traceparent";

/// Which trace a span belongs to, its own id, and whether it is recorded (sampled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanContext {
    /// The trace's id: 16 bytes, never all zero.
    pub trace_id: [u8; 16],
    /// The span's id: 8 bytes, never all zero.
    pub span_id: [u8; 8],
    /// Whether the span is recorded and exported (the `sampled` trace flag).
    pub sampled: bool,
}

impl SpanContext {
    /// Reads a `traceparent` value (`00-TRACEID-SPANID-FLAGS`); `None` when it is malformed or
    /// names the invalid all-zero trace or span.
    pub fn parse(traceparent: &str) -> Option<Self> {
        let mut parts = traceparent.trim().split('-');
        let version = parts.next()?;
        let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
        // Version 00 has exactly four fields; a later version may append more.
        if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        let trace_id: [u8; 16] = hex(trace)?;
        let span_id: [u8; 8] = hex(span)?;
        let [flags]: [u8; 1] = hex(flags)?;
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(Self {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    /// The context of the first `traceparent` header in `headers`, when it is well formed.
    pub fn from_headers(headers: &[(String, String)]) -> Option<Self> {
        headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(TRACEPARENT))
            .and_then(|(_, value)| Self::parse(value))
    }

    /// A child of this span in the same trace: a new span id, the same sampling decision.
    pub fn child(&self) -> Self {
        Self {
            span_id: new_span_id(),
            ..*self
        }
    }

    /// The `traceparent` header value naming this span.
    pub fn to_traceparent(&self) -> String {
        let mut value = String::with_capacity(55);
        value.push_str("00-");
        push_hex(&mut value, &self.trace_id);
        value.push('-');
        push_hex(&mut value, &self.span_id);
        value.push_str(if self.sampled { "-01" } else { "-00" });
        value
    }

    /// The trace id in lowercase hex (32 digits), as logs and trace viewers show it.
    pub fn trace_id_hex(&self) -> String {
        let mut text = String::with_capacity(32);
        push_hex(&mut text, &self.trace_id);
        text
    }

    /// The span id in lowercase hex (16 digits).
    pub fn span_id_hex(&self) -> String {
        let mut text = String::with_capacity(16);
        push_hex(&mut text, &self.span_id);
        text
    }
}

/// A random trace id that is not all zero.
pub fn new_trace_id() -> [u8; 16] {
    loop {
        let id: [u8; 16] = rand::random();
        if id != [0; 16] {
            return id;
        }
    }
}

/// A random span id that is not all zero.
pub fn new_span_id() -> [u8; 8] {
    loop {
        let id: [u8; 8] = rand::random();
        if id != [0; 8] {
            return id;
        }
    }
}

/// Exactly `N` bytes written as `2 * N` lowercase or uppercase hex digits.
fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = [0; N];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(bytes)
}

fn push_hex(text: &mut String, bytes: &[u8]) {
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_round_trips_and_keeps_the_sampled_flag() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = SpanContext::parse(value).unwrap();
        assert!(context.sampled);
        assert_eq!(context.to_traceparent(), value);
        assert_eq!(context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.span_id_hex(), "00f067aa0ba902b7");
        let unsampled = SpanContext::parse(&value.replace("-01", "-00")).unwrap();
        assert!(!unsampled.sampled);
        let child = context.child();
        assert_eq!(child.trace_id, context.trace_id);
        assert_ne!(child.span_id, context.span_id);
    }

    #[test]
    fn malformed_or_invalid_traceparents_are_ignored() {
        for value in [
            "",
            "00-abc-def-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert_eq!(SpanContext::parse(value), None, "{value}");
        }
        assert!(
            SpanContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").is_some()
        );
    }
}
