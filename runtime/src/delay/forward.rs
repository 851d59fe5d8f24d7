//! Forwarding delayed events that fired: one durable consumer on the delay stream, shared by
//! every host of the cluster, so each fired event is forwarded by one host (again by another
//! if that host dies before acknowledging it).

use std::borrow::Cow;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer, stream};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::dispatch::Dispatcher;
use crate::dispatch::outcome::outbox::send_confirmed;
use crate::event::headers;
use crate::imports::OutgoingMessage;
use sluice_protocol::delay::FIRED_PREFIX;
use sluice_protocol::headers::{DELAY_SUBJECT, NATS_MSG_ID};

/// The durable consumer every host forwards fired events from.
const FORWARDER: &str = "sluice-delay-forwarder";

/// How many fired events one host forwards at once.
const CONCURRENCY: usize = 64;

/// How long before a delivery not acknowledged is delivered again (to any host).
const ACK_WAIT: Duration = Duration::from_secs(30);

/// How long a fired event whose subject could not be published to waits before another try.
const RETRY: Duration = Duration::from_secs(1);

/// Forwards fired delayed events until `stop`; a broken consumer is bound again.
pub(super) async fn run(dispatcher: &Dispatcher, stream: &stream::Stream, stop: &CancellationToken) {
    while !stop.is_cancelled() {
        if let Err(error) = forward_from(dispatcher, stream, stop).await {
            tracing::warn!("forwarding delayed events stopped (starting again): {error}");
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RETRY) => {}
            }
        }
    }
}

async fn forward_from(
    dispatcher: &Dispatcher,
    stream: &stream::Stream,
    stop: &CancellationToken,
) -> Result<(), async_nats::Error> {
    let config = consumer::pull::Config {
        durable_name: Some(FORWARDER.to_owned()),
        description: Some("Sluice: forwards delayed events when they fire".to_owned()),
        filter_subject: format!("{FIRED_PREFIX}>"),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_ack_pending: 10_000,
        ..Default::default()
    };
    let consumer = stream.get_or_create_consumer(FORWARDER, config).await?;
    let messages = consumer.messages().await?;
    let forwarding = messages.for_each_concurrent(CONCURRENCY, |message| async move {
        match message {
            Ok(message) => forward(dispatcher, message).await,
            Err(error) => tracing::debug!("delayed events: {error}"),
        }
    });
    tokio::select! {
        () = stop.cancelled() => Ok(()),
        () = forwarding => Err("the consumer's message stream ended".into()),
    }
}

/// Publishes one fired event to its subject, confirmed when a stream captures it, then
/// acknowledges it; a failed publish is delivered again after [`RETRY`].
async fn forward(dispatcher: &Dispatcher, message: jetstream::Message) {
    let key = message.subject.trim_start_matches(FIRED_PREFIX).to_owned();
    let Some(outgoing) = forwarded(&message, &key) else {
        tracing::warn!(
            delayed = key,
            "a fired delayed event has no `{DELAY_SUBJECT}` header; dropped"
        );
        let _ = message.ack_with(AckKind::Term).await;
        return;
    };
    let subject = outgoing.subject.clone();
    match send_confirmed(dispatcher, outgoing).await {
        Ok(()) => {
            tracing::debug!(delayed = key, %subject, "delayed event published");
            if let Err(error) = message.ack().await {
                tracing::debug!(
                    delayed = key,
                    "acknowledging a forwarded delayed event failed: {error}"
                );
            }
        }
        Err(error) => {
            tracing::warn!(
                delayed = key,
                %subject,
                "publishing a delayed event failed (trying again in 1 s): {error}"
            );
            let _ = message.ack_with(AckKind::Nak(Some(RETRY))).await;
        }
    }
}

/// The message a fired event becomes: its payload, to the subject it names, with the headers
/// the handler's publish had (the server's and the delay stream's own removed) and a
/// `Nats-Msg-Id` naming the delayed event, so a stream keeps one copy when it is forwarded
/// twice.
fn forwarded(message: &jetstream::Message, key: &str) -> Option<OutgoingMessage> {
    let mut pairs = headers::from_nats(message.headers.as_ref());
    let subject = headers::find(&pairs, DELAY_SUBJECT)?.to_owned();
    pairs.retain(|(name, _)| {
        !(name.eq_ignore_ascii_case(DELAY_SUBJECT)
            || name.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("nats-")))
    });
    let mut headers = headers::outgoing(pairs);
    headers.push((Cow::Borrowed(NATS_MSG_ID), format!("sluice-delay:{key}")));
    Some(OutgoingMessage {
        subject,
        payload: message.payload.clone(),
        headers,
    })
}
