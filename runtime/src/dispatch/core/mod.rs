//! Core NATS delivery (at most once). A function's intake: its subscriptions, its pending
//! queue and admission; the event tasks it spawns are in [`event_task`]. One task per
//! deployed function, alive across redeploys, so a new version takes over without dropping
//! or duplicating an event.
//!
//! The pending queue is shared with the function's event tasks: a task that finished its
//! event takes the next ready one itself, with the permit it already holds (see
//! [`Queue::next_for`]), so under load events are not each spawned, and a finished event does
//! not wake the intake to admit the next.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use futures::{FutureExt, StreamExt};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::StreamMap;
use tokio_util::sync::CancellationToken;

mod event_task;
mod pending;

use super::{Dispatcher, Update};
use crate::deployment::Deployment;
use crate::ordering::{KeyRelease, next_release};
use pending::{Pending, Waiting};

/// Most messages taken from the subscriptions at once before admitting again.
const RECEIVE_BATCH: usize = 64;

/// What a function's intake shares with its event tasks: the events waiting for admission
/// and the version that runs events admitted now.
pub(super) struct Queue {
    state: Mutex<Queued>,
}

struct Queued {
    pending: Pending,
    deployment: Arc<Deployment>,
}

/// An event taken from the queue, with the version to run it and its key's release.
pub(super) struct Admitted {
    pub deployment: Arc<Deployment>,
    pub message: async_nats::Message,
    pub key: Option<KeyRelease>,
    /// From its arrival to its admission (only when tracing is on).
    pub waited: Option<(SystemTime, SystemTime)>,
}

impl Admitted {
    /// `waiting`, admitted now to run on `deployment`.
    fn now(deployment: Arc<Deployment>, waiting: Waiting, key: Option<KeyRelease>) -> Self {
        Self {
            deployment,
            waited: waiting.since.map(|since| (since, SystemTime::now())),
            message: waiting.message,
            key,
        }
    }
}

