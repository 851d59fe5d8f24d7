//! The messages a JetStream intake pulled ahead of its free permits, shared with the
//! function's event tasks: a task that settled its event takes the next message itself, with
//! the permit it holds, and tells the intake when the queue runs low so the next pull is out
//! before the last message is taken.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, Semaphore};

use crate::deployment::Deployment;

/// Messages pulled and waiting for a permit, with the version to run them.
pub(super) struct Prefetch {
    state: Mutex<Prefetched>,
    /// Woken when the messages waiting and still asked for fall to the low-water mark.
    low: Notify,
    /// Whether event tasks take messages themselves (not with per-key ordering, where the
    /// intake places every message behind its key).
    chaining: bool,
}

struct Prefetched {
    messages: VecDeque<async_nats::Message>,
    /// Messages the pull request out now still owes.
    owed: usize,
    deployment: Arc<Deployment>,
    /// False once the intake stops: tasks take nothing more.
    open: bool,
}

impl Prefetch {
    /// An empty queue for `deployment`; tasks take from it themselves when `chaining`.
    pub(super) fn new(deployment: Arc<Deployment>, chaining: bool) -> Self {
        Self {
            state: Mutex::new(Prefetched {
                messages: VecDeque::new(),
                owed: 0,
                deployment,
                open: true,
            }),
            low: Notify::new(),
            chaining,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Prefetched> {
        self.state.lock().expect("prefetch lock poisoned")
    }

    /// Messages waiting.
    pub(super) fn len(&self) -> usize {
        self.lock().messages.len()
    }

    /// Queues a message that arrived; `owed` is what the request out now still owes.
    pub(super) fn push(&self, message: async_nats::Message, owed: usize) {
        let mut state = self.lock();
        state.messages.push_back(message);
        state.owed = owed;
    }

    /// Records what the request out now owes (0 when none is out).
    pub(super) fn set_owed(&self, owed: usize) {
        self.lock().owed = owed;
    }

    /// The oldest waiting message, for the intake.
    pub(super) fn pop(&self) -> Option<async_nats::Message> {
        self.lock().messages.pop_front()
    }

    /// Every waiting message (on stop, to hand them back); tasks take nothing from now on.
    pub(super) fn drain(&self) -> Vec<async_nats::Message> {
        let mut state = self.lock();
        state.open = false;
        state.messages.drain(..).collect()
    }

    /// Copies of the waiting messages (to keep them alive with progress acks).
    pub(super) fn snapshot(&self) -> Vec<async_nats::Message> {
        self.lock().messages.iter().cloned().collect()
    }

    /// Switches the version that runs messages taken from now on.
    pub(super) fn set_deployment(&self, deployment: Arc<Deployment>) {
        self.lock().deployment = deployment;
    }

    /// Resolves once a task saw the queue at or below the low-water mark.
    pub(super) async fn low(&self) {
        self.low.notified().await;
    }

    /// The next message for a task that holds a permit of `permits` and settled its event,
    /// when one may run now: tasks chain, the circuit is closed, and the version now
    /// deployed counts its events with the same permits. Wakes the intake when what waits
    /// and what is still asked for fall to `low_water`.
    pub(super) fn next_for(
        &self,
        permits: &Arc<Semaphore>,
        low_water: usize,
    ) -> Option<(Arc<Deployment>, async_nats::Message)> {
        if !self.chaining {
            return None;
        }
        let mut state = self.lock();
        if !state.open
            || !Arc::ptr_eq(&state.deployment.permits, permits)
            || !state.deployment.breaker.is_closed()
        {
            return None;
        }
        let message = state.messages.pop_front()?;
        let deployment = state.deployment.clone();
        let low = state.messages.len() + state.owed <= low_water;
        drop(state);
        if low {
            self.low.notify_one();
        }
        deployment.breaker.admit();
        Some((deployment, message))
    }
}
