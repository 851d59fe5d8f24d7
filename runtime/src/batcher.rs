//! Micro-batches: a batch function's events grouped into one `handle-batch` call.
//!
//! Every event still has its own task (admission, retries, dead letter, ack are exactly those
//! of a single-event function); only the attempt itself goes through the function's
//! [`Batcher`]. The first attempt to arrive opens a batch and starts its flusher; later ones
//! join it. The batch closes when it holds `batch.max_events` attempts or `batch.max_wait`
//! after it opened, whichever comes first, then waits for one of the function's
//! `limits.max_concurrency` run permits (so at most that many batches run at once) and runs in
//! one instance. Each attempt gets its own outcome back, and its task carries on as it would
//! after `handle`.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, oneshot};
use tracing::Instrument;

use crate::event::Event;
use crate::invoke::{Attempt, InvokeError, Outcome, Runner};
use crate::manifest::BatchPolicy;

/// Groups one batch function's attempts into calls.
pub struct Batcher {
    runner: Arc<Runner>,
    policy: BatchPolicy,
    filling: Filling,
    /// One permit per batch allowed to run at once (`limits.max_concurrency`).
    running: Arc<Semaphore>,
}

/// The batch being filled, if any, sealed at `max_events`.
struct Filling {
    max_events: usize,
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    generation: u64,
    open: Option<OpenBatch>,
}

struct OpenBatch {
    generation: u64,
    entries: Vec<Entry>,
    /// Hands the entries to the flusher when the batch fills up before its wait is over.
    seal: oneshot::Sender<Vec<Entry>>,
}

/// One attempt waiting in a batch, and where its outcome goes.
struct Entry {
    attempt: Attempt,
    done: oneshot::Sender<Outcome>,
}

impl Batcher {
    /// A batcher running `runner`'s function in batches closed by `policy`, up to
    /// `max_concurrency` at once.
    pub fn new(runner: Arc<Runner>, policy: BatchPolicy, max_concurrency: NonZeroU32) -> Self {
        Self {
            runner,
            policy,
            filling: Filling::new(policy.max_events as usize),
            running: Arc::new(Semaphore::new(max_concurrency.get() as usize)),
        }
    }

    /// Runs delivery number `attempt` of `event` as part of the function's next batch.
    pub async fn attempt(self: &Arc<Self>, event: &Arc<Event>, attempt: u32) -> Outcome {
        let (done, outcome) = oneshot::channel();
        let entry = Entry {
            attempt: (event.clone(), attempt),
            done,
        };
        if let Some((generation, sealed)) = self.filling.join(entry) {
            let span = tracing::info_span!("batch", function = &**self.runner.function().name());
            tokio::spawn(flush(self.clone(), generation, sealed).instrument(span));
        }
        outcome.await.unwrap_or_else(|_| {
            Err(InvokeError::Instantiate(
                "the batch holding the event ended before it ran".into(),
            ))
        })
    }
}

impl Filling {
    fn new(max_events: usize) -> Self {
        Self {
            max_events,
            slot: Mutex::default(),
        }
    }

    /// Adds `entry` to the open batch, sealing it when full. Returns the new batch's
    /// generation and sealed-entries receiver when `entry` opened it: the caller starts its
    /// flusher.
    fn join(&self, entry: Entry) -> Option<(u64, oneshot::Receiver<Vec<Entry>>)> {
        let mut slot = self.slot.lock().expect("batch slot lock poisoned");
        let mut opened = None;
        if slot.open.is_none() {
            slot.generation += 1;
            let (seal, sealed) = oneshot::channel();
            opened = Some((slot.generation, sealed));
            slot.open = Some(OpenBatch {
                generation: slot.generation,
                entries: Vec::new(),
                seal,
            });
        }
        let open = slot.open.as_mut().expect("a batch is open");
        open.entries.push(entry);
        if open.entries.len() >= self.max_events {
            let full = slot.open.take().expect("a batch is open");
            // The flusher is waiting for these or about to; it never drops its receiver first.
            let _ = full.seal.send(full.entries);
        }
        opened
    }

    /// Takes batch `generation` out of the slot when it is still open (its wait is over);
    /// `None` when it was sealed because it filled up.
    fn close(&self, generation: u64) -> Option<Vec<Entry>> {
        let mut slot = self.slot.lock().expect("batch slot lock poisoned");
        match &slot.open {
            Some(open) if open.generation == generation => slot.open.take().map(|open| open.entries),
            _ => None,
        }
    }
}

/// Waits for batch `generation` to close, for a run permit, then runs it and hands every
/// attempt its outcome.
async fn flush(batcher: Arc<Batcher>, generation: u64, mut sealed: oneshot::Receiver<Vec<Entry>>) {
    let entries = tokio::select! {
        entries = &mut sealed => entries.ok(),
        () = tokio::time::sleep(batcher.policy.max_wait) => match batcher.filling.close(generation) {
            Some(entries) => Some(entries),
            // It filled up just now: the entries are in the channel.
            None => sealed.await.ok(),
        },
    };
    let Some(entries) = entries else {
        return;
    };
    let _permit = batcher
        .running
        .clone()
        .acquire_owned()
        .await
        .expect("batch run permits are never closed");
    // An event whose task is gone (handed back at shutdown) is not run.
    let (attempts, receivers): (Vec<Attempt>, Vec<_>) = entries
        .into_iter()
        .filter(|entry| !entry.done.is_closed())
        .map(|entry| (entry.attempt, entry.done))
        .unzip();
    if attempts.is_empty() {
        return;
    }
    tracing::debug!(events = attempts.len(), "running a batch");
    let outcomes = batcher.runner.invoke_many(&attempts).await;
    for (done, outcome) in receivers.into_iter().zip(outcomes) {
        let _ = done.send(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> (Entry, oneshot::Receiver<Outcome>) {
        let headers = vec![("Sluice-Event-Id".to_owned(), id.to_owned())];
        let event = Arc::new(Event::new("in".into(), Default::default(), headers, None));
        let (done, outcome) = oneshot::channel();
        (
            Entry {
                attempt: (event, 1),
                done,
            },
            outcome,
        )
    }

    fn ids(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|entry| &*entry.attempt.0.id).collect()
    }

    #[test]
    fn a_batch_is_sealed_when_full_and_the_next_event_opens_another() {
        let batcher = Filling::new(2);
        let (first, _) = entry("a");
        let (generation, mut sealed) = batcher.join(first).expect("the first event opens a batch");
        assert!(sealed.try_recv().is_err(), "not full yet");
        assert!(batcher.join(entry("b").0).is_none(), "the second joins it");
        assert_eq!(ids(&sealed.try_recv().expect("full: sealed")), ["a", "b"]);
        assert_eq!(batcher.close(generation).map(|e| e.len()), None, "already sealed");

        let (next, mut next_sealed) = batcher.join(entry("c").0).expect("a new batch");
        assert_eq!(next, generation + 1);
        let closed = batcher
            .close(next)
            .expect("its wait is over: closed with what it has");
        assert_eq!(ids(&closed), ["c"]);
        assert!(next_sealed.try_recv().is_err(), "closing does not seal");
        assert!(
            batcher.join(entry("d").0).is_some(),
            "after closing, the next event opens one"
        );
    }
}
