//! Micro-batch handlers: one call for a group of events, one outcome per event.

use crate::{Error, Event};

/// A micro-batch handler: the trait a function implements instead of
/// [`Handler`](crate::Handler) to receive its events in groups (the `batch-handler` world).
///
/// The host collects up to the manifest's `[batch] max_events` events (default 100), or what
/// arrived within `[batch] max_wait` (default 50 ms) of the first, and calls
/// [`BatchHandler::handle_batch`] once for them. Each event still succeeds or fails on its
/// own: [`Batch::each`] runs your per-event code and records each event's result, and whatever
/// that code publishes is sent only if *its* event succeeds. An event that fails with a
/// retryable error is retried alone (in a later batch); a permanent error dead-letters only
/// that event. Register the implementing type with [`export_batch!`](crate::export_batch).
///
/// ```no_run
/// use sluice_sdk::{Batch, BatchHandler, BatchOutcome, Error, Event};
///
/// struct CountWords;
///
/// impl BatchHandler for CountWords {
///     fn handle_batch(batch: Batch) -> BatchOutcome {
///         // Work the whole batch shares happens once, before the events.
///         let size = batch.len();
///         sluice_sdk::info!("counting words in {size} events");
///         batch.each(|event: Event| {
///             let words = event.text()?.split_whitespace().count();
///             sluice_sdk::publish("words.counted", words.to_string())
///         })
///     }
/// }
///
/// sluice_sdk::export_batch!(CountWords);
/// # fn main() {}
/// ```
pub trait BatchHandler {
    /// Handles one batch: typically some shared work, then [`Batch::each`].
    fn handle_batch(batch: Batch) -> BatchOutcome;
}

/// The events of one batch, in arrival order (each with its own id and attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    events: Vec<Event>,
}

/// The outcome of every event of a batch, in order: what [`Batch::each`] returns.
#[derive(Debug)]
pub struct BatchOutcome {
    results: Vec<Result<(), Error>>,
}

impl Batch {
    /// A batch of `events`, as the host would pass them (for tests: see
    /// [`TestHost::run_batch`](crate::testing::TestHost::run_batch)).
    pub fn new(events: Vec<Event>) -> Self {
        Self { events }
    }

    /// The events, for work the whole batch shares (one look-up for every id, say).
    /// Publishing is only possible inside [`Batch::each`], where each output belongs to an
    /// event.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// How many events the batch holds (at least one).
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the batch holds no event (the host never sends an empty batch).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Runs `handle` on every event, in order, and collects their results.
    ///
    /// While `handle` runs for an event, what it publishes, logs, and asks for belongs to
    /// that event: its publishes are sent only if it returns `Ok(())`.
    pub fn each(self, mut handle: impl FnMut(Event) -> Result<(), Error>) -> BatchOutcome {
        let results = self
            .events
            .into_iter()
            .enumerate()
            .map(|(index, event)| {
                let index = u32::try_from(index).expect("a batch holds at most 10,000 events");
                crate::host::begin_event(index).map_err(Error::permanent)?;
                handle(event)
            })
            .collect();
        BatchOutcome { results }
    }
}

impl BatchOutcome {
    /// Each event's result, in the batch's order.
    pub fn results(&self) -> &[Result<(), Error>] {
        &self.results
    }

    /// The results, for the host or a test.
    pub fn into_results(self) -> Vec<Result<(), Error>> {
        self.results
    }
}
