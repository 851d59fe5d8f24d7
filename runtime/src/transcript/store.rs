//! Transcripts kept in JetStream, beside their dead letters.
//!
//! Stream [`STREAM`] captures `sluice.transcripts.>`, one message per dead letter on the
//! subject [`subject`] derives from the function and the dead letter's id (its
//! `Nats-Msg-Id`, `dlq:FUNCTION:EVENT:REPLAYS`), so a transcript is found by a direct read of
//! that subject's last message. The stream is created with the limits (age, bytes, messages)
//! of the function's dead-letter stream, and a replay that deletes a dead letter deletes its
//! transcript too.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};

use super::record::{FORMAT, Transcript};
use crate::event::headers::NATS_MSG_ID;

/// The stream keeping transcripts.
pub const STREAM: &str = "SLUICE_TRANSCRIPTS";

/// The subjects [`STREAM`] captures.
pub const SUBJECTS: &str = "sluice.transcripts.>";

/// The header naming the dead letter a transcript belongs to.
pub const DEAD_LETTER_ID: &str = "Sluice-Dead-Letter-Id";

/// Why a transcript could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    /// JetStream refused or failed.
    #[error("transcript of dead letter `{letter}`: {message}")]
    Nats {
        /// The dead letter's id.
        letter: String,
        /// What NATS said.
        message: String,
    },
    /// The stored transcript is not one this version of Sluice reads.
    #[error("transcript of dead letter `{letter}` cannot be read: {message}")]
    Unreadable {
        /// The dead letter's id.
        letter: String,
        /// Why.
        message: String,
    },
}

/// The subject of the transcript of `function`'s dead letter `letter_id`: the function and
/// a digest of the id (ids may hold characters a subject token may not).
pub fn subject(function: &str, letter_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(letter_id.as_bytes());
    let key: String = digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect();
    format!("sluice.transcripts.{function}.{key}")
}

/// Makes sure [`STREAM`] exists; a new one gets the limits of `dead_letter_stream`.
pub async fn ensure_stream(js: &jetstream::Context, dead_letter_stream: &str) -> Result<(), String> {
    if js.get_stream(STREAM).await.is_ok() {
        return Ok(());
    }
    let mut letters = js
        .get_stream(dead_letter_stream)
        .await
        .map_err(|error| format!("dead-letter stream `{dead_letter_stream}`: {error}"))?;
    let limits = letters
        .info()
        .await
        .map_err(|error| format!("dead-letter stream `{dead_letter_stream}`: {error}"))?
        .config
        .clone();
    let config = stream::Config {
        name: STREAM.to_owned(),
        subjects: vec![SUBJECTS.to_owned()],
        description: Some(
            "transcripts of dead-lettered attempts, kept by sluice; see `sluice dlq debug`".into(),
        ),
        max_age: limits.max_age,
        max_bytes: limits.max_bytes,
        max_messages: limits.max_messages,
        max_messages_per_subject: 1,
        allow_direct: true,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map(|_| ())
        .map_err(|error| format!("transcript stream `{STREAM}`: {error}"))
}

/// Stores `transcript` as the transcript of dead letter `letter_id`, waiting for the stream.
pub async fn keep(
    js: &jetstream::Context,
    letter_id: &str,
    transcript: &Transcript,
) -> Result<(), TranscriptError> {
    let failed = |message: String| TranscriptError::Nats {
        letter: letter_id.to_owned(),
        message,
    };
    let body = serde_json::to_vec(transcript).map_err(|error| failed(error.to_string()))?;
    let mut headers = HeaderMap::new();
    headers.insert(NATS_MSG_ID, format!("transcript:{letter_id}").as_str());
    headers.insert(DEAD_LETTER_ID, letter_id);
    let subject = subject(&transcript.function, letter_id);
    let ack = js
        .publish_with_headers(subject, headers, body.into())
        .await
        .map_err(|error| failed(error.to_string()))?;
    ack.await.map(|_| ()).map_err(|error| failed(error.to_string()))
}

/// The transcript of `function`'s dead letter `letter_id`, if one is kept.
pub async fn find(
    js: &jetstream::Context,
    function: &str,
    letter_id: &str,
) -> Result<Option<Transcript>, TranscriptError> {
    let failed = |message: String| TranscriptError::Nats {
        letter: letter_id.to_owned(),
        message,
    };
    let Ok(stream) = js.get_stream_no_info(STREAM).await else {
        return Ok(None);
    };
    let message = match stream
        .get_last_raw_message_by_subject(&subject(function, letter_id))
        .await
    {
        Ok(message) => message,
        Err(error) if error.kind() == stream::LastRawMessageErrorKind::NoMessageFound => return Ok(None),
        Err(error) => return Err(failed(error.to_string())),
    };
    let unreadable = |message: String| TranscriptError::Unreadable {
        letter: letter_id.to_owned(),
        message,
    };
    let transcript: Transcript =
        serde_json::from_slice(&message.payload).map_err(|error| unreadable(error.to_string()))?;
    if transcript.format != FORMAT {
        return Err(unreadable(format!(
            "it has format {}; this sluice reads format {FORMAT}",
            transcript.format
        )));
    }
    Ok(Some(transcript))
}

/// Deletes the transcript of `function`'s dead letter `letter_id`, if one is kept.
pub async fn forget(js: &jetstream::Context, function: &str, letter_id: &str) -> Result<(), TranscriptError> {
    let Ok(stream) = js.get_stream_no_info(STREAM).await else {
        return Ok(());
    };
    stream
        .purge()
        .filter(subject(function, letter_id))
        .await
        .map(|_| ())
        .map_err(|error| TranscriptError::Nats {
            letter: letter_id.to_owned(),
            message: error.to_string(),
        })
}
