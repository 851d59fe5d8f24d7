//! OpenTelemetry traces: one span per attempt, child spans for what a handler does through
//! its imports, and an OTLP/HTTP export of them.
//!
//! Off unless an endpoint is configured ([`TracingConfig::from_env`]); then the dispatcher
//! holds a [`Tracer`] and every attempt gets a [`Recording`], a child of the event's
//! `traceparent` (or the root of a new trace). The messages a handler publishes carry the
//! `traceparent` of their publish span, so the function that handles them continues the
//! same trace. When tracing is off nothing here runs: no span is built, no id is drawn, and
//! `traceparent` headers pass through as they came.

mod config;
mod context;
mod export;
mod sampler;
mod span;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot};

pub use config::{DEFAULT_SERVICE_NAME, TracingConfig};
pub use context::{SpanContext, TRACEPARENT};
pub use export::encode;
pub use sampler::{Root, Sampler};
pub use span::{FinishedSpan, Recording, SpanKind, Value};

use export::Command;

/// Starts spans and hands finished ones to the export task.
pub struct Tracer {
    sampler: Sampler,
    queue: mpsc::Sender<Command>,
    drops: Arc<export::Drops>,
}

impl Tracer {
    /// A tracer exporting as `config` says, with its export task spawned on the current
    /// Tokio runtime. The task ends once the tracer is dropped, after a last export.
    pub fn start(config: TracingConfig) -> Arc<Self> {
        let (queue, receiver) = mpsc::channel(config.max_queue);
        let drops = Arc::new(export::Drops::default());
        let tracer = Arc::new(Self {
            sampler: config.sampler,
            queue,
            drops: drops.clone(),
        });
        tokio::spawn(export::run(config, receiver, drops));
        tracer
    }

    /// Starts a span named by `name` that continues `parent` (an incoming `traceparent`), or
    /// starts a new trace without one. The sampler decides whether it is recorded.
    pub fn start_span(
        self: &Arc<Self>,
        parent: Option<&SpanContext>,
        kind: SpanKind,
        name: impl FnOnce() -> String,
    ) -> Recording {
        let trace_id = parent.map_or_else(context::new_trace_id, |parent| parent.trace_id);
        let context = SpanContext {
            trace_id,
            span_id: context::new_span_id(),
            sampled: self.sampler.samples(parent, &trace_id),
        };
        Recording::start(self, name, kind, context, parent.map(|parent| parent.span_id))
    }

    /// Starts a child of span `parent` (recorded when the parent is).
    pub fn child(
        self: &Arc<Self>,
        parent: &SpanContext,
        kind: SpanKind,
        name: impl FnOnce() -> String,
    ) -> Recording {
        Recording::start(self, name, kind, parent.child(), Some(parent.span_id))
    }

    /// How many finished spans were dropped: the queue was full or their export failed.
    pub fn dropped(&self) -> u64 {
        self.drops.queue_full.load(Ordering::Relaxed) + self.drops.failed.load(Ordering::Relaxed)
    }

    /// Exports every span finished so far (at shutdown), waiting at most for the export's
    /// timeout.
    pub async fn flush(&self) {
        let (done, exported) = oneshot::channel();
        if self.queue.send(Command::Flush(done)).await.is_ok() {
            let _ = exported.await;
        }
    }

    pub(crate) fn finished(&self, span: FinishedSpan) {
        if self.queue.try_send(Command::Span(span)).is_err() {
            self.drops.queue_full.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The span an attempt's host calls are children of, and the tracer they are recorded with.
#[derive(Clone)]
pub struct Parent {
    tracer: Arc<Tracer>,
    context: SpanContext,
}

impl Parent {
    /// Children of `span`, recorded by `tracer`.
    pub fn of(tracer: &Arc<Tracer>, span: &Recording) -> Self {
        Self {
            tracer: tracer.clone(),
            context: *span.context(),
        }
    }

    /// Starts a child span.
    pub fn child(&self, kind: SpanKind, name: impl FnOnce() -> String) -> Recording {
        self.tracer.child(&self.context, kind, name)
    }
}

/// Ends `span` (when there is one), failed with `describe(error)` when `result` is an error;
/// returns `result`.
pub fn end_with<T, E>(
    span: Option<Recording>,
    result: Result<T, E>,
    describe: impl FnOnce(&E) -> String,
) -> Result<T, E> {
    if let Some(mut span) = span {
        if let Err(error) = &result {
            span.fail(|| describe(error));
        }
        span.end();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn spans_that_find_the_queue_full_or_whose_export_fails_are_counted() {
        let mut config = TracingConfig::new("http://127.0.0.1:9/v1/traces".parse().unwrap());
        config.max_queue = 1;
        config.sampler = Sampler::AlwaysOn;
        let tracer = Tracer::start(config);
        // The export task cannot run before this test yields: the second and third spans
        // find the queue full.
        for name in ["a", "b", "c"] {
            tracer
                .start_span(None, SpanKind::Internal, || name.to_owned())
                .end();
        }
        assert_eq!(tracer.dropped(), 2);
        // The one queued span's export fails (nothing listens on port 9).
        tracer.flush().await;
        assert_eq!(tracer.dropped(), 3);
        let unsampled = SpanContext {
            trace_id: [1; 16],
            span_id: [1; 8],
            sampled: false,
        };
        let span = tracer.child(&unsampled, SpanKind::Internal, || {
            unreachable!("an unsampled span is never named")
        });
        assert!(!span.is_recording());
        span.end();
        assert_eq!(tracer.dropped(), 3, "an unsampled span is not queued");
    }
}
