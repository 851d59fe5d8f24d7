//! Running one attempt of one event: a fresh store and instance with the function's limits
//! and deadline, `handle` called, the outcome classified.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::{Store, Trap, UpdateDeadline};

use crate::bindings::Handler;
use crate::bindings::sluice::function::types::{Failure, RetryableError};
use crate::bindings::wasmcloud::MessagingHandler;
use crate::bindings::wasmcloud::wasmcloud::messaging::types::BrokerMessage;
use crate::engine::SluiceEngine;
use crate::event::Event;
use crate::function::FunctionPre;
use crate::function::{Function, one_line};
use crate::host::{Call, CapturedOutput, OutgoingMessage, State};

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
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Retryable { .. } | Self::Instantiate(_) => "exhausted",
            Self::Permanent { .. } => "permanent",
            Self::Timeout(_) => "timeout",
            Self::OutOfMemory { .. } => "out_of_memory",
            Self::Trap(_) => "trap",
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
/// failed.
///
/// On success returns the messages the handler published, in order, for the caller to send.
pub async fn invoke(
    engine: &SluiceEngine,
    function: &Function,
    event: &Arc<Event>,
    attempt: u32,
) -> Result<Vec<OutgoingMessage>, InvokeError> {
    let limits = &function.manifest().limits;
    let call = Call {
        function: function.name().clone(),
        manifest: function.manifest().clone(),
        event: event.clone(),
        outbox: Default::default(),
        services: function.services().clone(),
    };
    let reuse = limits.events_per_instance.get();
    let warm = if reuse > 1 {
        function.instances().take()
    } else {
        None
    };
    let (mut store, handler, output, served) = match warm {
        Some(mut warm) => {
            warm.store.data_mut().begin(call);
            (warm.store, Some(warm.handler), warm.output, warm.served)
        }
        None => {
            let output = CapturedOutput::default();
            let mut store = Store::new(engine.engine(), State::new(call, limits.memory, &output));
            store.limiter(|state| state.limiter());
            // Yield to the executor every epoch tick so a busy handler shares its thread;
            // the timeout below drops the call (and the instance) when time is up.
            store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
            (store, None, output, 0)
        }
    };
    store.set_epoch_deadline(1);

    let attempt_future = async {
        let handler = match handler {
            Some(handler) => handler,
            None => instantiate(function.pre(), &mut store)
                .await
                .map_err(|error| (Stage::Instantiate, error))?,
        };
        let handled = call_handler(&handler, &mut store, event, attempt)
            .await
            .map_err(|error| (Stage::Call, error))?;
        Ok((handler, handled))
    };
    let result = tokio::time::timeout(limits.timeout, attempt_future).await;
    output.log(function.name(), &event.id);
    let (handler, handled) = match result {
        Err(_elapsed) => return Err(InvokeError::Timeout(limits.timeout)),
        Ok(Err((stage, error))) => {
            return Err(classify(stage, &error, store.data_mut(), &output, limits.memory));
        }
        Ok(Ok(done)) => done,
    };
    match handled {
        Ok(()) => {
            let messages = store.data_mut().take_outbox().into_messages();
            if served + 1 < reuse {
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
            Ok(messages)
        }
        Err(Failure::Retryable(error)) => Err(InvokeError::Retryable {
            message: error.message,
            retry_after: error
                .retry_after_ms
                .map(|ms| Duration::from_millis(u64::from(ms))),
        }),
        Err(Failure::Permanent(message)) => Err(InvokeError::Permanent { message }),
    }
}

/// A live instance of a function's component, of the world it implements.
pub enum Instance {
    /// A `sluice:function/handler`.
    Sluice(Handler),
    /// A wasmCloud messaging handler.
    WasmCloud(MessagingHandler),
}

async fn instantiate(pre: &FunctionPre, store: &mut Store<State>) -> wasmtime::Result<Instance> {
    Ok(match pre {
        FunctionPre::Sluice(pre) => Instance::Sluice(pre.instantiate_async(store).await?),
        FunctionPre::WasmCloud(pre) => Instance::WasmCloud(pre.instantiate_async(store).await?),
    })
}

/// Calls the instance's handler with delivery number `attempt` of `event`. A wasmCloud
/// handler's `err` is retryable: its world cannot say more.
async fn call_handler(
    instance: &Instance,
    store: &mut Store<State>,
    event: &Event,
    attempt: u32,
) -> wasmtime::Result<Result<(), Failure>> {
    match instance {
        Instance::Sluice(handler) => handler.call_handle(store, &event.to_wit(attempt)).await,
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
            Ok(handled.map_err(|message| {
                Failure::Retryable(RetryableError {
                    message,
                    retry_after_ms: None,
                })
            }))
        }
    }
}

