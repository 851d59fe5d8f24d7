//! Header names Sluice reads and writes (defined once, in [`sluice_protocol::headers`]), and
//! conversions to and from NATS header maps.

use std::borrow::Cow;

use async_nats::header::IntoHeaderName;
use async_nats::{HeaderMap, HeaderName};

use super::Event;

pub use sluice_protocol::headers::{
    CAUSATION_ID, CORRELATION_ID, EVENT_ID, NATS_MSG_ID, NATS_SCHEDULER, TRACE_HEADERS, dead_letter, validate,
};

/// A header name on a message the host sends: the names the host adds are static and cost
/// no allocation per message (nor when the message is handed to the NATS client); a handler's
/// own names are owned.
pub type Name = Cow<'static, str>;

/// The headers of a message the host sends, in order.
pub type Outgoing = Vec<(Name, String)>;

/// The first value of header `name` (case-insensitive).
pub fn find<'a, N: AsRef<str>>(headers: &'a [(N, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.as_ref().eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// A handler's headers as the start of an outgoing message's (the strings are moved, and the
/// list is converted in place).
pub fn outgoing(headers: Vec<(String, String)>) -> Outgoing {
    headers
        .into_iter()
        .map(|(name, value)| (Cow::Owned(name), value))
        .collect()
}

/// The headers of message number `sequence` published by `function` while handling `event`:
/// the handler's own, then correlation and trace context carried over from the event (unless
/// the handler set them), the causation id and a `Nats-Msg-Id` that is the same on every
/// retry of the event, so JetStream can drop duplicates.
pub fn for_publish(
    headers: Vec<(String, String)>,
    event: &Event,
    function: &str,
    sequence: usize,
) -> Outgoing {
    let mut headers = for_request(headers, event);
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case(NATS_MSG_ID));
    headers.push((Cow::Borrowed(NATS_MSG_ID), msg_id(function, &event.id, sequence)));
    headers
}

/// The longest event id a derived id repeats as it is; a longer one (a chain of hops) is
/// shortened to [`ID_DIGEST_PREFIX`] and 16 hex digits of its FNV-1a hash.
pub const MAX_PARENT_ID: usize = 64;

/// What marks a shortened parent id in a derived id.
pub const ID_DIGEST_PREFIX: &str = "~";

/// `FUNCTION:EVENT_ID:SEQUENCE`, built without the formatting machinery (once per publish).
/// An event id longer than [`MAX_PARENT_ID`] is replaced by its digest, so ids stay bounded
/// along a chain of functions and are the same on every retry.
fn msg_id(function: &str, event_id: &str, sequence: usize) -> String {
    let digest;
    let event_id = if event_id.len() > MAX_PARENT_ID {
        digest = id_digest(event_id);
        digest.as_str()
    } else {
        event_id
    };
    // Twenty digits hold any sequence number.
    let mut id = String::with_capacity(function.len() + event_id.len() + 2 + 20);
    for part in [function, ":", event_id, ":"] {
        id.push_str(part);
    }
    crate::text::push_decimal(&mut id, sequence as u64);
    id
}

/// `~` and 16 hex digits of the 64-bit FNV-1a hash of `id`: stable across builds and hosts.
fn id_digest(id: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in id.as_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{ID_DIGEST_PREFIX}{hash:016x}")
}

/// The headers of a request a handler sends while handling `event`: the handler's own, then
/// the correlation id, trace context and causation id carried over from the event (unless
/// the handler set them).
pub fn for_request(headers: Vec<(String, String)>, event: &Event) -> Outgoing {
    let mut headers = outgoing(headers);
    let add = |headers: &mut Outgoing, name: &'static str, value: &str| {
        if find(headers, name).is_none() {
            headers.push((Cow::Borrowed(name), value.to_owned()));
        }
    };
    add(&mut headers, CORRELATION_ID, &event.correlation_id);
    for name in TRACE_HEADERS {
        if let Some(value) = find(&event.headers, name) {
            add(&mut headers, name, value);
        }
    }
    add(&mut headers, CAUSATION_ID, &event.id);
    headers
}

