//! How an event travels from the function's stream to its partition and back into an
//! [`Event`] identical to the one an unpartitioned function would see: same subject, id,
//! headers and publish time.
//!
//! The router republishes the payload with the original headers plus `Sluice-Routed-*`
//! headers, and with `Nats-Msg-Id` set to `STREAM:SEQUENCE` of the original, so the partition
//! stream keeps each original once however often it is routed. A `Nats-Msg-Id` the publisher
//! set travels as `Sluice-Routed-Msg-Id`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::HeaderMap;
use bytes::Bytes;

use super::pinned::PIN_HEADER;
use crate::event::Event;
use crate::event::headers::{self, NATS_MSG_ID};

const SUBJECT: &str = "Sluice-Routed-Subject";
const SOURCE: &str = "Sluice-Routed-From";
const PUBLISHED: &str = "Sluice-Routed-Published";
const MSG_ID: &str = "Sluice-Routed-Msg-Id";

/// An event taken from the function's stream, as the router sees it.
pub struct Original<'a> {
    /// The stream it is in.
    pub stream: &'a str,
    /// Its sequence there.
    pub sequence: u64,
    /// Its subject.
    pub subject: &'a str,
    /// Its headers.
    pub headers: Option<&'a HeaderMap>,
    /// When the stream stored it.
    pub published: SystemTime,
}

impl Original<'_> {
    /// `STREAM:SEQUENCE`: the routed copy's `Nats-Msg-Id`, and the event's id when the
    /// publisher named none (as for an unpartitioned function).
    pub fn source_id(&self) -> String {
        format!("{}:{}", self.stream, self.sequence)
    }

    /// The routed copy's headers.
    pub fn routed_headers(&self) -> HeaderMap {
        let mut routed = HeaderMap::new();
        if let Some(headers) = self.headers {
            for (name, values) in headers.iter() {
                let name: &str = name.as_ref();
                if name.eq_ignore_ascii_case(PIN_HEADER) {
                    continue; // the router's pin: transport, not the event's
                }
                let kept = if name.eq_ignore_ascii_case(NATS_MSG_ID) {
                    MSG_ID
                } else {
                    name
                };
                for value in values {
                    routed.append(kept, value.as_str());
                }
            }
        }
        let published = self
            .published
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        routed.insert(SUBJECT, self.subject);
        routed.insert(SOURCE, self.source_id().as_str());
        routed.insert(PUBLISHED, published.to_string().as_str());
        routed.insert(NATS_MSG_ID, self.source_id().as_str());
        routed
    }
}

/// The event a routed copy carries: the original's subject, headers, id and publish time.
/// `None` when `headers` lack the router's (a message published to the partition subject
/// by something else).
pub fn event_of(headers: Option<&HeaderMap>, payload: Bytes) -> Option<Event> {
    let headers = headers?;
    let subject = headers.get(SUBJECT)?.as_str().to_owned();
    let source = headers.get(SOURCE)?.as_str().to_owned();
    let published = headers
        .get(PUBLISHED)
        .and_then(|value| value.as_str().parse::<u64>().ok())
        .map_or_else(SystemTime::now, |ns| UNIX_EPOCH + Duration::from_nanos(ns));
    let original: Vec<(String, String)> = headers::from_nats(Some(headers))
        .into_iter()
        .filter(|(name, _)| {
            ![SUBJECT, SOURCE, PUBLISHED, NATS_MSG_ID, PIN_HEADER]
                .iter()
                .any(|routed| name.eq_ignore_ascii_case(routed))
        })
        .map(|(name, value)| match name.eq_ignore_ascii_case(MSG_ID) {
            true => (NATS_MSG_ID.to_owned(), value),
            false => (name, value),
        })
        .collect();
    let mut event = Event::with_fallback_id(subject, payload, original, None, || source);
    event.published_at = published;
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn original<'a>(headers: Option<&'a HeaderMap>) -> Original<'a> {
        Original {
            stream: "ORDERS",
            sequence: 42,
            subject: "orders.eu.o-7",
            headers,
            published: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    #[test]
    fn a_routed_event_is_the_original() {
        let mut headers = HeaderMap::new();
        headers.insert("Order-Id", "o-7");
        headers.insert(PIN_HEADER, "router-pin");
        let mut routed = original(Some(&headers)).routed_headers();
        assert_eq!(routed.get(NATS_MSG_ID).unwrap().as_str(), "ORDERS:42");
        assert!(routed.get(PIN_HEADER).is_none(), "the router's pin is not copied");
        routed.insert(PIN_HEADER, "partition-pin");
        let event = event_of(Some(&routed), Bytes::from_static(b"{}")).unwrap();
        assert_eq!(event.id, "ORDERS:42");
        assert_eq!(event.subject, "orders.eu.o-7");
        assert_eq!(event.headers, vec![("Order-Id".to_owned(), "o-7".to_owned())]);
        assert_eq!(
            event.published_at,
            UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
    }

    #[test]
    fn the_publishers_message_id_stays_the_event_id() {
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MSG_ID, "order-7-placed");
        let routed = original(Some(&headers)).routed_headers();
        assert_eq!(routed.get(NATS_MSG_ID).unwrap().as_str(), "ORDERS:42");
        let event = event_of(Some(&routed), Bytes::new()).unwrap();
        assert_eq!(event.id, "order-7-placed");
        assert!(event_of(None, Bytes::new()).is_none());
    }
}
