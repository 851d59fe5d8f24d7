//! Dead letters kept in JetStream, read back and replayed (`sluice dlq list` and
//! `sluice dlq replay`).
//!
//! At deploy the host makes sure a stream captures each function's dead-letter subject
//! (`provision::ensure_dead_letter_stream`). Reading uses a short-lived ephemeral
//! pull consumer filtered to that subject, without acks, that starts at the oldest message
//! and stops when the server says nothing is pending: the dead letters stay in the stream.
//! A replay republishes an event to the subject it arrived on (see [`replay_headers`] for
//! what it carries) and only then deletes its dead letter, so a failure in between can
//! replay an event twice but never lose one.

mod record;
mod replay;

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, stream::Stream};
use futures::StreamExt;

use crate::event::headers;
use crate::provision::StreamRoutes;
use crate::transcript::{Transcript, store};

pub use record::DeadLetter;
pub use replay::{Refused, ReplayReport, refusal, replay_headers};

/// Messages asked for per fetch.
const BATCH: u64 = 256;

/// How long the server keeps the reading consumer after it falls idle (it is also deleted
/// when reading ends; this covers a reader that dies).
const READER_IDLE: Duration = Duration::from_secs(10);

/// Why dead letters could not be read or replayed.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// No stream captures the dead-letter subject, so no dead letter was kept.
    #[error(
        "no stream keeps dead letters for {function} (subject {subject}); deploy the function once so the host creates one"
    )]
    NoStream {
        /// The function.
        function: String,
        /// Its dead-letter subject.
        subject: String,
    },
    /// Talking to JetStream failed while finding or reading the stream.
    #[error("dead letters of {function} (subject {subject}): {message}")]
    Read {
        /// The function.
        function: String,
        /// Its dead-letter subject.
        subject: String,
        /// What went wrong, as NATS said it.
        message: String,
    },
    /// The stream holds no dead letter of the function at that sequence.
    #[error(
        "no dead letter of {function} at sequence {sequence} in stream `{stream}` (see `sluice dlq list {function}`)"
    )]
    NotFound {
        /// The function.
        function: String,
        /// The sequence asked for.
        sequence: u64,
        /// The stream keeping the dead letters.
        stream: String,
    },
    /// Its transcript could not be read.
    #[error(transparent)]
    Transcript(#[from] crate::transcript::store::TranscriptError),
    /// Republishing an event failed; its dead letter stays in the stream.
    #[error("replaying dead letter {sequence} to `{subject}`: {message}")]
    Publish {
        /// The dead letter's stream sequence.
        sequence: u64,
        /// The subject it was replayed to.
        subject: String,
        /// What went wrong.
        message: String,
    },
    /// The event was republished but its dead letter could not be deleted, so a later
    /// replay would send it again.
    #[error("dead letter {sequence} was replayed but could not be deleted from stream `{stream}`: {message}")]
    Delete {
        /// The dead letter's stream sequence.
        sequence: u64,
        /// The stream keeping it.
        stream: String,
        /// What went wrong.
        message: String,
    },
}

/// The dead letters of one function: its dead-letter subject and the stream that keeps it.
pub struct DeadLetterQueue {
    client: async_nats::Client,
    routes: StreamRoutes,
    stream: Stream,
    stream_name: String,
    function: String,
    subject: String,
}

/// What [`DeadLetterQueue::list`] read.
#[derive(Debug)]
pub struct Listing {
    /// The function's dead letters, oldest first.
    pub letters: Vec<DeadLetter>,
    /// Messages on the subject left unread because the limit was reached.
    pub more: u64,
}

impl DeadLetterQueue {
    /// Finds the stream that keeps `function`'s dead letters, published to `subject`.
    pub async fn open(client: async_nats::Client, function: &str, subject: &str) -> Result<Self, DlqError> {
        let js = jetstream::new(client.clone());
        let read_error = |message: String| DlqError::Read {
            function: function.to_owned(),
            subject: subject.to_owned(),
            message,
        };
        let stream_name = js.stream_by_subject(subject).await.map_err(|error| {
            use jetstream::context::GetStreamByNameErrorKind as Kind;
            match error.kind() {
                Kind::NotFound => DlqError::NoStream {
                    function: function.to_owned(),
                    subject: subject.to_owned(),
                },
                _ => read_error(format!(
                    "{error} (is JetStream enabled on the server? start nats-server with -js)"
                )),
            }
        })?;
        let stream = js
            .get_stream(&stream_name)
            .await
            .map_err(|error| read_error(format!("stream `{stream_name}`: {error}")))?;
        Ok(Self {
            client,
            routes: StreamRoutes::new(js),
            stream,
            stream_name,
            function: function.to_owned(),
            subject: subject.to_owned(),
        })
    }

    /// The name of the stream keeping the dead letters.
    pub fn stream_name(&self) -> &str {
        &self.stream_name
    }

    /// The dead-letter subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The function's dead letters, oldest first, at most `limit` of them. Dead letters of
    /// other functions sharing the subject are skipped.
    pub async fn list(&self, limit: Option<usize>) -> Result<Listing, DlqError> {
        let consumer = self.reader().await?;
        let name = consumer.cached_info().name.clone();
        let listing = self.read(&consumer, limit.unwrap_or(usize::MAX)).await;
        // The server drops an idle reader by itself after READER_IDLE.
        let _ = self.stream.delete_consumer(&name).await;
        listing
    }