/// Sets header `name` to `value`: replaces the first one of that name (case-insensitive) and
/// removes any others, or adds it.
pub fn set(headers: &mut Outgoing, name: &'static str, value: String) {
    match headers.iter().position(|(key, _)| key.eq_ignore_ascii_case(name)) {
        Some(first) => {
            headers[first].1 = value;
            let mut index = 0;
            headers.retain(|(key, _)| {
                index += 1;
                index - 1 == first || !key.eq_ignore_ascii_case(name)
            });
        }
        None => headers.push((Cow::Borrowed(name), value)),
    }
}

/// Flattens a NATS header map into name/value pairs.
pub fn from_nats(map: Option<&HeaderMap>) -> Vec<(String, String)> {
    let Some(map) = map else { return Vec::new() };
    map.iter()
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |value| (name.to_string(), value.as_str().to_owned()))
        })
        .collect()
}

/// Builds a NATS header map from name/value pairs, keeping repeated names.
///
/// Takes the strings over instead of copying them, and when no name repeats (the usual
/// case) inserts each pair with one hash lookup instead of `append`'s two: this runs once
/// per published message.
pub fn to_nats(headers: Outgoing) -> HeaderMap {
    let mut map = HeaderMap::new();
    let unique = names_are_unique(&headers);
    for (name, value) in headers {
        let name = match name {
            // The host's own names (checked by the tests below); no copy.
            Cow::Borrowed(name) => HeaderName::from_static(name),
            // A handler's, checked by `validate` when it was published.
            Cow::Owned(name) => name.into_header_name(),
        };
        if unique {
            map.insert(name, value);
        } else {
            map.append(name, value);
        }
    }
    map
}

