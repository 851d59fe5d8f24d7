//! `sluice:function/batch`: which event of a batch the handler's calls are for. Each event of
//! a batch has its own [`Call`] (and so its own outbox); `begin(i)` makes event `i`'s the
//! store's current call, so what the handler publishes next is sent only if event `i`
//! succeeds.

use super::{Call, Outbox, State};
use crate::bindings::batch::sluice::function::batch::Host;

/// The calls of a batch that are not the store's current one.
pub(super) struct BatchCalls {
    /// The event the current call belongs to; `None` until the handler's first `begin`.
    current: Option<usize>,
    /// Event `i`'s call, while it is not the current one.
    parked: Vec<Option<Call>>,
}

impl BatchCalls {
    /// Whether the handler has not said yet which event it works on.
    pub(super) fn unselected(&self) -> bool {
        self.current.is_none()
    }
}

impl State {
    /// Starts serving a batch: `calls[i]` is event `i`'s. Until the handler's first `begin`,
    /// log lines and key-value calls name the first event and publishing is refused.
    pub fn begin_batch(&mut self, calls: Vec<Call>) {
        if let Some(first) = calls.first() {
            self.begin(preamble(first));
        }
        self.batch = Some(BatchCalls {
            current: None,
            parked: calls.into_iter().map(Some).collect(),
        });
    }

    /// Ends the batch: every event's outbox, in event order (empty for an event the handler
    /// never selected or published nothing for).
    pub fn finish_batch(&mut self) -> Vec<Outbox> {
        let Some(mut batch) = self.batch.take() else {
            return vec![self.take_outbox()];
        };
        if let Some(current) = batch.current {
            let placeholder = preamble(&self.call);
            batch.parked[current] = Some(std::mem::replace(&mut self.call, placeholder));
        }
        batch
            .parked
            .into_iter()
            .map(|call| call.map(|call| call.outbox).unwrap_or_default())
            .collect()
    }
}

/// A call for the same function and event as `call` with an empty outbox: what the store
/// holds while no event of the batch is selected.
fn preamble(call: &Call) -> Call {
    Call {
        function: call.function.clone(),
        manifest: call.manifest.clone(),
        event: call.event.clone(),
        outbox: Outbox::default(),
        services: call.services.clone(),
    }
}

impl Host for State {
    fn begin(&mut self, index: u32) -> Result<(), String> {
        let Some(batch) = &mut self.batch else {
            return Err("batch.begin: this call is not handling a batch".into());
        };
        let index = index as usize;
        if index >= batch.parked.len() {
            return Err(format!(
                "batch.begin({index}): the batch has {} events (0 to {})",
                batch.parked.len(),
                batch.parked.len().saturating_sub(1)
            ));
        }
        if batch.current == Some(index) {
            return Ok(());
        }
        let next = batch.parked[index]
            .take()
            .expect("a parked event's call is there");
        let previous = std::mem::replace(&mut self.call, next);
        if let Some(current) = batch.current {
            batch.parked[current] = Some(previous);
        }
        batch.current = Some(index);
        Ok(())
    }
}