    /// The function's dead letter at `sequence` of the stream.
    pub async fn letter(&self, sequence: u64) -> Result<DeadLetter, DlqError> {
        let not_found = || DlqError::NotFound {
            function: self.function.clone(),
            sequence,
            stream: self.stream_name.clone(),
        };
        let message = match self.stream.get_raw_message(sequence).await {
            Ok(message) => message,
            Err(error) if error.kind() == jetstream::stream::RawMessageErrorKind::NoMessageFound => {
                return Err(not_found());
            }
            Err(error) => return Err(self.read_error(error.to_string())),
        };
        if message.subject.as_str() != self.subject {
            return Err(not_found());
        }
        let letter = DeadLetter::new(
            sequence,
            headers::from_nats(Some(&message.headers)),
            message.payload,
        );
        match letter.belongs_to(&self.function) {
            true => Ok(letter),
            false => Err(not_found()),
        }
    }

    /// The transcript of `letter`'s last attempt, when one was kept.
    pub async fn transcript(&self, letter: &DeadLetter) -> Result<Option<Transcript>, DlqError> {
        let Some(id) = letter.letter_id() else {
            return Ok(None);
        };
        let js = jetstream::new(self.client.clone());
        Ok(store::find(&js, &self.function, id).await?)
    }

    /// Replays up to `limit` dead letters, oldest first: each goes back to its original
    /// subject unless it was replayed `max_replays` times already or `refuse` gives a reason
    /// not to, and its dead letter (and transcript) is deleted once the event is sent. Stops
    /// at the first failure (see [`ReplayReport::failed`]).
    pub async fn replay(
        &self,
        limit: Option<usize>,
        max_replays: u32,
        refuse: impl Fn(&DeadLetter) -> Option<String>,
    ) -> Result<ReplayReport, DlqError> {
        let mut report = ReplayReport::default();
        for letter in self.list(limit).await?.letters {
            if let Some(why) = refusal(&letter, max_replays).or_else(|| refuse(&letter)) {
                report.refused.push(Refused { letter, why });
                continue;
            }
            match self.replay_one(&letter).await {
                Ok(()) => report.replayed.push(letter),
                Err(error) => {
                    report.failed = Some((letter, error));
                    break;
                }
            }
        }
        Ok(report)
    }

    async fn replay_one(&self, letter: &DeadLetter) -> Result<(), DlqError> {
        let subject = letter.original_subject.clone();
        let publish_error = |message: String| DlqError::Publish {
            sequence: letter.sequence,
            subject: subject.clone(),
            message,
        };
        let headers = headers::to_nats(headers::outgoing(replay_headers(letter)));
        let payload = letter.payload.clone();
        if self.routes.captured(&subject).await {
            let js = jetstream::new(self.client.clone());
            let ack = js
                .publish_with_headers(subject.clone(), headers, payload)
                .await
                .map_err(|error| publish_error(error.to_string()))?;
            ack.await.map_err(|error| publish_error(error.to_string()))?;
        } else {
            self.client
                .publish_with_headers(subject.clone(), headers, payload)
                .await
                .map_err(|error| publish_error(error.to_string()))?;
            self.client
                .flush()
                .await
                .map_err(|error| publish_error(error.to_string()))?;
        }
        self.delete(letter.sequence).await?;
        if let Some(id) = letter.letter_id() {
            let js = jetstream::new(self.client.clone());
            if let Err(error) = store::forget(&js, &self.function, id).await {
                tracing::warn!("{error}; it stays until the transcript stream's limits drop it");
            }
        }
        Ok(())
    }

    async fn delete(&self, sequence: u64) -> Result<(), DlqError> {
        let delete_error = |message: String| DlqError::Delete {
            sequence,
            stream: self.stream_name.clone(),
            message,
        };
        match self.stream.delete_message(sequence).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(delete_error("the server did not delete it".into())),
            Err(error) => Err(delete_error(error.to_string())),
        }
    }

    /// An ephemeral consumer of the dead-letter subject, from the oldest message, no acks.
    async fn reader(&self) -> Result<PullConsumer, DlqError> {
        let config = pull::Config {
            description: Some(format!("sluice dlq reader for {}", self.function)),
            filter_subject: self.subject.clone(),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            inactive_threshold: READER_IDLE,
            ..Default::default()
        };
        self.stream
            .create_consumer(config)
            .await
            .map_err(|error| self.read_error(format!("reader on stream `{}`: {error}", self.stream_name)))
    }

    /// Reads until the server says nothing is pending, an empty fetch, or `limit` letters.
    async fn read(&self, consumer: &PullConsumer, limit: usize) -> Result<Listing, DlqError> {
        let mut pending = consumer.cached_info().num_pending;
        let mut letters = Vec::new();
        while pending > 0 && letters.len() < limit {
            let mut batch = consumer
                .fetch()
                .max_messages(pending.min(BATCH) as usize)
                .messages()
                .await
                .map_err(|error| self.read_error(error.to_string()))?;
            let mut received = 0;
            while let Some(message) = batch.next().await {
                let message = message.map_err(|error| self.read_error(error.to_string()))?;
                let info = message
                    .info()
                    .map_err(|error| self.read_error(error.to_string()))?;
                let (sequence, left) = (info.stream_sequence, info.pending);
                received += 1;
                pending = left;
                let message = message.message;
                let letter = DeadLetter::new(
                    sequence,
                    headers::from_nats(message.headers.as_ref()),
                    message.payload,
                );
                if letter.belongs_to(&self.function) {
                    letters.push(letter);
                }
                if letters.len() >= limit {
                    break;
                }
            }
            if received == 0 {
                break;
            }
        }
        let more = if letters.len() >= limit { pending } else { 0 };
        Ok(Listing { letters, more })
    }

    fn read_error(&self, message: String) -> DlqError {
        DlqError::Read {
            function: self.function.clone(),
            subject: self.subject.clone(),
            message,
        }
    }
}