/// Where an attempt failed before the handler could return.
#[derive(Clone, Copy)]
enum Stage {
    Instantiate,
    Call,
}

/// Names a failure: out-of-memory when the limiter refused growth; an instantiation error;
/// else a trap, with its code and the last line the guest wrote to stderr (a Rust panic
/// message, typically).
fn classify(
    stage: Stage,
    error: &wasmtime::Error,
    state: &mut State,
    output: &CapturedOutput,
    limit: u64,
) -> InvokeError {
    if state.limiter().refused() {
        return InvokeError::OutOfMemory { limit };
    }
    if let Stage::Instantiate = stage {
        return InvokeError::Instantiate(one_line(error));
    }
    let code = match error.downcast_ref::<Trap>() {
        // Toolchains keep the guest's own stack in linear memory, below its data: overflowing
        // it shows up as an access out of bounds, not as wasm's call-stack exhaustion.
        Some(Trap::MemoryOutOfBounds) => {
            format!(
                "{} (a stack overflow in the handler, or a bad pointer)",
                Trap::MemoryOutOfBounds
            )
        }
        Some(Trap::StackOverflow) => format!("{} (stack overflow: recursion too deep)", Trap::StackOverflow),
        Some(trap) => trap.to_string(),
        None => one_line(error),
    };
    match last_words(&output.lines().0) {
        Some(words) => InvokeError::Trap(format!("{code} ({})", crate::text::truncate(&words, 300))),
        None => InvokeError::Trap(code),
    }
}

/// What the guest said last before dying: a Rust panic's location and message, else its last
/// line of output; rustc's hint about `RUST_BACKTRACE` is skipped.
fn last_words(lines: &[String]) -> Option<String> {
    let lines: Vec<&str> = lines
        .iter()
        .map(|line| line.trim())
        .filter(|line| !is_noise(line))
        .collect();
    match lines.iter().rposition(|line| line.contains("panicked at")) {
        Some(start) => Some(lines[start..].join(" ")),
        None => lines.last().map(|line| (*line).to_owned()),
    }
}

/// Lines runtimes print on their way down that say nothing about why: rustc's backtrace hint,
/// SpiderMonkey's abort redirection (JavaScript handlers).
fn is_noise(line: &str) -> bool {
    line.starts_with("note: run with `RUST_BACKTRACE") || line.starts_with("Redirecting call to abort()")
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
    fn last_words_prefer_the_panic_message() {
        let lines: Vec<String> = [
            "starting",
            "thread '<unnamed>' panicked at src/lib.rs:10:5:",
            "probe trap",
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            last_words(&lines).unwrap(),
            "thread '<unnamed>' panicked at src/lib.rs:10:5: probe trap"
        );
        assert_eq!(last_words(&["one".into(), "two".into()]).unwrap(), "two");
        let js = [
            "uncaught: bad variant".to_owned(),
            "Redirecting call to abort() to mozalloc_abort".to_owned(),
        ];
        assert_eq!(last_words(&js).unwrap(), "uncaught: bad variant");
        assert_eq!(last_words(&[]), None);
    }

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
