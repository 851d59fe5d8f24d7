//! Running one attempt of one event (or of one batch of events): a fresh store and instance
//! with the function's limits and deadline (or a warm one, with `limits.events_per_instance`
//! > 1), `handle` (or `handle-batch`) called, the outcome classified.
//!
//! A [`Runner`] is what runs one function's events: the compiled function, what its imports
//! reach ([`Services`]) and its warm instances.

mod classify;
mod instance;
mod pool;
mod rerun;
mod trace;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_protocol::DeadLetterReason;
use wasmtime::{Store, UpdateDeadline};

use crate::engine::SluiceEngine;
use crate::event::Event;
use crate::function::{Function, FunctionPre};
use crate::imports::{Call, CapturedOutput, OutgoingMessage, Revealed, Services, State};
use crate::telemetry::Parent;
use crate::text::humanize;
use crate::transcript::{Tape, Taping, Transcript};
use classify::{Stage, classify};
use instance::{Instance, call_handler, failure_error, instantiate};
use pool::{InstancePool, WarmInstance};
pub use rerun::{Rerun, RerunError, rerun};

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

    /// The error with every secret value in `revealed` written as `[redacted]`.
    pub fn redacted(self, revealed: &Revealed) -> Self {
        let redact = |text: String| match revealed.redact(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(redacted) => redacted,
        };
        match self {
            Self::Retryable { message, retry_after } => Self::Retryable {
                message: redact(message),
                retry_after,
            },
            Self::Permanent { message } => Self::Permanent {
                message: redact(message),
            },
            Self::Trap(message) => Self::Trap(redact(message)),
            other => other,
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

/// What a call came to: timed out, failed at a stage, or the instance and each event's
/// result.
type CallResult = Result<
    Result<
        (
            Instance,
            Vec<Result<(), crate::bindings::sluice::function::types::Failure>>,
        ),
        (Stage, wasmtime::Error),
    >,
    tokio::time::error::Elapsed,
>;

/// One event of a call and its delivery number.
pub type Attempt = (Arc<Event>, u32);

/// What became of one event of a call: its outputs, or why it failed.
pub type Outcome = Result<Vec<OutgoingMessage>, InvokeError>;

/// Runs one function's events: its compiled component, what its imports reach, and the
/// instances kept warm for reuse.
pub struct Runner {
    engine: Arc<SluiceEngine>,
    function: Arc<Function>,
    services: Arc<Services>,
    warm: InstancePool,
    /// Whether attempts are recorded (or replayed).
    taping: Taping,
}

/// A store ready for a call, and what it brings from an earlier one.
struct Prepared {
    store: Store<State>,
    handler: Option<Instance>,
    output: CapturedOutput,
    served: u32,
    tape: Option<Tape>,
}

impl Runner {
    /// A runner of `function` on `engine` whose imports reach `services`.
    /// Its attempts are recorded when the manifest asks for transcripts
    /// (`dead_letter.transcript`) and the function is not a batch function.
    pub fn new(engine: Arc<SluiceEngine>, function: Arc<Function>, services: Arc<Services>) -> Self {
        let batch = matches!(function.pre(), FunctionPre::Batch(_));
        let taping = match function.manifest().transcripts && !batch {
            true => Taping::Record,
            false => Taping::Off,
        };
        Self {
            engine,
            function,
            services,
            warm: InstancePool::default(),
            taping,
        }
    }

    /// A runner of `function` whose attempts are answered from `transcript` (a call it lacks
    /// diverges, or with `live` reaches `services`): `sluice dlq debug`.
    pub fn replaying(
        engine: Arc<SluiceEngine>,
        function: Arc<Function>,
        services: Arc<Services>,
        transcript: Arc<Transcript>,
        live: bool,
    ) -> Self {
        let mut runner = Self::new(engine, function, services);
        runner.taping = Taping::Replay { transcript, live };
        runner
    }

    /// A runner of `function` whose imports reach nothing: key-value calls are
    /// `unavailable` and requests fail (benchmarks and tests of the sandbox alone).
    pub fn offline(engine: Arc<SluiceEngine>, function: Function) -> Self {
        Self::new(engine, Arc::new(function), Arc::default())
    }

    /// The function it runs.
    pub fn function(&self) -> &Arc<Function> {
        &self.function
    }

    /// What its imports reach.
    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Traces (when tracing is on) that `event` is dead-lettered for `reason` without
    /// reaching the handler.
    pub fn trace_unhandled(&self, event: &Event, reason: DeadLetterReason, error: &str) {
        if let Some(tracer) = &self.services.tracer {
            trace::unhandled(tracer, self.function.name(), event, reason, error);
        }
    }

    /// Runs delivery number `attempt` of `event`: in a fresh instance, or with
    /// `limits.events_per_instance` > 1 in one that served fewer events than that and never
    /// failed. A batch function gets a batch of one.
    ///
    /// On success returns the messages the handler published, in order, for the caller to
    /// send.
    pub async fn invoke(&self, event: &Arc<Event>, attempt: u32) -> Outcome {
        self.invoke_taped(event, attempt).await.0
    }

    /// [`Runner::invoke`], with the attempt's transcript when the runner records (or
    /// replays) its attempts.
    pub async fn invoke_taped(&self, event: &Arc<Event>, attempt: u32) -> (Outcome, Option<Transcript>) {
        let (mut outcomes, transcript) = self.traced(&[(event.clone(), attempt)]).await;
        (outcomes.pop().expect("one outcome per event"), transcript)
    }

    /// Runs `events` in one instance and one call: `handle-batch` for a batch function (any
    /// number of events), `handle` otherwise (exactly one event). Returns one outcome per
    /// event, in order; a failure of the call itself (trap, timeout, out of memory, a result
    /// list of the wrong length) is every event's outcome.
    pub async fn invoke_many(&self, events: &[Attempt]) -> Vec<Outcome> {
        self.traced(events).await.0
    }

    /// [`Runner::invoke_many`], with the call's transcript when it has one.
    async fn traced(&self, events: &[Attempt]) -> (Vec<Outcome>, Option<Transcript>) {
        let Some(tracer) = &self.services.tracer else {
            return self.call(events, &[]).await;
        };
        let name = self.function.name();
        let spans: Vec<_> = events
            .iter()
            .map(|attempt| trace::start(tracer, name, attempt, events.len() == 1))
            .collect();
        let parents: Vec<_> = spans.iter().map(|span| Parent::of(tracer, span)).collect();
        let (outcomes, transcript) = self.call(events, &parents).await;
        let retry = &self.function.manifest().retry;
        for ((span, (_, attempt)), outcome) in spans.into_iter().zip(events).zip(&outcomes) {
            trace::end(span, outcome, *attempt, retry);
        }
        (outcomes, transcript)
    }

    /// [`Runner::invoke_many`] with each event's host calls traced as children of `parents`
    /// (one per event, or none when tracing is off), and the call's transcript when it is
    /// taped.
    async fn call(&self, events: &[Attempt], parents: &[Parent]) -> (Vec<Outcome>, Option<Transcript>) {
        let limits = &self.function.manifest().limits;
        let batch = matches!(self.function.pre(), FunctionPre::Batch(_));
        assert!(
            batch || events.len() == 1,
            "only a batch function takes several events in one call"
        );
        let Prepared {
            mut store,
            handler,
            output,
            served,
            tape,
        } = self.prepare(events, parents);
        let attempt_future = async {
            let handler = match handler {
                Some(handler) => handler,
                None => instantiate(self.function.pre(), &mut store)
                    .await
                    .map_err(|error| (Stage::Instantiate, error))?,
            };
            let handled = call_handler(&handler, &mut store, events)
                .await
                .map_err(|error| (Stage::Call, error))?;
            Ok((handler, handled))
        };
        let result = tokio::time::timeout(limits.timeout, attempt_future).await;
        let revealed = store.data().revealed().clone();
        output.log(
            self.function.name(),
            || log_label(events),
            &revealed,
            &self.services.log_budget,
        );
        let (outcomes, handler) = self.outcomes(result, &mut store, &output, events, &revealed);
        // A successful attempt's recording is only wanted by a replay: a host drops it (the
        // next call of a warm store rewinds the tape) without building a transcript.
        let wanted = matches!(self.taping, Taping::Replay { .. }) || outcomes.iter().any(Result::is_err);
        let transcript = tape
            .filter(|_| wanted)
            .map(|tape| self.transcript(&tape, &output, &revealed, events, &outcomes));
        if let Some(handler) = handler {
            self.keep_warm(store, handler, output, served + 1);
        }
        (outcomes, transcript)
    }

    /// Each event's outcome from the call's `result`, and the instance when every event
    /// succeeded (it may serve again).
    fn outcomes(
        &self,
        result: CallResult,
        store: &mut Store<State>,
        output: &CapturedOutput,
        events: &[Attempt],
        revealed: &Revealed,
    ) -> (Vec<Outcome>, Option<Instance>) {
        let limits = &self.function.manifest().limits;
        let all_failed = |error: InvokeError| (vec![Err(error.redacted(revealed)); events.len()], None);
        let (handler, handled) = match result {
            Err(_elapsed) => return all_failed(InvokeError::Timeout(limits.timeout)),
            Ok(Err((stage, error))) => {
                return all_failed(classify(stage, &error, store.data_mut(), output, limits.memory));
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
        let reusable = handled.iter().all(Result::is_ok).then_some(handler);
        let outcomes = handled
            .into_iter()
            .zip(outboxes)
            .map(|(handled, outbox)| match handled {
                Ok(()) if self.services.shown => Ok(redact_messages(outbox.into_messages(), revealed)),
                Ok(()) => Ok(outbox.into_messages()),
                Err(failure) => Err(failure_error(failure).redacted(revealed)),
            })
            .collect();
        (outcomes, reusable)
    }

    /// The transcript on `tape` of a call of one event (with its stdout and stderr lines);
    /// the tape is emptied.
    fn transcript(
        &self,
        tape: &Tape,
        output: &CapturedOutput,
        revealed: &Revealed,
        events: &[Attempt],
        outcomes: &[Outcome],
    ) -> Transcript {
        for line in output.lines().0 {
            tape.log("stdout", &revealed.redact(&line));
        }
        let (event, attempt) = &events[0];
        let failure = outcomes.first().and_then(|outcome| outcome.as_ref().err());
        tape.finish(
            self.function.name(),
            self.function.version(),
            event,
            *attempt,
            failure.map(ToString::to_string),
        )
    }

    /// A warm instance's store (when reuse is on and one is idle) or a fresh one, set up to
    /// serve `events`.
    fn prepare(&self, events: &[Attempt], parents: &[Parent]) -> Prepared {
        let limits = &self.function.manifest().limits;
        let warm = match limits.events_per_instance.get() > 1 {
            true => self.warm.take(),
            false => None,
        };
        let mut calls: Vec<Call> = events
            .iter()
            .enumerate()
            .map(|(index, (event, _))| self.call_for(event, parents.get(index)))
            .collect();
        let mut prepared = match warm {
            Some(mut warm) => {
                warm.store
                    .data_mut()
                    .begin(self.call_for(&events[0].0, parents.first()));
                let tape = warm.store.data().tape().cloned();
                Prepared {
                    store: warm.store,
                    handler: Some(warm.handler),
                    output: warm.output,
                    served: warm.served,
                    tape,
                }
            }
            None => {
                let output = CapturedOutput::default();
                let tape = self.taping.tape();
                let state = State::new(
                    self.call_for(&events[0].0, parents.first()),
                    limits.memory,
                    &output,
                    tape.clone(),
                );
                let mut store = Store::new(self.engine.engine(), state);
                store.limiter(|state| state.limiter());
                // Yield to the executor every epoch tick so a busy handler shares its thread;
                // the attempt's timeout drops the call (and the instance) when time is up.
                store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
                Prepared {
                    store,
                    handler: None,
                    output,
                    served: 0,
                    tape,
                }
            }
        };
        prepared.store.set_epoch_deadline(1);
        if matches!(self.function.pre(), FunctionPre::Batch(_)) {
            prepared.store.data_mut().begin_batch(calls);
        } else {
            prepared.store.data_mut().begin(calls.pop().expect("one call"));
        }
        prepared
    }

    /// Keeps an instance that has served `served` events for the next one, while it may
    /// serve more.
    fn keep_warm(&self, store: Store<State>, handler: Instance, output: CapturedOutput, served: u32) {
        let limits = &self.function.manifest().limits;
        if served >= limits.events_per_instance.get() {
            return;
        }
        output.clear();
        let warm = WarmInstance {
            store,
            handler,
            output,
            served,
            idle_since: Instant::now(),
        };
        self.warm.put(warm, limits.max_concurrency.get() as usize);
    }

    /// What the imports know about `event`, whose attempt's span is `parent`.
    fn call_for(&self, event: &Arc<Event>, parent: Option<&Parent>) -> Call {
        Call {
            function: self.function.name().clone(),
            manifest: self.function.manifest().clone(),
            event: event.clone(),
            outbox: Default::default(),
            services: self.services.clone(),
            trace: parent.cloned(),
        }
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

/// `messages` as `sluice invoke` shows them: every secret value the attempt read written as
/// `[redacted]` in their payloads (when text) and headers.
fn redact_messages(messages: Vec<OutgoingMessage>, revealed: &Revealed) -> Vec<OutgoingMessage> {
    messages
        .into_iter()
        .map(|mut message| {
            if let Ok(text) = std::str::from_utf8(&message.payload)
                && let std::borrow::Cow::Owned(redacted) = revealed.redact(text)
            {
                message.payload = redacted.into();
            }
            for (_, value) in &mut message.headers {
                if let std::borrow::Cow::Owned(redacted) = revealed.redact(value) {
                    *value = redacted;
                }
            }
            message
        })
        .collect()
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
