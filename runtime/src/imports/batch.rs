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
        trace: call.trace.clone(),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::bindings::sluice::function::publisher::Host as _;
    use crate::event::Event;
    use crate::imports::{CapturedOutput, OutgoingMessage};
    use crate::manifest::Manifest;

    fn call(manifest: &Arc<Manifest>, id: &str) -> Call {
        let headers = vec![("Sluice-Event-Id".to_owned(), id.to_owned())];
        Call {
            function: "f".into(),
            manifest: manifest.clone(),
            event: Arc::new(Event::new("in".into(), Default::default(), headers, None)),
            outbox: Outbox::default(),
            services: Arc::default(),
            trace: None,
        }
    }

    #[test]
    fn each_event_of_a_batch_gets_its_own_outbox() {
        let text = "[permissions]\npublish = [\"out\"]";
        let manifest = Arc::new(Manifest::parse("f", text, std::path::Path::new("f.toml")).unwrap());
        let calls: Vec<Call> = ["e-0", "e-1", "e-2"]
            .iter()
            .map(|id| call(&manifest, id))
            .collect();
        let mut state = State::new(call(&manifest, "e-0"), 1 << 20, &CapturedOutput::default(), None);
        state.begin_batch(calls);
        let refused = state
            .publish("out".into(), b"early".to_vec(), vec![])
            .unwrap_err();
        assert!(refused.contains("batch.begin"), "{refused}");
        Host::begin(&mut state, 1).unwrap();
        state.publish("out".into(), b"one".to_vec(), vec![]).unwrap();
        state
            .publish("out".into(), b"one again".to_vec(), vec![])
            .unwrap();
        Host::begin(&mut state, 0).unwrap();
        state.publish("out".into(), b"zero".to_vec(), vec![]).unwrap();
        assert!(Host::begin(&mut state, 3).unwrap_err().contains("has 3 events"));
        let outboxes: Vec<Vec<OutgoingMessage>> = state
            .finish_batch()
            .into_iter()
            .map(Outbox::into_messages)
            .collect();
        let payloads: Vec<Vec<&[u8]>> = outboxes
            .iter()
            .map(|messages| messages.iter().map(|m| &m.payload[..]).collect())
            .collect();
        assert_eq!(payloads, [vec![&b"zero"[..]], vec![b"one", b"one again"], vec![]]);
        let causation = |m: &OutgoingMessage| {
            m.headers
                .iter()
                .find(|(name, _)| name == "Sluice-Causation-Id")
                .map(|(_, value)| value.clone())
        };
        assert_eq!(
            causation(&outboxes[1][0]).as_deref(),
            Some("e-1"),
            "attributed to its event"
        );
        assert_eq!(
            outboxes[1][1]
                .headers
                .iter()
                .find(|(n, _)| n == "Nats-Msg-Id")
                .map(|(_, v)| v.as_str()),
            Some("f:e-1:2"),
            "numbered within its event"
        );
    }
}
