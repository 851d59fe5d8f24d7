//! Running one attempt of one event (or of one batch of events): a fresh store and instance
//! with the function's limits and deadline, `handle` (or `handle-batch`) called, the outcome
//! classified.

mod classify;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_protocol::DeadLetterReason;
use wasmtime::{Store, UpdateDeadline};

use crate::bindings::Handler;
use crate::bindings::batch::BatchHandler;
use crate::bindings::sluice::function::types::{Failure, RetryableError};
use crate::bindings::wasmcloud::MessagingHandler;
use crate::bindings::wasmcloud::wasmcloud::messaging::types::BrokerMessage;
use crate::engine::SluiceEngine;
use crate::event::Event;
use crate::function::{Function, FunctionPre};
use crate::host::{Call, CapturedOutput, OutgoingMessage, State};
use classify::{Stage, classify};

/// Why an attempt failed. Dispatch matches on this to choose between retry and dead letter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvokeError {
    /// The handler returned `error.retryable`.
    #[error("handler failed (retryable): {message}")]
    Retryable {
        /// The handler's message.
        message: String,
        /// The handler's requested delay before the next attempt.
        retry_after: Option<Duration>,
    },
    /// The handler returned `error.permanent`.
    #[error("handler rejected the event: {message}")]
    Permanent {
        /// The handler's message.
        message: String,
    },
    /// The attempt ran longer than `limits.timeout`.
    #[error("timed out after {}", humanize(*.0))]
    Timeout(Duration),
    /// The handler tried to grow its memory past `limits.memory`.
    #[error("out of memory: the handler tried to grow past limits.memory = {limit} bytes")]
    OutOfMemory {
        /// The limit in bytes.
        limit: u64,
    },
    /// The handler trapped (a panic, an `unreachable`, a bad memory access, ...).
    #[error("trapped: {0}")]
    Trap(String),
    /// The host could not instantiate the component (e.g. the instance pool is exhausted).
    #[error("could not instantiate: {0}")]
    Instantiate(String),
}

impl InvokeError {
    /// Whether another attempt could succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Permanent { .. } | Self::OutOfMemory { .. })
    }

    /// The dead-letter reason for this failure when no retry follows.
    pub fn reason(&self) -> DeadLetterReason {
        match self {
            Self::Retryable { .. } | Self::Instantiate(_) => DeadLetterReason::Exhausted,
            Self::Permanent { .. } => DeadLetterReason::Permanent,
            Self::Timeout(_) => DeadLetterReason::Timeout,
            Self::OutOfMemory { .. } => DeadLetterReason::OutOfMemory,
            Self::Trap(_) => DeadLetterReason::Trap,
        }
    }

    /// The delay the handler asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A live instance kept for its next event (`limits.events_per_instance` > 1).
pub struct WarmInstance {
    store: Store<State>,
    handler: Instance,
    output: CapturedOutput,
    served: u32,
    idle_since: Instant,
}

/// Instances of one function waiting for their next event.
#[derive(Default)]
pub struct InstancePool {
    idle: Mutex<Vec<WarmInstance>>,
}

/// An idle instance older than this is dropped rather than reused.
const MAX_IDLE: Duration = Duration::from_secs(10);

impl InstancePool {
    fn take(&self) -> Option<WarmInstance> {
        // One clock read for the whole pool, not one per idle instance.
        let now = Instant::now();
        let mut idle = self.idle.lock().expect("instance pool lock poisoned");
        idle.retain(|warm| now.saturating_duration_since(warm.idle_since) < MAX_IDLE);
        idle.pop()
    }

    fn put(&self, warm: WarmInstance, keep_at_most: usize) {
        let mut idle = self.idle.lock().expect("instance pool lock poisoned");
        if idle.len() < keep_at_most {
            idle.push(warm);
        }
    }
}

/// Runs delivery number `attempt` of `event` through `function`: in a fresh instance, or
/// with `limits.events_per_instance` > 1 in one that served fewer events than that and never
/// failed. A batch function gets a batch of one.
///
/// On success returns the messages the handler published, in order, for the caller to send.
pub async fn invoke(
    engine: &SluiceEngine,
    function: &Function,
    event: &Arc<Event>,
    attempt: u32,
) -> Result<Vec<OutgoingMessage>, InvokeError> {
    let mut outcomes = invoke_many(engine, function, &[(event.clone(), attempt)]).await;
    outcomes.pop().expect("one outcome per event")
}

/// One event of a call and its delivery number.
pub type Attempt = (Arc<Event>, u32);

/// What became of one event of a call: its outputs, or why it failed.
pub type Outcome = Result<Vec<OutgoingMessage>, InvokeError>;

