//! What a deploy sets up before the swap: what the function needs from JetStream and what
//! its imports reach.
//!
//! Whether the connection has JetStream is learned once per connection
//! ([`crate::nats::JetStreamAvailability`]); a deploy reads the answer rather than asking
//! JetStream and waiting for a timeout. A function that needs JetStream (JetStream mode,
//! `[state] buckets`) waits for the answer (a few seconds at most, once per connection) and
//! is refused in one line without it. A core function never waits: the stream that keeps its
//! dead letters is made sure of at once when JetStream is known to be there, in the
//! background while that is not known yet, and not at all without JetStream (its dead
//! letters are published as always, and not kept).

use std::sync::Arc;

use async_nats::jetstream::consumer::PullConsumer;

use super::DeployError;
use crate::deployment::Parts;
use crate::dispatch::Dispatcher;
use crate::dispatch::jetstream::partition::PartitionConsumers;
use crate::function::Function;
use crate::imports::Services;
use crate::manifest::{DeliveryMode, Manifest};
use crate::nats::JetStream;
use crate::provision;
use crate::provision::partitions::{self, PartitionNames};

/// What a deployment of `function` is made of: what its imports reach and, for a JetStream
/// function (`consumes`) with `[dedupe]`, its dedupe store.
pub(super) async fn deployment_parts(
    dispatcher: &Dispatcher,
    function: Function,
    consumes: bool,
) -> Result<Parts, DeployError> {
    let name = function.name().clone();
    let dedupe = match (consumes, function.manifest().dedupe_window) {
        (true, Some(window)) => Some(provision::dedupe_store(&dispatcher.jetstream, &name, window).await?),
        _ => None,
    };
    let mut services = Services::deployed(
        &dispatcher.jetstream,
        &dispatcher.client,
        &dispatcher.delays,
        &dispatcher.sealed_secrets,
        &name,
        function.manifest(),
    )
    .await?;
    services.tracer = dispatcher.tracer.clone();
    Ok(Parts {
        engine: dispatcher.engine.clone(),
        function,
        services: Arc::new(services),
        dedupe,
    })
}

/// Sets up what a function needs from JetStream: in JetStream mode its stream and consumer
/// (returned) and a stream keeping its dead letters; in core mode only the latter, and only
/// when the connection has JetStream.
pub(super) async fn prepare_jetstream(
    dispatcher: &Dispatcher,
    function: &Function,
) -> Result<Option<Consumers>, DeployError> {
    let js = &dispatcher.jetstream;
    let name = function.name();
    let manifest = function.manifest();
    if let Some(needs) = needs_jetstream(manifest) {
        let availability = &dispatcher.jetstream_availability;
        if availability.learned(&dispatcher.client).await == JetStream::Unavailable {
            return Err(DeployError::NoJetStream {
                function: name.to_string(),
                needs,
            });
        }
    }
    let DeliveryMode::JetStream(trigger) = &manifest.trigger.mode else {
        if let Some(subject) = &manifest.dead_letter {
            keep_core_dead_letters(dispatcher, name, subject, manifest.transcripts).await;
        }
        return Ok(None);
    };
    if trigger.partitions.is_some() {
        partitions::require_server(js, name)?;
    }
    if let Some(schedule) = &manifest.trigger.schedule {
        provision::schedule::require_server(js, name, schedule)?;
    }
    let consumer = provision::prepare_consumer(js, name, manifest, trigger).await?;
    provision::schedule::apply(js, name, &trigger.stream, manifest.trigger.schedule.as_ref()).await?;
    let consumers = match trigger.partitions {
        None => Consumers::One(consumer),
        Some(count) => {
            let names = PartitionNames::new(name, trigger, count);
            let partitions =
                partitions::prepare_partitions(js, name, manifest, &names, &trigger.stream).await?;
            Consumers::Partitioned(PartitionConsumers {
                names,
                router: consumer,
                partitions,
            })
        }
    };
    if let Some(subject) = &manifest.dead_letter {
        let stream = provision::ensure_dead_letter_stream(js, name, subject).await?;
        if manifest.transcripts {
            keep_transcripts(js, name, &stream).await;
        }
    }
    Ok(Some(consumers))
}

/// Where a JetStream function's events come from.
pub(super) enum Consumers {
    /// Its consumer, shared by every host.
    One(PullConsumer),
    /// With `trigger.partitions`: its consumer feeding the router, and the partitions'.
    Partitioned(PartitionConsumers),
}

/// What in `manifest` needs JetStream, if anything does.
fn needs_jetstream(manifest: &Manifest) -> Option<&'static str> {
    match &manifest.trigger.mode {
        DeliveryMode::JetStream(_) => Some("trigger.mode = \"jetstream\""),
        DeliveryMode::Core if !manifest.buckets.is_empty() => Some("[state] buckets"),
        DeliveryMode::Core => None,
    }
}

/// Makes sure a stream keeps the dead letters of core function `name` when the connection
/// has JetStream, before the function runs (so its first dead letter is kept) when that is
/// known or cheap to learn, in the background otherwise: a server that announced JetStream
/// answers the probe at once, a server without it may leave the probe to time out.
async fn keep_core_dead_letters(dispatcher: &Dispatcher, name: &str, subject: &str, transcripts: bool) {
    let availability = &dispatcher.jetstream_availability;
    let answer = match availability.now(&dispatcher.client) {
        Some(answer) => answer,
        None if dispatcher.client.server_info().jetstream => availability.learned(&dispatcher.client).await,
        None => {
            let (dispatcher, name, subject) = (dispatcher.clone(), name.to_owned(), subject.to_owned());
            // Not tracked: it owns a dispatcher handle and ends within the probe's timeout
            // plus JetStream's answer; nothing waits for it.
            tokio::spawn(async move {
                let answer = dispatcher
                    .jetstream_availability
                    .learned(&dispatcher.client)
                    .await;
                keep_or_log(&dispatcher, &name, &subject, transcripts, answer).await
            });
            return;
        }
    };
    keep_or_log(dispatcher, name, subject, transcripts, answer).await
}

/// With JetStream, makes sure a stream captures the dead-letter subject of core function
/// `name`; says when its dead letters are published but not kept.
async fn keep_or_log(
    dispatcher: &Dispatcher,
    name: &str,
    subject: &str,
    transcripts: bool,
    answer: JetStream,
) {
    if answer == JetStream::Unavailable {
        tracing::info!(
            function = name,
            "no JetStream on this NATS connection: dead letters are published to `{subject}` but not kept"
        );
        return;
    }
    match provision::ensure_dead_letter_stream(&dispatcher.jetstream, name, subject).await {
        Ok(stream) if transcripts => keep_transcripts(&dispatcher.jetstream, name, &stream).await,
        Ok(_) => {}
        Err(error) => tracing::warn!("{error}; dead letters are published but not kept"),
    }
}

/// Makes sure the transcript stream exists (with the limits of dead-letter stream `stream`);
/// says so when it cannot, since dead letters then keep no transcript.
async fn keep_transcripts(js: &async_nats::jetstream::Context, name: &str, stream: &str) {
    if let Err(error) = crate::transcript::store::ensure_stream(js, stream).await {
        tracing::warn!(
            function = name,
            "{error}; dead letters are kept without the transcript `sluice dlq debug` replays"
        );
    }
}
