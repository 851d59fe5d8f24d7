//! `sluice:function/publisher`: permission-checked publishing into an outbox that is sent
//! only when the handler succeeds.

use bytes::Bytes;

use super::State;
use crate::bindings::sluice::function::publisher::Host;
use crate::event::headers;
use sluice_protocol::{limits, subject};

/// A message a handler published, waiting for the handler to succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Literal subject.
    pub subject: String,
    /// Payload, as the handler gave it.
    pub payload: Bytes,
    /// The handler's headers followed by the ones the host adds (correlation, `Nats-Msg-Id`).
    pub headers: Vec<(String, String)>,
}

/// The buffered publishes of one attempt, in order.
#[derive(Debug, Default)]
pub struct Outbox {
    messages: Vec<OutgoingMessage>,
    bytes: usize,
}

impl Outbox {
    /// The buffered messages, in publish order.
    pub fn into_messages(self) -> Vec<OutgoingMessage> {
        self.messages
    }

    /// How many messages are buffered.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether nothing was published.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

impl Host for State {
    fn publish(
        &mut self,
        subject: String,
        payload: Vec<u8>,
        handler_headers: Vec<(String, String)>,
    ) -> Result<(), String> {
        if self.batch.as_ref().is_some_and(|batch| batch.unselected()) {
            return Err(format!(
                "cannot publish to `{subject}`: a batch handler must say which event the output belongs to (batch.begin) first"
            ));
        }
        let call = &mut self.call;
        let function = &*call.function;
        subject::validate_literal(&subject).map_err(|why| format!("cannot publish: {why}"))?;
        let is_reply = call.event.reply_to.as_deref() == Some(subject.as_str());
        if !is_reply && !call.manifest.may_publish(&subject) {
            return Err(format!(
                "publish to `{subject}` denied: function `{function}` may only publish to [{}] (permissions.publish)",
                call.manifest
                    .publish
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for (name, value) in &handler_headers {
            headers::validate(name, value)?;
        }
        let outbox = &mut call.outbox;
        limits::check_outbox(outbox.messages.len(), outbox.bytes, payload.len())?;
        let sequence = outbox.messages.len() + 1;
        let headers = headers::for_publish(handler_headers, &call.event, function, sequence);
        outbox.bytes += payload.len();
        outbox.messages.push(OutgoingMessage {
            subject,
            payload: payload.into(),
            headers,
        });
        Ok(())
    }
}
