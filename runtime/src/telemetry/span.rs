//! Spans while they run ([`Recording`]) and once they ended ([`FinishedSpan`]).

use std::sync::Arc;
use std::time::SystemTime;

use super::Tracer;
use super::context::SpanContext;

/// What a span describes, as OpenTelemetry classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// Work inside the host (waiting for a permit, a key-value call).
    Internal,
    /// Handling a message that arrived (an attempt).
    Consumer,
    /// Sending a message (a publish).
    Producer,
    /// A call that waits for an answer (a request, an HTTP request).
    Client,
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A flag.
    Bool(bool),
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Self::Int(number)
    }
}

impl From<u32> for Value {
    fn from(number: u32) -> Self {
        Self::Int(number.into())
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Self::Bool(flag)
    }
}

/// A span that ended, waiting for export.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedSpan {
    /// What it did.
    pub name: String,
    /// Its kind.
    pub kind: SpanKind,
    /// Its trace and id.
    pub context: SpanContext,
    /// Its parent's span id, `None` for a trace's root.
    pub parent: Option<[u8; 8]>,
    /// When it started.
    pub start: SystemTime,
    /// When it ended.
    pub end: SystemTime,
    /// What it is about.
    pub attributes: Vec<(&'static str, Value)>,
    /// Why it failed, when it did (the span's status is then an error).
    pub error: Option<String>,
}

/// A running span. Unsampled, it records nothing and costs nothing but its context, which is
/// still passed on so that the decision travels with the trace.
pub struct Recording {
    context: SpanContext,
    span: Option<(Arc<Tracer>, Box<FinishedSpan>)>,
}

impl Recording {
    /// Starts span `name` of `kind` with context `context` (whose `sampled` flag decides
    /// whether it is recorded), child of span `parent`, exported through `tracer`.
    pub(super) fn start(
        tracer: &Arc<Tracer>,
        name: impl FnOnce() -> String,
        kind: SpanKind,
        context: SpanContext,
        parent: Option<[u8; 8]>,
    ) -> Self {
        let span = context.sampled.then(|| {
            let now = SystemTime::now();
            let span = FinishedSpan {
                name: name(),
                kind,
                context,
                parent,
                start: now,
                end: now,
                attributes: Vec::with_capacity(8),
                error: None,
            };
            (tracer.clone(), Box::new(span))
        });
        Self { context, span }
    }

    /// This span's context: what its children and outgoing messages carry.
    pub fn context(&self) -> &SpanContext {
        &self.context
    }

    /// Whether the span is recorded: attributes are only worth building when it is.
    pub fn is_recording(&self) -> bool {
        self.span.is_some()
    }

    /// Sets attribute `key` (nothing when unsampled).
    pub fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        if let Some((_, span)) = &mut self.span {
            span.attributes.push((key, value.into()));
        }
    }

    /// Sets attribute `key` to what `value` builds, built only when the span is recorded.
    pub fn set_with<V: Into<Value>>(&mut self, key: &'static str, value: impl FnOnce() -> V) {
        if let Some((_, span)) = &mut self.span {
            span.attributes.push((key, value().into()));
        }
    }

    /// Marks the span failed, for `reason`.
    pub fn fail(&mut self, reason: impl FnOnce() -> String) {
        if let Some((_, span)) = &mut self.span {
            span.error = Some(reason());
        }
    }

    /// Moves the span's start back to `start` (it began before it was created: a wait).
    pub fn started_at(&mut self, start: SystemTime) {
        if let Some((_, span)) = &mut self.span {
            span.start = start;
        }
    }

    /// Ends the span now and queues it for export.
    pub fn end(self) {
        self.end_at(SystemTime::now());
    }

    /// Ends the span at `end` (it ended before it was recorded: a wait) and queues it.
    pub fn end_at(self, end: SystemTime) {
        if let Some((tracer, mut span)) = self.span {
            span.end = end;
            tracer.finished(*span);
        }
    }
}
