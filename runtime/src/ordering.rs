//! Per-key ordering (`[trigger] ordering = "per-key"`): events with the same key are handled
//! one at a time, in arrival order, and a retrying event holds back its key; events with
//! different keys run in parallel up to the concurrency cap.
//!
//! The intake owns a [`KeyedQueue`]: it admits only events whose key is idle, and each
//! admitted event carries a [`KeyRelease`] that tells the intake, when the event is finished
//! (handled, dead-lettered or handed back), that its key may move on.

use std::collections::{HashMap, HashSet, VecDeque};

use tokio::sync::mpsc;

/// Where an event's ordering key comes from (`trigger.key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `header:NAME`: the value of a header.
    Header(String),
    /// `json:/pointer`: the value at a JSON pointer into the payload.
    Json(String),
    /// `subject:N`: the N-th token of the subject, counting from 1.
    SubjectToken(usize),
}

impl KeySource {
    /// Parses a `trigger.key` value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected = "expected \"header:NAME\", \"json:/pointer\" or \"subject:N\"";
        match text.split_once(':') {
            Some(("header", name)) if !name.is_empty() => Ok(Self::Header(name.to_owned())),
            Some(("json", pointer)) if pointer.starts_with('/') => Ok(Self::Json(pointer.to_owned())),
            Some(("json", pointer)) => Err(format!(
                "{pointer:?} is not a JSON pointer (it starts with `/`, e.g. \"json:/order/id\")"
            )),
            Some(("subject", n)) => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Self::SubjectToken(n)),
                _ => Err(format!("{n:?} is not a token position (1 is the first token)")),
            },
            _ => Err(format!("{expected}, found {text:?}")),
        }
    }

    /// The key of an event, or `None` when the event has none (such events are not ordered).
    pub fn key_of(
        &self,
        subject: &str,
        headers: Option<&async_nats::HeaderMap>,
        payload: &[u8],
    ) -> Option<String> {
        match self {
            Self::Header(name) => headers?.get(name.as_str()).map(|value| value.as_str().to_owned()),
            Self::SubjectToken(n) => subject.split('.').nth(n - 1).map(str::to_owned),
            Self::Json(pointer) => {
                let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
                match value.pointer(pointer)? {
                    serde_json::Value::String(text) => Some(text.clone()),
                    serde_json::Value::Null => None,
                    other => Some(other.to_string()),
                }
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

impl Drop for KeyRelease {
    fn drop(&mut self) {
        let _ = self.released.send(std::mem::take(&mut self.key));
    }
}

/// Events waiting by key. A key is *busy* from the moment one of its events is admitted
/// until that event's [`KeyRelease`] is dropped.
#[derive(Debug)]
pub struct KeyedQueue<T> {
    queues: HashMap<String, VecDeque<T>>,
    busy: HashSet<String>,
    /// Keys whose next event may be admitted, in the order they became admissible.
    ready: VecDeque<String>,
    len: usize,
    released: mpsc::UnboundedSender<String>,
}

impl<T> KeyedQueue<T> {
    /// An empty queue, and the receiver on which released keys arrive (feed them to
    /// [`KeyedQueue::release`]).
    pub fn new() -> (Self, mpsc::UnboundedReceiver<String>) {
        let (released, receiver) = mpsc::unbounded_channel();
        let queue = Self {
            queues: HashMap::new(),
            busy: HashSet::new(),
            ready: VecDeque::new(),
            len: 0,
            released,
        };
        (queue, receiver)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_parsed_and_taken_from_events() {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Order-Id", "o-7");
        let payload = br#"{"order":{"id":42,"name":"x"},"tag":"a"}"#;
        let key = |text: &str| {
            KeySource::parse(text)
                .unwrap()
                .key_of("orders.eu.o-9", Some(&headers), payload)
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
        let (mut queue, mut released) = KeyedQueue::new();
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