/// Whether no two pairs share a name (as a NATS header map compares them: exactly). A long
/// list is not searched and counts as repeating.
fn names_are_unique(headers: &[(Name, String)]) -> bool {
    headers.len() <= 16
        && headers
            .iter()
            .enumerate()
            .all(|(i, (name, _))| headers[..i].iter().all(|(earlier, _)| earlier != name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn published_messages_carry_correlation_and_a_stable_msg_id() {
        let event = Event::new(
            "orders.placed".into(),
            Bytes::new(),
            vec![
                ("Nats-Msg-Id".into(), "evt-1".into()),
                ("traceparent".into(), "00-abc-def-01".into()),
            ],
            None,
        );
        let headers = for_publish(
            vec![("content-type".into(), "application/json".into())],
            &event,
            "totals",
            2,
        );
        assert_eq!(find(&headers, "content-type"), Some("application/json"));
        assert_eq!(find(&headers, CORRELATION_ID), Some("evt-1"));
        assert_eq!(find(&headers, "traceparent"), Some("00-abc-def-01"));
        assert_eq!(find(&headers, CAUSATION_ID), Some("evt-1"));
        assert_eq!(find(&headers, NATS_MSG_ID), Some("totals:evt-1:2"));
    }

    #[test]
    fn a_handler_cannot_forge_the_msg_id_but_may_set_its_own_correlation() {
        let event = Event::new("a".into(), Bytes::new(), vec![], None);
        let headers = for_publish(
            vec![
                ("nats-msg-id".into(), "forged".into()),
                (CORRELATION_ID.into(), "mine".into()),
            ],
            &event,
            "f",
            1,
        );
        assert_eq!(
            find(&headers, NATS_MSG_ID),
            Some(format!("f:{}:1", event.id).as_str())
        );
        assert_eq!(
            headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(NATS_MSG_ID))
                .count(),
            1
        );
        assert_eq!(find(&headers, CORRELATION_ID), Some("mine"));
    }

    #[test]
    fn requests_carry_correlation_but_no_msg_id() {
        let event = Event::new(
            "orders.placed".into(),
            Bytes::new(),
            vec![
                (EVENT_ID.into(), "evt-2".into()),
                (CORRELATION_ID.into(), "flow-7".into()),
                ("traceparent".into(), "00-abc-def-01".into()),
            ],
            None,
        );
        let headers = for_request(vec![("x-sku".into(), "A".into())], &event);
        assert_eq!(find(&headers, "x-sku"), Some("A"));
        assert_eq!(find(&headers, CORRELATION_ID), Some("flow-7"));
        assert_eq!(find(&headers, "traceparent"), Some("00-abc-def-01"));
        assert_eq!(find(&headers, CAUSATION_ID), Some("evt-2"));
        assert_eq!(find(&headers, NATS_MSG_ID), None);
    }

    #[test]
    fn msg_ids_name_function_event_and_sequence() {
        assert_eq!(msg_id("f", "e-1", 1), "f:e-1:1");
        assert_eq!(msg_id("totals", "x", 1000), "totals:x:1000");
        assert_eq!(msg_id("f", "e", 0), "f:e:0");
        assert_eq!(msg_id("f", "e", usize::MAX), format!("f:e:{}", usize::MAX));
    }

    #[test]
    fn derived_ids_stay_bounded_along_a_chain_and_are_deterministic() {
        let mut id = "order-7".to_owned();
        let mut longest = 0;
        for hop in 0..50 {
            id = msg_id(&format!("function-{}", hop % 5), &id, 1);
            longest = longest.max(id.len());
        }
        assert!(longest <= "function-0".len() + 1 + MAX_PARENT_ID + 2, "{longest}");
        let parent = "x".repeat(MAX_PARENT_ID + 1);
        let derived = msg_id("f", &parent, 2);
        assert_eq!(derived, msg_id("f", &parent, 2), "the same on every retry");
        assert_ne!(derived, msg_id("f", &"y".repeat(MAX_PARENT_ID + 1), 2));
        assert!(
            derived.starts_with("f:~") && derived.ends_with(":2") && derived.len() == 21,
            "{derived}"
        );
        let exact = "z".repeat(MAX_PARENT_ID);
        assert_eq!(
            msg_id("f", &exact, 1),
            format!("f:{exact}:1"),
            "up to the bound, kept"
        );
        // FNV-1a 64 test vector: "a" → af63dc4c8601ec8c.
        assert_eq!(id_digest("a"), "~af63dc4c8601ec8c");
    }

    #[test]
    fn the_hosts_own_names_are_valid_nats_header_names() {
        // `to_nats` takes a static name without the client's check: they are checked here.
        let protocol = [
            NATS_MSG_ID,
            EVENT_ID,
            CORRELATION_ID,
            CAUSATION_ID,
            NATS_SCHEDULER,
        ];
        let delays = ["Nats-Rollup", "Nats-TTL", "Nats-Schedule", "Nats-Schedule-Target"];
        let all = protocol
            .into_iter()
            .chain(TRACE_HEADERS)
            .chain(dead_letter::ADDED)
            .chain([dead_letter::REPLAYS, sluice_protocol::headers::DELAY_SUBJECT])
            .chain(delays);
        for name in all {
            assert!(name.parse::<HeaderName>().is_ok(), "{name}");
            assert!(validate(name, "v").is_ok(), "{name}");
        }
    }

    #[test]
    fn nats_header_maps_keep_every_value_in_order() {
        let pairs = |list: &[(&str, &str)]| -> Outgoing {
            list.iter()
                .map(|(n, v)| (Cow::Owned((*n).to_owned()), (*v).to_owned()))
                .collect()
        };
        let map = to_nats(pairs(&[("a", "1"), ("Nats-Msg-Id", "m"), ("b", "2")]));
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("a").map(|v| v.as_str()), Some("1"));
        assert_eq!(map.get(NATS_MSG_ID).map(|v| v.as_str()), Some("m"));
        let map = to_nats(pairs(&[("a", "1"), ("b", "2"), ("a", "3")]));
        let values: Vec<&str> = map.get_all("a").map(|v| v.as_str()).collect();
        assert_eq!(values, ["1", "3"]);
        assert_eq!(from_nats(Some(&map)).len(), 3);
    }

    #[test]
    fn set_replaces_every_header_of_the_name_or_adds_one() {
        let mut headers = outgoing(vec![
            ("Traceparent".to_owned(), "a".to_owned()),
            ("x".to_owned(), "1".to_owned()),
            ("traceparent".to_owned(), "b".to_owned()),
        ]);
        set(&mut headers, "traceparent", "c".to_owned());
        assert_eq!(
            headers,
            [
                (Cow::Borrowed("Traceparent"), "c".to_owned()),
                (Cow::Borrowed("x"), "1".to_owned())
            ]
        );
        set(&mut headers, "y", "2".to_owned());
        assert_eq!(find(&headers, "y"), Some("2"));
    }
}
