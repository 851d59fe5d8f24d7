//! [`TestHost::run_batch`]: a batch handler's run, each event with its own outbox, logs and
//! requests.

use super::{CURRENT, Outcome, Published, Run, TestHost, outcome, with_run};
use crate::level::Level;
use crate::{Batch, BatchHandler, Event};

/// The events of a batch run other than the current one.
pub(super) struct BatchRun {
    /// The event the run's fields belong to; `None` before the first `Batch::each` step.
    pub(super) current: Option<usize>,
    pub(super) parked: Vec<Option<EventRun>>,
    /// What the run did before the first event (log lines, refused publishes).
    preamble: Option<EventRun>,
}

/// What one event of a batch did.
#[derive(Default)]
pub(super) struct EventRun {
    pub(super) event_id: String,
    pub(super) reply_to: Option<String>,
    pub(super) outbox: Vec<Published>,
    pub(super) scheduled: Vec<super::Scheduled>,
    pub(super) cancelled: Vec<String>,
    pub(super) logs: Vec<(Level, String)>,
    pub(super) requests: Vec<Published>,
    pub(super) http: Vec<super::HttpCall>,
}

impl Run {
    /// Swaps the run's per-event fields with `other`'s.
    pub(super) fn swap(&mut self, other: &mut EventRun) {
        std::mem::swap(&mut self.event_id, &mut other.event_id);
        std::mem::swap(&mut self.reply_to, &mut other.reply_to);
        std::mem::swap(&mut self.outbox, &mut other.outbox);
        std::mem::swap(&mut self.scheduled, &mut other.scheduled);
        std::mem::swap(&mut self.cancelled, &mut other.cancelled);
        std::mem::swap(&mut self.logs, &mut other.logs);
        std::mem::swap(&mut self.requests, &mut other.requests);
        std::mem::swap(&mut self.http, &mut other.http);
    }
}

impl TestHost {
    /// Runs `H::handle_batch` on `events` with this host, as the host would for one batch:
    /// returns one [`Outcome`] per event, in order, each with the publishes made for that
    /// event (inside [`Batch::each`]). Log lines written before the first event are the
    /// first event's. Panics when the handler returns a result count other than the number
    /// of events (the host would fail every event of such a batch).
    ///
    /// ```
    /// use sluice_sdk::testing::TestHost;
    /// use sluice_sdk::{Batch, BatchHandler, BatchOutcome, Error, Event};
    ///
    /// struct EvenOnly;
    ///
    /// impl BatchHandler for EvenOnly {
    ///     fn handle_batch(batch: Batch) -> BatchOutcome {
    ///         batch.each(|event| {
    ///             let n: u64 = event.json()?;
    ///             sluice_sdk::publish("seen", n.to_string())?;
    ///             if n % 2 == 1 {
    ///                 return Err(Error::permanent("odd"));
    ///             }
    ///             Ok(())
    ///         })
    ///     }
    /// }
    ///
    /// let events = (1..=4).map(|n| Event::new(format!("e-{n}"), "numbers", n.to_string()));
    /// let outcomes = TestHost::new().run_batch::<EvenOnly>(events.collect());
    /// let sent: Vec<usize> = outcomes.iter().map(|o| o.published.len()).collect();
    /// assert_eq!(sent, [0, 1, 0, 1]); // the odd events' outputs are not sent
    /// ```
    pub fn run_batch<H: BatchHandler>(&self, events: Vec<Event>) -> Vec<Outcome> {
        let count = events.len();
        let parked = events
            .iter()
            .map(|event| {
                Some(EventRun {
                    event_id: event.id().to_owned(),
                    reply_to: event.reply_to().map(str::to_owned),
                    ..EventRun::default()
                })
            })
            .collect();
        CURRENT.with(|current| {
            *current.borrow_mut() = Some(Run {
                host: self.clone(),
                batch: Some(BatchRun {
                    current: None,
                    parked,
                    preamble: None,
                }),
                ..Run::default()
            });
        });
        let results = H::handle_batch(Batch::new(events)).into_results();
        let mut run = CURRENT
            .with(|current| current.borrow_mut().take())
            .expect("run state was set");
        assert_eq!(
            results.len(),
            count,
            "handle_batch returned {} results for {count} events",
            results.len()
        );
        let mut batch = run.batch.take().expect("a batch run");
        let mut preamble = batch.preamble.take().unwrap_or_default();
        match batch.current {
            Some(current) => {
                let mut last = EventRun::default();
                run.swap(&mut last);
                batch.parked[current] = Some(last);
            }
            None => run.swap(&mut preamble),
        }
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(count);
        for (index, (result, event)) in results.into_iter().zip(batch.parked).enumerate() {
            let mut event = event.expect("every event is parked at the end");
            if index == 0 {
                event.logs.splice(0..0, std::mem::take(&mut preamble.logs));
            }
            outcomes.push(outcome(result, event));
        }
        outcomes
    }
}

pub(crate) fn begin_event(index: u32) -> Result<(), String> {
    with_run("Batch::each", |run| {
        let Some(mut batch) = run.batch.take() else {
            return Err("not handling a batch (use TestHost::run_batch)".into());
        };
        let index = index as usize;
        let result = if index >= batch.parked.len() {
            Err(format!("the batch has no event {index}"))
        } else if batch.current == Some(index) {
            Ok(())
        } else {
            let mut next = batch.parked[index].take().expect("a parked event");
            run.swap(&mut next);
            // `next` now holds what the run had: the previous event's, or nothing yet.
            match batch.current {
                Some(previous) => batch.parked[previous] = Some(next),
                None => batch.preamble = Some(next),
            }
            batch.current = Some(index);
            Ok(())
        };
        run.batch = Some(batch);
        result
    })
}