impl Queue {
    fn new(pending: Pending, deployment: Arc<Deployment>) -> Self {
        Self {
            state: Mutex::new(Queued { pending, deployment }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queued> {
        self.state.lock().expect("intake queue lock poisoned")
    }

    /// The next ready event for a task that holds a permit of `permits` and finished its
    /// event, when one may be admitted now: the circuit is closed and the version now
    /// deployed counts its events with the same permits (after a change of
    /// `limits.max_concurrency` the permit goes back and the intake admits under the new cap).
    pub(super) fn next_for(&self, permits: &Arc<Semaphore>) -> Option<Admitted> {
        let mut queued = self.lock();
        if !Arc::ptr_eq(&queued.deployment.permits, permits) || !queued.deployment.breaker.is_closed() {
            return None;
        }
        let (waiting, key) = queued.pending.pop_ready()?;
        let deployment = queued.deployment.clone();
        drop(queued);
        deployment.breaker.admit();
        Some(Admitted::now(deployment, waiting, key))
    }
}

/// The state of one function's intake task.
pub struct Intake {
    dispatcher: Dispatcher,
    /// The version deployed now; `queue` holds the same one for the event tasks (both are
    /// set in `apply`), so admitting does not take the queue's lock to read it.
    deployment: Arc<Deployment>,
    subscriptions: StreamMap<String, async_nats::Subscriber>,
    queue: Arc<Queue>,
    released: Option<mpsc::UnboundedReceiver<String>>,
    updates: mpsc::Receiver<Update>,
    stop: CancellationToken,
}

impl Intake {
    /// An intake for `deployment` reading `subscriptions` (by subject).
    pub fn new(
        dispatcher: Dispatcher,
        deployment: Arc<Deployment>,
        subscriptions: Vec<(String, async_nats::Subscriber)>,
        updates: mpsc::Receiver<Update>,
        stop: CancellationToken,
    ) -> Self {
        let (pending, released) = Pending::new(deployment.function().manifest().trigger.ordering.clone());
        Self {
            dispatcher,
            queue: Arc::new(Queue::new(pending, deployment.clone())),
            deployment,
            subscriptions: subscriptions.into_iter().collect(),
            released,
            updates,
            stop,
        }
    }

    /// Runs until `stop` is cancelled or every subscription ends. On stop it unsubscribes,
    /// then still admits what it had already received: those events are in this host's hands
    /// and nobody else will get them.
    pub async fn run(mut self) {
        let mut open = true;
        while open || !self.queue.lock().pending.is_empty() {
            self.admit_ready();
            let permits = self.deployment.permits.clone();
            let deployment = self.deployment.clone();
            let admission = async move {
                deployment.breaker.ready().await;
                permits.acquire_owned().await
            };
            tokio::select! {
                _ = self.stop.cancelled(), if open => {
                    open = false;
                    let subjects: Vec<String> = self.subscriptions.keys().cloned().collect();
                    self.unsubscribe(&subjects).await;
                }
                Some(update) = self.updates.recv(), if open => self.apply(update).await,
                message = self.subscriptions.next(), if open => match message {
                    Some((_, message)) => {
                        self.receive(message);
                        self.receive_more();
                    }
                    None => open = false,
                },
                Some(key) = next_release(&mut self.released) => self.queue.lock().pending.release(key),
                // Shutting down and the grace period is over (a backlog behind an open circuit
                // would otherwise be admitted one cool-down at a time): what still waits is lost.
                () = self.dispatcher.abandon.cancelled(), if !open => {
                    self.abandon_pending();
                    break;
                }
                permit = admission, if self.queue.lock().pending.has_ready() => {
                    let permit = permit.expect("function permits are never closed");
                    // An event task may have taken the event meanwhile; then the permit goes back.
                    let Some((waiting, key)) = self.queue.lock().pending.pop_ready() else {
                        continue;
                    };
                    // A probe holds back the next admission until its outcome is known.
                    self.deployment.breaker.admit();
                    self.admit(waiting, permit, key);
                }
            }
        }
        tracing::debug!(function = &**self.deployment.function().name(), "intake stopped");
    }

    /// Drops the events still waiting at the end of the shutdown grace period, counted as
    /// dropped and said in one line.
    fn abandon_pending(&mut self) {
        let dropped = self.queue.lock().pending.clear();
        for _ in 0..dropped {
            self.deployment.stats.dropped();
        }
        if dropped > 0 {
            tracing::warn!(
                function = &**self.deployment.function().name(),
                "shutdown grace period over: {dropped} received events were never handled and are dropped (core NATS: at most once)"
            );
        }
    }

    /// Admits waiting events while a permit is free and the circuit is closed, without
    /// waiting: the common case costs no trip through the `select!` above per event.
    fn admit_ready(&mut self) {
        while self.deployment.breaker.is_closed() {
            let mut queued = self.queue.lock();
            if !queued.pending.has_ready() {
                return;
            }
            let Ok(permit) = self.deployment.permits.clone().try_acquire_owned() else {
                return;
            };
            let (waiting, key) = queued.pending.pop_ready().expect("checked ready");
            drop(queued);
            self.deployment.breaker.admit();
            self.admit(waiting, permit, key);
        }
    }

    fn admit(&self, waiting: Waiting, permit: tokio::sync::OwnedSemaphorePermit, key: Option<KeyRelease>) {
        let admitted = Admitted::now(self.deployment.clone(), waiting, key);
        let task = event_task::chain(self.dispatcher.clone(), self.queue.clone(), admitted, permit);
        // Boxed: tokio copies a task's future whole when it spawns and when it finishes, and
        // this one is kilobytes (its largest state), where a box is a pointer.
        self.dispatcher.tracker.spawn(Box::pin(task));
    }

    /// Takes what the subscriptions already hold (up to [`RECEIVE_BATCH`]) without waiting.
    fn receive_more(&mut self) {
        for _ in 0..RECEIVE_BATCH {
            match self.subscriptions.next().now_or_never() {
                Some(Some((_, message))) => self.receive(message),
                // Nothing more now, or every subscription ended (the `select!` sees that).
                _ => return,
            }
        }
    }

    fn receive(&mut self, message: async_nats::Message) {
        let mut queued = self.queue.lock();
        if has_room(&queued.pending, &self.deployment, &message) {
            // The arrival is stamped only when tracing is on, for the span of the wait.
            let since = self.dispatcher.tracer.is_some().then(SystemTime::now);
            queued.pending.push(Waiting { message, since });
        } else {
            drop(queued);
            overflow(&self.deployment, &message);
        }
    }

    /// Switches to a new version: events admitted from now on run it; subscriptions of
    /// unchanged subjects are kept, added ones start, removed ones are drained and closed.
    async fn apply(&mut self, update: Update) {
        self.queue.lock().deployment = update.deployment.clone();
        self.deployment = update.deployment;
        for (subject, subscriber) in update.subscribe {
            self.subscriptions.insert(subject, subscriber);
        }
        self.unsubscribe(&update.unsubscribe).await;
        let _ = update.applied.send(());
    }

    /// Unsubscribes from `subjects`, keeping every message NATS had already delivered.
    async fn unsubscribe(&mut self, subjects: &[String]) {
        for subject in subjects {
            let Some(mut subscriber) = self.subscriptions.remove(subject) else {
                continue;
            };
            if let Err(error) = subscriber.unsubscribe().await {
                tracing::warn!(function = &**self.deployment.function().name(), %subject, "unsubscribe failed: {error}");
            }
            while let Some(message) = subscriber.next().await {
                self.receive(message);
            }
        }
    }
}

/// Whether `pending` may take `message` within `limits.max_pending` and
/// `limits.max_pending_bytes`. An empty queue takes any event, so one larger than the byte
/// bound is not dropped while nothing else waits.
fn has_room(pending: &Pending, deployment: &Deployment, message: &async_nats::Message) -> bool {
    let limits = &deployment.function().manifest().limits;
    pending.is_empty()
        || (pending.len() < limits.max_pending.get() as usize
            && (pending.bytes() + message.length) as u64 <= limits.max_pending_bytes)
}

/// Counts an event dropped because the pending queue is full, and logs the first and then
/// every power of ten, so a flood stays readable.
fn overflow(deployment: &Deployment, message: &async_nats::Message) {
    let total = deployment.stats.overflowed();
    if is_power_of_ten(total) {
        let limits = &deployment.function().manifest().limits;
        tracing::warn!(
            function = &**deployment.function().name(),
            subject = %message.subject,
            dropped_total = total,
            "event dropped: the events waiting for a free instance fill the queue (limits.max_pending = {}, limits.max_pending_bytes = {})",
            limits.max_pending,
            limits.max_pending_bytes
        );
    }
}

/// 1, 10, 100, ...: the overflow counts worth a log line.
fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

#[cfg(test)]
mod tests {
    #[test]
    fn overflow_logging_thins_out_by_powers_of_ten() {
        let logged: Vec<u64> = (1..=2000).filter(|&n| super::is_power_of_ten(n)).collect();
        assert_eq!(logged, [1, 10, 100, 1000]);
    }
}
