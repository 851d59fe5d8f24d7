//! What a transcript holds, as it is stored (JSON): the event, every host call and its
//! answer, the clock readings and random bytes the handler drew, its log lines and how the
//! attempt ended.

use serde::{Deserialize, Serialize};

use crate::event::Event;

/// The stored format's version; a transcript of another version is refused, not misread.
pub const FORMAT: u32 = 1;

/// Most bytes a transcript records (its calls' answers, clock readings, random bytes and log
/// lines, counted as stored); what comes later is not recorded and [`Transcript::cut`] says
/// where the recording stopped.
pub const MAX_BYTES: usize = 256 * 1024;

/// Most bytes of one HTTP response body a transcript keeps; a longer body is kept cut, and a
/// replay answers with the cut body.
pub const MAX_HTTP_BODY: usize = 64 * 1024;

/// One attempt of a handler, as the host saw it: enough to run it again without NATS or a
/// network and get the same answers in the same order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// [`FORMAT`].
    pub format: u32,
    /// The function that ran.
    pub function: String,
    /// The function's version (a digest of its component, manifest and schemas).
    pub version: String,
    /// The delivery number of the attempt.
    pub attempt: u32,
    /// When the attempt ended (RFC 3339).
    pub recorded_at: String,
    /// The event, byte for byte.
    pub event: RecordedEvent,
    /// Every host call that reads the world, in the order made, with its answer.
    pub calls: Vec<RecordedCall>,
    /// Wall-clock readings, nanoseconds since the Unix epoch, in order.
    pub wall_clock: Vec<u64>,
    /// Monotonic-clock readings, nanoseconds, in order.
    pub monotonic_clock: Vec<u64>,
    /// Bytes drawn from `wasi:random/random`, in order.
    #[serde(with = "base64_bytes")]
    pub random: Vec<u8>,
    /// Bytes drawn from `wasi:random/insecure`, in order.
    #[serde(with = "base64_bytes")]
    pub insecure_random: Vec<u8>,
    /// `wasi:random/insecure-seed`'s answer (a `u128`, as decimal text).
    pub insecure_seed: String,
    /// The handler's log lines (secret values already redacted), and its stdout and stderr.
    pub logs: Vec<LogLine>,
    /// The attempt's failure as its dead letter states it; `None` when it succeeded.
    pub outcome: Option<String>,
    /// Where recording stopped when the transcript reached [`MAX_BYTES`]; `None` when whole.
    pub cut: Option<String>,
    /// Set only on what a replay did: the first call the transcript it replayed did not
    /// have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverged: Option<String>,
}

/// The event of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// The event id the handler saw.
    pub id: String,
    /// The subject it arrived on.
    pub subject: String,
    /// Its headers as received.
    pub headers: Vec<(String, String)>,
    /// Its payload.
    #[serde(with = "base64_bytes")]
    pub payload: Vec<u8>,
    /// Its reply subject, for a request.
    pub reply_to: Option<String>,
}

impl RecordedEvent {
    /// The recorded form of `event`.
    pub fn of(event: &Event) -> Self {
        Self {
            id: event.id.clone(),
            subject: event.subject.clone(),
            headers: event.headers.clone(),
            payload: event.payload.to_vec(),
            reply_to: event.reply_to.clone(),
        }
    }

    /// The event again, with the same id and correlation id.
    pub fn to_event(&self) -> Event {
        Event::with_fallback_id(
            self.subject.clone(),
            self.payload.clone().into(),
            self.headers.clone(),
            self.reply_to.clone(),
            || self.id.clone(),
        )
    }
}

/// Which host call: what it does (`op`: `kv.get`, `http`, `request`, ...) and what it names
/// (`target`: a bucket and key, a method and URL, a subject). A replay answers a call with
/// the first unused recorded call of the same `op` and `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCall {
    /// The operation.
    pub op: String,
    /// What it names.
    pub target: String,
}

impl HostCall {
    /// The call `op` on `target`.
    pub fn new(op: &str, target: impl Into<String>) -> Self {
        Self {
            op: op.to_owned(),
            target: target.into(),
        }
    }
}

impl std::fmt::Display for HostCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.op, self.target)
    }
}

/// A host call and the answer the handler got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedCall {
    /// The call.
    #[serde(flatten)]
    pub call: HostCall,
    /// The answer, as the host gave it (the WIT result, in JSON).
    pub answer: serde_json::Value,
}

/// A line the handler wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// `trace` to `error`, or `stdout` for a line of its output.
    pub level: String,
    /// The text.
    pub message: String,
}

/// Bytes as standard base64 text.
pub(crate) mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `bytes` as base64.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    /// Reads base64 text.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}
