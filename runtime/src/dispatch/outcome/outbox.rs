//! Sending what a handler published once its attempt succeeded (the outbox), and any message
//! the host itself must get into a stream.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::deployment::Deployment;
use crate::dispatch::Dispatcher;
use crate::event::headers;
use crate::imports::OutgoingMessage;
use crate::text::humanize;

/// How long a handled event's outputs are sent again while a stream does not confirm them,
/// before the event is handed back (NAK) for a later attempt.
const OUTPUT_PATIENCE: Duration = Duration::from_secs(30);
/// The first pause before sending an unconfirmed output again; it doubles up to
/// [`OUTPUT_RETRY_MAX`].
const OUTPUT_RETRY: Duration = Duration::from_millis(100);
const OUTPUT_RETRY_MAX: Duration = Duration::from_secs(2);

/// Publishes the handler's messages without waiting for streams to confirm them (core NATS:
/// at most once), counting what was sent and what failed.
pub async fn publish_all(dispatcher: &Dispatcher, deployment: &Deployment, messages: Vec<OutgoingMessage>) {
    let (mut ok, mut failed) = (0, 0);
    for message in messages {
        // A `Subject` shares its bytes: kept for the error line without copying the string.
        let subject = async_nats::Subject::from(message.subject);
        let headers = headers::to_nats(message.headers);
        let sent = dispatcher
            .client
            .publish_with_headers(subject.clone(), headers, message.payload)
            .await;
        match sent {
            Ok(()) => ok += 1,
            Err(error) => {
                failed += 1;
                tracing::error!(%subject, "publishing the handler's message failed: {error}");
            }
        }
    }
    deployment.stats.published(ok, failed);
}

/// How a message the host sends itself (a dead letter) reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sending {
    /// A plain publish (core NATS: the event itself was at most once).
    Plain,
    /// Confirmed by the stream capturing the subject, when one does ([`send_confirmed`]).
    Confirmed,
}

/// Sends `message` as `sending` says.
pub async fn send_as(
    dispatcher: &Dispatcher,
    message: OutgoingMessage,
    sending: Sending,
) -> Result<(), String> {
    match sending {
        Sending::Plain => send(dispatcher, message).await.map_err(|error| error.to_string()),
        Sending::Confirmed => send_confirmed(dispatcher, message).await,
    }
}

async fn send(dispatcher: &Dispatcher, message: OutgoingMessage) -> Result<(), async_nats::PublishError> {
    let headers = headers::to_nats(message.headers);
    dispatcher
        .client
        .publish_with_headers(message.subject, headers, message.payload)
        .await
}

/// Publishes `message`; when a stream captures its subject, waits for the stream's ack.
/// Other subjects get a plain publish: it reaches the server before the ack that follows it
/// on the same connection, and no stream would keep it anyway.
pub async fn send_confirmed(dispatcher: &Dispatcher, message: OutgoingMessage) -> Result<(), String> {
    if !dispatcher.routes.captured(&message.subject).await {
        return send(dispatcher, message).await.map_err(|error| error.to_string());
    }
    let headers = headers::to_nats(message.headers);
    let ack = dispatcher
        .jetstream
        .publish_with_headers(message.subject, headers, message.payload)
        .await
        .map_err(|error| error.to_string())?;
    ack.await.map(drop).map_err(|error| error.to_string())
}

/// Publishes the handler's messages; those to subjects a stream captures wait for the
/// stream's ack. A message not confirmed is sent again (same `Nats-Msg-Id`, so the stream
/// keeps one copy) for up to [`OUTPUT_PATIENCE`]: a stream electing a new leader after a
/// server is lost answers nothing for seconds, and handing the event back instead would spend
/// its delivery attempts on an outage and dead-letter a healthy event. Fails with the first
/// message still not confirmed after that.
pub async fn publish_confirmed(
    dispatcher: &Dispatcher,
    deployment: &Deployment,
    messages: Vec<OutgoingMessage>,
) -> Result<(), String> {
    let total = messages.len() as u64;
    let mut unsent = VecDeque::from(messages);
    let give_up = Instant::now() + OUTPUT_PATIENCE;
    let mut pause = OUTPUT_RETRY;
    let result = loop {
        let Some(message) = unsent.front() else {
            break Ok(());
        };
        let subject = message.subject.clone();
        match send_confirmed(dispatcher, message.clone()).await {
            Ok(()) => drop(unsent.pop_front()),
            Err(error) if Instant::now() + pause < give_up => {
                tracing::debug!(
                    "publish to `{subject}` not confirmed ({error}); sending it again in {}",
                    humanize(pause)
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(OUTPUT_RETRY_MAX);
            }
            Err(error) => break Err(format!("publish to `{subject}`: {error}")),
        }
    };
    let sent = total - unsent.len() as u64;
    deployment.stats.published(sent, total - sent);
    result
}
