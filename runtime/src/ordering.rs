//! Per-key ordering (`[trigger] ordering = "per-key"`): events with the same key are handled
//! one at a time, in arrival order, and a retrying event holds back its key; events with
//! different keys run in parallel up to the concurrency cap.
//!
//! The intake owns a [`KeyedQueue`]: it admits only events whose key is idle, and each
//! admitted event carries a [`KeyRelease`] that tells the intake, when the event is finished
//! (handled, dead-lettered or handed back), that its key may move on.

use std::collections::{HashMap, HashSet, VecDeque};

use tokio::sync::mpsc;

use crate::manifest::KeySource;

/// The key of an event by `source`, or `None` when the event has none (such events are not
/// ordered).
pub fn key_of(
    source: &KeySource,
    subject: &str,
    headers: Option<&async_nats::HeaderMap>,
    payload: &[u8],
) -> Option<String> {
    match source {
        KeySource::Header(name) => headers?.get(name.as_str()).map(|value| value.as_str().to_owned()),
        KeySource::SubjectToken(n) => subject.split('.').nth(n - 1).map(str::to_owned),
        KeySource::Json(pointer) => {
            let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
            match value.pointer(pointer)? {
                serde_json::Value::String(text) => Some(text.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            }
        }
    }
}

/// Tells the intake that an event's key is free again, when dropped.
#[derive(Debug)]
pub struct KeyRelease {
    key: String,
    released: mpsc::UnboundedSender<String>,
}

impl KeyRelease {
    /// A release of `key` sent on `released` when dropped.
    pub fn new(key: String, released: mpsc::UnboundedSender<String>) -> Self {
        Self { key, released }
    }
}

impl Drop for KeyRelease {
    fn drop(&mut self) {
        let _ = self.released.send(std::mem::take(&mut self.key));
    }
}

/// Events waiting by key. A key is *busy* from the moment one of its events is admitted
/// until that event's [`KeyRelease`] is dropped.
#[derive(Debug)]
pub struct KeyedQueue<T> {
    source: KeySource,
    queues: HashMap<String, VecDeque<T>>,
    busy: HashSet<String>,
    /// Keys whose next event may be admitted, in the order they became admissible.
    ready: VecDeque<String>,
    len: usize,
    released: mpsc::UnboundedSender<String>,
}

impl<T> KeyedQueue<T> {
    /// A queue when the function orders by a key (`ordering`), with the receiver on which
    /// released keys arrive (feed them to [`KeyedQueue::release`]); `None`s without ordering.
    pub fn for_ordering(
        ordering: Option<&KeySource>,
    ) -> (Option<Self>, Option<mpsc::UnboundedReceiver<String>>) {
        match ordering {
            Some(source) => {
                let (queue, released) = Self::new(source.clone());
                (Some(queue), Some(released))
            }
            None => (None, None),
        }
    }

    /// An empty queue ordering by `source`, and the receiver on which released keys arrive.
    pub fn new(source: KeySource) -> (Self, mpsc::UnboundedReceiver<String>) {
        let (released, receiver) = mpsc::unbounded_channel();
        let queue = Self {
            source,
            queues: HashMap::new(),
            busy: HashSet::new(),
            ready: VecDeque::new(),
            len: 0,
            released,
        };
        (queue, receiver)
    }

    /// The ordering key of `message`, if it has one.
    pub fn key_of(&self, message: &async_nats::Message) -> Option<String> {
        key_of(
            &self.source,
            &message.subject,
            message.headers.as_ref(),
            &message.payload,
        )
    }

    /// Drops every waiting event (keys in flight stay busy until released); returns how many.
    pub fn clear(&mut self) -> usize {
        let dropped = self.len;
        self.queues.clear();
        self.ready.clear();
        self.len = 0;
        dropped
    }

    /// Queues `item` behind the other events of `key`.
    pub fn push(&mut self, key: String, item: T) {
        let queue = self.queues.entry(key.clone()).or_default();
        let was_idle = queue.is_empty() && !self.busy.contains(&key);
        queue.push_back(item);
        self.len += 1;
        if was_idle {
            self.ready.push_back(key);
        }
    }

    /// The next admissible event, its key now busy.
    pub fn pop_ready(&mut self) -> Option<(T, KeyRelease)> {
        let key = self.ready.pop_front()?;
        let queue = self.queues.get_mut(&key).expect("ready keys have a queue");
        let item = queue.pop_front().expect("ready keys have an event");
        self.len -= 1;
        self.busy.insert(key.clone());
        let release = KeyRelease {
            key,
            released: self.released.clone(),
        };
        Some((item, release))
    }

    /// Marks `key` idle; its next event, if any, becomes admissible.
    pub fn release(&mut self, key: String) {
        self.busy.remove(&key);
        match self.queues.get(&key) {
            Some(queue) if !queue.is_empty() => self.ready.push_back(key),
            _ => {
                self.queues.remove(&key);
            }
        }
    }

    /// Whether an event can be admitted now.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Events waiting (admissible or behind a busy key).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no event waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every waiting event, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.queues.values().flatten()
    }

    /// Takes every waiting event out, in no particular order.
    pub fn drain(&mut self) -> Vec<T> {
        self.ready.clear();
        self.len = 0;
        self.queues.drain().flat_map(|(_, queue)| queue).collect()
    }
}

/// The next released key, or never when the function has no ordering.
pub async fn next_release(released: &mut Option<mpsc::UnboundedReceiver<String>>) -> Option<String> {
    match released {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_parsed_and_taken_from_events() {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Order-Id", "o-7");
        let payload = br#"{"order":{"id":42,"name":"x"},"tag":"a"}"#;
        let key = |text: &str| {
            key_of(
                &KeySource::parse(text).unwrap(),
                "orders.eu.o-9",
                Some(&headers),
                payload,
            )
        };
        assert_eq!(key("header:Order-Id").as_deref(), Some("o-7"));
        assert_eq!(key("header:Missing"), None);
        assert_eq!(key("json:/order/id").as_deref(), Some("42"));
        assert_eq!(key("json:/tag").as_deref(), Some("a"));
        assert_eq!(key("json:/nope"), None);
        assert_eq!(key("subject:3").as_deref(), Some("o-9"));
        assert_eq!(key("subject:4"), None);
        for bad in [
            "order",
            "json:order",
            "subject:0",
            "subject:x",
            "header:",
            "body:/x",
        ] {
            assert!(KeySource::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_event_per_key_at_a_time_in_arrival_order() {
        let (mut queue, mut released) = KeyedQueue::new(KeySource::SubjectToken(1));
        queue.push("a".into(), 1);
        queue.push("a".into(), 2);
        queue.push("b".into(), 3);
        queue.push("a".into(), 4);
        let (first, release_a) = queue.pop_ready().unwrap();
        let (second, _release_b) = queue.pop_ready().unwrap();
        assert_eq!((first, second), (1, 3));
        assert!(!queue.has_ready(), "a is busy, b is busy");
        drop(release_a);
        queue.release(released.try_recv().unwrap());
        let (third, release_a) = queue.pop_ready().unwrap();
        assert_eq!(third, 2);
        drop(release_a);
        queue.release(released.try_recv().unwrap());
        assert_eq!(queue.pop_ready().unwrap().0, 4);
        assert!(queue.is_empty());
    }
}
