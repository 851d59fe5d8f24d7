//! A core intake's waiting events: first in, first out, or with `ordering = "per-key"` one
//! queue per key, of which only keys with nothing in flight may go next.

use std::collections::VecDeque;
use std::time::SystemTime;

use tokio::sync::mpsc;

use crate::manifest::KeySource;
use crate::ordering::{KeyRelease, KeyedQueue};

/// An event waiting for admission, and since when (only when its wait is traced).
pub struct Waiting {
    /// The event as it arrived.
    pub message: async_nats::Message,
    /// When it arrived; `None` when tracing is off (nothing reads it then).
    pub since: Option<SystemTime>,
}

/// Events received and waiting for admission.
pub struct Pending {
    /// Events without ordering (every event when the function has none; keyless ones
    /// otherwise).
    fifo: VecDeque<Waiting>,
    keyed: Option<KeyedQueue<Waiting>>,
    /// Bytes of the events waiting, as they arrived (subject, headers and payload).
    bytes: usize,
}

impl Pending {
    /// An empty queue; with `ordering`, also the receiver of released keys.
    pub fn new(ordering: Option<KeySource>) -> (Self, Option<mpsc::UnboundedReceiver<String>>) {
        let (keyed, released) = KeyedQueue::for_ordering(ordering.as_ref());
        let pending = Self {
            fifo: VecDeque::new(),
            keyed,
            bytes: 0,
        };
        (pending, released)
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.fifo.len() + self.keyed.as_ref().map_or(0, KeyedQueue::len)
    }

    /// Bytes of the events waiting, as they arrived.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.fifo.is_empty() && self.keyed.as_ref().is_none_or(KeyedQueue::is_empty)
    }

    /// Queues `waiting` (behind the other events of its key, if it has one).
    pub fn push(&mut self, waiting: Waiting) {
        self.bytes += waiting.message.length;
        match &mut self.keyed {
            Some(queue) => match queue.key_of(&waiting.message) {
                Some(key) => queue.push(key, waiting),
                None => self.fifo.push_back(waiting),
            },
            None => self.fifo.push_back(waiting),
        }
    }

    /// Drops every waiting event; returns how many.
    pub fn clear(&mut self) -> usize {
        let dropped = self.fifo.len() + self.keyed.as_mut().map_or(0, KeyedQueue::clear);
        self.fifo.clear();
        self.bytes = 0;
        dropped
    }

    /// Whether an event may be admitted now.
    pub fn has_ready(&self) -> bool {
        !self.fifo.is_empty() || self.keyed.as_ref().is_some_and(KeyedQueue::has_ready)
    }

    /// The next event to admit, with its key's release when it has one.
    pub fn pop_ready(&mut self) -> Option<(Waiting, Option<KeyRelease>)> {
        let popped = match &mut self.keyed {
            Some(queue) => queue
                .pop_ready()
                .map(|(waiting, release)| (waiting, Some(release))),
            None => None,
        };
        let popped = popped.or_else(|| self.fifo.pop_front().map(|waiting| (waiting, None)))?;
        self.bytes -= popped.0.message.length;
        Some(popped)
    }

    /// A key's event finished: the next one of that key may go.
    pub fn release(&mut self, key: String) {
        if let Some(queue) = &mut self.keyed {
            queue.release(key);
        }
    }
}
