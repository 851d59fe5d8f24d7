//! A live instance of a function's component, whichever world it implements, and calling
//! its handler.

use std::time::Duration;

use wasmtime::Store;

use super::{Attempt, InvokeError};
use crate::bindings::Handler;
use crate::bindings::batch::BatchHandler;
use crate::bindings::sluice::function::types::{Failure, RetryableError};
use crate::bindings::wasmcloud::MessagingHandler;
use crate::bindings::wasmcloud::wasmcloud::messaging::types::BrokerMessage;
use crate::function::FunctionPre;
use crate::imports::State;

/// A live instance of a function's component, of the world it implements.
pub enum Instance {
    /// A `sluice:function/handler`.
    Sluice(Handler),
    /// A `sluice:function/batch-handler`.
    Batch(BatchHandler),
    /// A wasmCloud messaging handler.
    WasmCloud(MessagingHandler),
}

pub(super) async fn instantiate(pre: &FunctionPre, store: &mut Store<State>) -> wasmtime::Result<Instance> {
    Ok(match pre {
        FunctionPre::Sluice(pre) => Instance::Sluice(pre.instantiate_async(store).await?),
        FunctionPre::Batch(pre) => Instance::Batch(pre.instantiate_async(store).await?),
        FunctionPre::WasmCloud(pre) => Instance::WasmCloud(pre.instantiate_async(store).await?),
    })
}

/// Calls the instance's handler with `events` (one, unless it is a batch handler). A
/// wasmCloud handler's `err` is retryable: its world cannot say more.
pub(super) async fn call_handler(
    instance: &Instance,
    store: &mut Store<State>,
    events: &[Attempt],
) -> wasmtime::Result<Vec<Result<(), Failure>>> {
    let (event, attempt) = &events[0];
    match instance {
        Instance::Sluice(handler) => Ok(vec![handler.call_handle(store, &event.to_wit(*attempt)).await?]),
        Instance::Batch(handler) => {
            let events: Vec<_> = events
                .iter()
                .map(|(event, attempt)| event.to_wit(*attempt))
                .collect();
            handler.call_handle_batch(store, &events).await
        }
        Instance::WasmCloud(handler) => {
            let message = BrokerMessage {
                subject: event.subject.clone(),
                body: event.payload.to_vec(),
                reply_to: event.reply_to.clone(),
            };
            let handled = handler
                .wasmcloud_messaging_handler()
                .call_handle_message(store, &message)
                .await?;
            Ok(vec![handled.map_err(|message| {
                Failure::Retryable(RetryableError {
                    message,
                    retry_after_ms: None,
                })
            })])
        }
    }
}

/// The error of a failure the handler returned.
pub(super) fn failure_error(failure: Failure) -> InvokeError {
    match failure {
        Failure::Retryable(error) => InvokeError::Retryable {
            message: error.message,
            retry_after: error
                .retry_after_ms
                .map(|ms| Duration::from_millis(u64::from(ms))),
        },
        Failure::Permanent(message) => InvokeError::Permanent { message },
    }
}