/// Runs `events` through `function` in one instance and one call: `handle-batch` for a batch
/// function (any number of events), `handle` otherwise (exactly one event). Returns one
/// outcome per event, in order; a failure of the call itself (trap, timeout, out of memory, a
/// result list of the wrong length) is every event's outcome.
pub async fn invoke_many(engine: &SluiceEngine, function: &Function, events: &[Attempt]) -> Vec<Outcome> {
    let limits = &function.manifest().limits;
    let batch = matches!(function.pre(), FunctionPre::Batch(_));
    assert!(
        batch || events.len() == 1,
        "only a batch function takes several events in one call"
    );
    let reuse = limits.events_per_instance.get();
    let warm = if reuse > 1 {
        function.instances().take()
    } else {
        None
    };
    let mut calls: Vec<Call> = events
        .iter()
        .map(|(event, _)| call_for(function, event))
        .collect();
    let (mut store, handler, output, served) = match warm {
        Some(mut warm) => {
            warm.store.data_mut().begin(call_for(function, &events[0].0));
            (warm.store, Some(warm.handler), warm.output, warm.served)
        }
        None => {
            let first = call_for(function, &events[0].0);
            let output = CapturedOutput::default();
            let mut store = Store::new(engine.engine(), State::new(first, limits.memory, &output));
            store.limiter(|state| state.limiter());
            // Yield to the executor every epoch tick so a busy handler shares its thread;
            // the timeout below drops the call (and the instance) when time is up.
            store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
            (store, None, output, 0)
        }
    };
    store.set_epoch_deadline(1);
    if batch {
        store.data_mut().begin_batch(calls);
    } else {
        store.data_mut().begin(calls.pop().expect("one call"));
    }

    let attempt_future = async {
        let handler = match handler {
            Some(handler) => handler,
            None => instantiate(function.pre(), &mut store)
                .await
                .map_err(|error| (Stage::Instantiate, error))?,
        };
        let handled = call_handler(&handler, &mut store, events)
            .await
            .map_err(|error| (Stage::Call, error))?;
        Ok((handler, handled))
    };
    let result = tokio::time::timeout(limits.timeout, attempt_future).await;
    output.log(function.name(), || log_label(events));
    let all_failed = |error: InvokeError| vec![Err(error); events.len()];
    let (handler, handled) = match result {
        Err(_elapsed) => return all_failed(InvokeError::Timeout(limits.timeout)),
        Ok(Err((stage, error))) => {
            return all_failed(classify(stage, &error, store.data_mut(), &output, limits.memory));
        }
        Ok(Ok(done)) => done,
    };
    if handled.len() != events.len() {
        return all_failed(InvokeError::Trap(format!(
            "handle-batch returned {} results for a batch of {} events (it must return one per event)",
            handled.len(),
            events.len()
        )));
    }
    let outboxes = store.data_mut().finish_batch();
    let succeeded = handled.iter().all(Result::is_ok);
    if succeeded && served + 1 < reuse {
        output.clear();
        let warm = WarmInstance {
            store,
            handler,
            output,
            served: served + 1,
            idle_since: Instant::now(),
        };
        function
            .instances()
            .put(warm, limits.max_concurrency.get() as usize);
    }
    handled
        .into_iter()
        .zip(outboxes)
        .map(|(handled, outbox)| match handled {
            Ok(()) => Ok(outbox.into_messages()),
            Err(failure) => Err(failure_error(failure)),
        })
        .collect()
}

/// What the host imports know about `event` of `function`.
fn call_for(function: &Function, event: &Arc<Event>) -> Call {
    Call {
        function: function.name().clone(),
        manifest: function.manifest().clone(),
        event: event.clone(),
        outbox: Default::default(),
        services: function.services().clone(),
    }
}

/// The event id the handler's captured output is logged under.
fn log_label(events: &[Attempt]) -> String {
    match events {
        [(event, _)] => event.id.to_string(),
        [(first, _), rest @ ..] => format!("{} (+{} more in the batch)", first.id, rest.len()),
        [] => String::new(),
    }
}

/// The error of a failure the handler returned.
fn failure_error(failure: Failure) -> InvokeError {
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

/// A live instance of a function's component, of the world it implements.
pub enum Instance {
    /// A `sluice:function/handler`.
    Sluice(Handler),
    /// A `sluice:function/batch-handler`.
    Batch(BatchHandler),
    /// A wasmCloud messaging handler.
    WasmCloud(MessagingHandler),
}

async fn instantiate(pre: &FunctionPre, store: &mut Store<State>) -> wasmtime::Result<Instance> {
    Ok(match pre {
        FunctionPre::Sluice(pre) => Instance::Sluice(pre.instantiate_async(store).await?),
        FunctionPre::Batch(pre) => Instance::Batch(pre.instantiate_async(store).await?),
        FunctionPre::WasmCloud(pre) => Instance::WasmCloud(pre.instantiate_async(store).await?),
    })
}

/// Calls the instance's handler with `events` (one, unless it is a batch handler). A
/// wasmCloud handler's `err` is retryable: its world cannot say more.
async fn call_handler(
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

/// `1.5s`, `250ms`: durations as the manifest writes them.
pub(crate) fn humanize(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_permanent_failures_and_memory_exhaustion_skip_retries() {
        assert!(InvokeError::Timeout(Duration::from_secs(1)).is_retryable());
        assert!(InvokeError::Trap("x".into()).is_retryable());
        assert!(!InvokeError::Permanent { message: "x".into() }.is_retryable());
        assert!(!InvokeError::OutOfMemory { limit: 1 }.is_retryable());
        assert_eq!(
            InvokeError::Timeout(Duration::from_millis(250)).to_string(),
            "timed out after 250ms"
        );
    }
}
