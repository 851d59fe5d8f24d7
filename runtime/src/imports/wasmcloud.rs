//! `wasmcloud:messaging/consumer@0.2.0` for components built for wasmCloud: `publish` goes
//! through the same permission check and outbox as `sluice:function/publisher`, `request`
//! through the same checks as `sluice:function/requester`.

use wasmtime::component::Resource;

use super::State;
use crate::bindings::resources::CallTargetInterface;
use crate::bindings::sluice::function::requester::RequestError;
use crate::bindings::sluice::function::{publisher, requester};
use crate::bindings::wasmcloud::wasmcloud::bus::lattice;
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

impl lattice::HostCallTargetInterface for State {
    async fn new(
        &mut self,
        _namespace: String,
        _package: String,
        _interface: String,
    ) -> Resource<CallTargetInterface> {
        // The table only fails when it is full, a limit a handler reaches only by leaking.
        self.table
            .push(CallTargetInterface)
            .expect("the resource table has room for a call target")
    }

    async fn drop(&mut self, target: Resource<CallTargetInterface>) -> wasmtime::Result<()> {
        self.table.delete(target)?;
        Ok(())
    }
}

impl lattice::Host for State {
    /// Accepted and ignored: a Sluice function opens its buckets by name, so there is no link
    /// to choose.
    async fn set_link_name(&mut self, name: String, interfaces: Vec<Resource<CallTargetInterface>>) {
        tracing::debug!(
            function = &*self.call.function,
            link = name,
            "wasmcloud:bus set-link-name has no effect in Sluice"
        );
        for target in interfaces {
            let _ = self.table.delete(target);
        }
    }
}
