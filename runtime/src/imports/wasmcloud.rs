//! `wasmcloud:messaging/consumer@0.2.0` for components built for wasmCloud: `publish` goes
//! through the same permission check and outbox as `sluice:function/publisher`, `request`
//! through the same checks as `sluice:function/requester`.

use super::State;
use crate::bindings::sluice::function::requester::RequestError;
use crate::bindings::sluice::function::{publisher, requester};
use crate::bindings::wasmcloud::wasmcloud::messaging::consumer::Host;
use crate::bindings::wasmcloud::wasmcloud::messaging::types::{BrokerMessage, Host as TypesHost};

impl TypesHost for State {}

impl Host for State {
    async fn request(
        &mut self,
        subject: String,
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> Result<BrokerMessage, String> {
        match requester::Host::request(self, subject.clone(), body, Vec::new(), timeout_ms).await {
            Ok(reply) => Ok(BrokerMessage {
                subject,
                body: reply.payload,
                reply_to: None,
            }),
            Err(
                RequestError::Denied(why)
                | RequestError::Timeout(why)
                | RequestError::NoResponders(why)
                | RequestError::Failed(why),
            ) => Err(why),
        }
    }

    async fn publish(&mut self, msg: BrokerMessage) -> Result<(), String> {
        // A broker message's reply-to becomes the standard header a NATS request carries.
        let headers = match msg.reply_to {
            Some(reply_to) => vec![(REPLY_TO_HEADER.to_owned(), reply_to)],
            None => Vec::new(),
        };
        publisher::Host::publish(self, msg.subject, msg.body, headers)
    }
}

/// Where a published broker message's `reply-to` goes (core NATS publishes from the outbox
/// carry no reply subject of their own).
const REPLY_TO_HEADER: &str = "Sluice-Reply-To";
