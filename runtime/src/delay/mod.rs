//! Delayed events: what handlers schedule with `publish-after` / `publish-at`, kept in one
//! stream per NATS cluster until they fire, then forwarded to their subject.
//!
//! ```text
//! handler: publish-after(subject, payload, 30 s)   (outbox: sent only if the attempt succeeds)
//!   ──► sluice.delay.hold.FUNCTION.ID   Nats-Schedule: @at T, Sluice-Delay-Subject: subject
//!       (stream SLUICE_DELAYED; a cancel replaces it with a marker that expires)
//!   ──► at T the stream's leader writes sluice.delay.fired.FUNCTION.ID (once per cluster)
//!   ──► one host's forwarder (a durable consumer shared by the fleet) publishes it to
//!       `subject`, confirmed by the stream capturing it, then acknowledges it (work queue:
//!       acknowledged means removed)
//! ```
//!
//! Every host sets up the stream and runs a forwarder when its server offers JetStream with
//! message schedules (nats-server 2.12 or newer); until then, and on other servers,
//! `publish-after` returns the reason it cannot schedule.

mod forward;
mod pending;

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::dispatch::Dispatcher;
use crate::nats::JetStream;
pub use pending::{PendingDelay, list};
use sluice_protocol::delay::{STREAM, SUBJECTS};

/// The oldest nats-server with message schedules (`@at`).
const NEEDS_SERVER: (u64, u64) = (2, 12);

/// How long a failed setup waits before trying again.
const SETUP_RETRY: Duration = Duration::from_secs(2);

/// The running delay service of a host: its setup and forwarder task.
pub(crate) struct DelayService {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl DelayService {
    /// Sets up the delay stream (with `replicas` copies) on `dispatcher`'s connection and
    /// marks the host ready for delayed events (before the host deploys anything, so no
    /// event finds it unready), then forwards the ones that fire until stopped. A setup that
    /// fails is tried again in the background.
    pub(crate) async fn start(dispatcher: Dispatcher, replicas: usize) -> Self {
        let stop = CancellationToken::new();
        let stream = set_up(&dispatcher, replicas).await;
        let task = tokio::spawn(serve(dispatcher, stream, replicas, stop.clone()));
        Self { stop, task }
    }

    /// Stops forwarding; a delayed event being forwarded finishes first.
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// What setting up found: the delay stream, or whether to try again.
enum Setup {
    Ready(Box<stream::Stream>),
    Failed,
    Impossible,
}

async fn set_up(dispatcher: &Dispatcher, replicas: usize) -> Setup {
    let readiness = &dispatcher.delays;
    if dispatcher
        .jetstream_availability
        .learned(&dispatcher.client)
        .await
        == JetStream::Unavailable
    {
        readiness.set(Err(
            "delayed events need JetStream, and this host's NATS server does not offer it".to_owned(),
        ));
        return Setup::Impossible;
    }
    if let Some(connected) = crate::nats::older_than(&dispatcher.client, NEEDS_SERVER) {
        let (major, minor) = NEEDS_SERVER;
        readiness.set(Err(format!(
            "delayed events need nats-server {major}.{minor} or newer (message schedules); connected to {connected}"
        )));
        return Setup::Impossible;
    }
    match ensure_stream(&dispatcher.jetstream, replicas).await {
        Ok(stream) => {
            readiness.set(Ok(()));
            Setup::Ready(Box::new(stream))
        }
        Err(error) => {
            tracing::warn!("cannot set up the delay stream `{STREAM}` (trying again): {error}");
            readiness.set(Err(format!(
                "the delay stream `{STREAM}` is not set up yet: {error}"
            )));
            Setup::Failed
        }
    }
}

async fn serve(dispatcher: Dispatcher, mut setup: Setup, replicas: usize, stop: CancellationToken) {
    let stream = loop {
        match setup {
            Setup::Ready(stream) => break stream,
            Setup::Impossible => return,
            Setup::Failed => {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(SETUP_RETRY) => {}
                }
                setup = set_up(&dispatcher, replicas).await;
            }
        }
    };
    forward::run(&dispatcher, &stream, &stop).await;
}

/// The delay stream, created when missing: a work queue (a fired event is removed once
/// forwarded) that allows message schedules, per-message TTLs (cancel markers expire) and
/// roll-ups (a schedule or a cancel replaces what its subject held).
async fn ensure_stream(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<stream::Stream, async_nats::Error> {
    let config = stream::Config {
        name: STREAM.to_owned(),
        description: Some("Sluice: delayed events waiting to fire (publish-after, publish-at)".to_owned()),
        subjects: vec![SUBJECTS.to_owned()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        num_replicas: replicas.max(1),
        allow_message_schedules: true,
        allow_message_ttl: true,
        allow_rollup: true,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    };
    Ok(js.get_or_create_stream(config).await?)
}
