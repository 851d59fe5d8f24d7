//! Getting events from NATS into handler instances and settling what became of them, in two
//! delivery modes side by side:
//!
//! ```text
//!             core NATS (at most once)                JetStream (at least once)
//! receive     core::Intake: subscriptions ──►         jetstream::PullIntake: pull requests
//!             pending queue (limits.max_pending)      ahead of the free permits, within a
//!                                                     window of max_concurrency messages
//! admit       a permit of limits.max_concurrency      (the same permits)
//! run         core::event_task: attempts with         jetstream::delivery: one attempt per
//!             backoff in the task, chained events     delivery (the server's delivery
//!                                                     count), chained deliveries
//! settle      outbox published / dead letter          ack after confirmed outputs / NAK with
//!                                                     delay / confirmed dead letter, TERM
//! ```
//!
//! What both modes decide alike lives in [`outcome`]: the checks before a handler runs, the
//! retry decision, dead letters and the outbox. Each deployed function has one intake task,
//! alive across redeploys ([`Update`] hands it a new version), so a new version takes over
//! without dropping or duplicating an event; no more than the cap of instances of one
//! function ever run at once on a host.

pub mod core;
pub mod jetstream;
pub mod outcome;

use std::sync::Arc;

use tokio_util::task::TaskTracker;

use crate::deployment::Deployment;
use crate::engine::SluiceEngine;
use crate::event::Event;

/// Most events one task runs one after another (core and JetStream) before it ends and
/// gives its permit back to the intake. A task that never has to wait (a fast handler, a
/// free publish buffer) runs them in one poll, so this bounds how long it keeps its worker thread from other tasks
/// (16 fresh Rust instances are about 0.2 ms); 16 and 64 measured the same throughput.
pub(crate) const CHAIN: u32 = 16;

/// A new version of a deployed function, sent to its running intake.
pub struct Update {
    /// The version that handles every event admitted from now on.
    pub deployment: Arc<Deployment>,
    /// Core NATS: subscriptions for subjects the new version adds, already made.
    pub subscribe: Vec<(String, async_nats::Subscriber)>,
    /// Core NATS: subjects the new version no longer listens on.
    pub unsubscribe: Vec<String>,
    /// Told once the new version is live: every event admitted after this runs it.
    pub applied: tokio::sync::oneshot::Sender<()>,
}

/// The span every log line about one event carries.
fn event_span(function: &str, event: &Event, attempt: u32) -> tracing::Span {
    tracing::info_span!(
        "event",
        function,
        subject = event.subject.as_str(),
        event_id = event.id.as_str(),
        correlation_id = event.correlation_id.as_str(),
        attempt,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    )
}

/// What intakes and event tasks share on a host: the NATS connection (and JetStream on it),
/// the task tracker, the engine deployments are built with.
///
/// A cheap handle: cloning it (once per admitted event) copies one `Arc`, not the clients,
/// tracker and token inside.
#[derive(Clone)]
pub struct Dispatcher(Arc<DispatcherParts>);

/// The parts a [`Dispatcher`] shares with every event task.
pub struct DispatcherParts {
    /// The engine functions were compiled with.
    pub engine: Arc<SluiceEngine>,
    /// The NATS connection used to publish results and dead letters.
    pub client: async_nats::Client,
    /// Tracks every event task so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// JetStream on the same connection.
    pub jetstream: async_nats::jetstream::Context,
    /// Which subjects streams capture (publishes there wait for the stream's ack).
    pub routes: Arc<crate::provision::StreamRoutes>,
    /// Whether the connection has JetStream, learned once per connection.
    pub jetstream_availability: crate::nats::JetStreamAvailability,
    /// Whether the host's delay stream is ready for delayed publishes.
    pub delays: Arc<crate::imports::DelayReadiness>,
    /// Opens the sealed secrets of `[secrets]` (`sealed:KEY`) with the host's key.
    pub sealed_secrets: Arc<crate::secrets::SealedSecrets>,
    /// Cancelled when the shutdown grace period is over: JetStream events still running are
    /// handed back to the server at once.
    pub abandon: tokio_util::sync::CancellationToken,
    /// Which partitions of partitioned functions this host pulls (set by the fleet).
    pub shares: jetstream::partition::Shares,
    /// Records a span per attempt and exports them; `None` when tracing is off.
    pub tracer: Option<Arc<crate::telemetry::Tracer>>,
}

impl std::ops::Deref for Dispatcher {
    type Target = DispatcherParts;

    fn deref(&self) -> &DispatcherParts {
        &self.0
    }
}

impl Dispatcher {
    /// `message`, a JetStream delivery on this dispatcher's connection, as one that can be
    /// acknowledged and read for its stream metadata.
    pub fn jetstream_message(&self, message: async_nats::Message) -> async_nats::jetstream::Message {
        async_nats::jetstream::Message {
            message,
            context: self.jetstream.clone(),
        }
    }

    /// A dispatcher publishing through `client`, running functions on `engine`, tracing
    /// attempts with `tracer` when there is one.
    pub fn new(
        engine: Arc<SluiceEngine>,
        client: async_nats::Client,
        tracer: Option<Arc<crate::telemetry::Tracer>>,
    ) -> Self {
        let jetstream = async_nats::jetstream::new(client.clone());
        Self(Arc::new(DispatcherParts {
            engine,
            routes: Arc::new(crate::provision::StreamRoutes::new(jetstream.clone())),
            sealed_secrets: Arc::new(crate::secrets::SealedSecrets::new(jetstream.clone())),
            jetstream,
            jetstream_availability: crate::nats::JetStreamAvailability::default(),
            delays: Arc::default(),
            client,
            tracker: TaskTracker::new(),
            abandon: tokio_util::sync::CancellationToken::new(),
            shares: jetstream::partition::Shares::default(),
            tracer,
        }))
    }
}
