//! The JetStream side of a deploy: the stream a function consumes (created if missing), its
//! durable pull consumer (created or updated), the stream that keeps dead letters, the
//! key-value bucket that remembers handled event ids, and which subjects a stream captures
//! (so publishes there wait for the stream's ack), and for a function with partitions the
//! stream and consumers of its partitions ([`partitions`]). Works with nats-server 2.9,
//! partitions aside (they need 2.11).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, kv, stream};

use crate::manifest::{DeliverFrom, JetStreamTrigger, Manifest, SubjectPattern};

pub mod partitions;
pub mod schedule;

use schedule::ScheduleSubjects;

/// Name of the stream that keeps dead letters published under `sluice.dlq.>`.
pub const DEAD_LETTER_STREAM: &str = "SLUICE_DLQ";

/// The subjects [`DEAD_LETTER_STREAM`] captures.
pub const DEAD_LETTER_SUBJECTS: &str = "sluice.dlq.>";

/// A JetStream resource a function needs could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("function `{function}`: {what}: {message}")]
pub struct SetupError {
    /// The function being deployed.
    pub function: String,
    /// What was being set up, e.g. "stream `ORDERS`".
    pub what: String,
    /// What went wrong, as NATS said it.
    pub message: String,
}

impl SetupError {
    fn new(function: &str, what: impl Into<String>, message: impl ToString) -> Self {
        Self {
            function: function.to_owned(),
            what: what.into(),
            message: message.to_string(),
        }
    }
}

/// Makes sure the function's stream exists and covers its subjects, creates or updates its
/// durable pull consumer, and returns the consumer.
pub async fn prepare_consumer(
    js: &jetstream::Context,
    function: &str,
    manifest: &Manifest,
    trigger: &JetStreamTrigger,
) -> Result<PullConsumer, SetupError> {
    let subjects = &manifest.trigger.subjects;
    let schedule = manifest
        .trigger
        .schedule
        .as_ref()
        .map(|_| ScheduleSubjects::of(function));
    let stream_subjects = ensure_stream(js, function, &trigger.stream, subjects, schedule.as_ref()).await?;
    let (filter_subject, filter_subjects) = match &schedule {
        None => consumer_filter(subjects, &stream_subjects)
            .map(|filter| (filter, Vec::new()))
            .map_err(|message| {
                SetupError::new(function, format!("consumer `{}`", trigger.consumer), message)
            })?,
        // The firings and the function's own subjects, never the schedule message itself.
        Some(schedule) => {
            let mut all: Vec<String> = subjects.iter().map(ToString::to_string).collect();
            all.push(schedule.target.clone());
            match all.len() {
                1 => (all.remove(0), Vec::new()),
                _ => (String::new(), all),
            }
        }
    };
    let config = pull::Config {
        durable_name: Some(trigger.consumer.clone()),
        description: Some(format!("sluice function {function}")),
        ack_policy: AckPolicy::Explicit,
        ack_wait: manifest.delivery.ack_wait,
        // The host counts attempts (from the delivery count) and dead-letters; the server
        // never gives up on a message by itself.
        max_deliver: -1,
        // Counted by the server across every host pulling from this consumer.
        max_ack_pending: i64::from(manifest.limits.max_in_flight_or_default().get()),
        filter_subject,
        filter_subjects,
        deliver_policy: deliver_policy(&trigger.deliver),
        ..Default::default()
    };
    // With partitions this consumer feeds the router, which one host runs at a time.
    let config = match trigger.partitions {
        Some(_) => partitions::router_consumer(config),
        None => config,
    };
    js.create_consumer_on_stream(config, &trigger.stream)
        .await
        .map_err(|error| SetupError::new(function, format!("consumer `{}`", trigger.consumer), error))
}

/// Creates `name` covering `subjects` if it does not exist; otherwise checks it covers them.
/// With `schedule`, the stream also keeps the function's schedule and its firings (an
/// existing stream is updated to). Returns the stream's subjects.
async fn ensure_stream(
    js: &jetstream::Context,
    function: &str,
    name: &str,
    subjects: &[SubjectPattern],
    schedule: Option<&ScheduleSubjects>,
) -> Result<Vec<String>, SetupError> {
    let what = || format!("stream `{name}`");
    match js.get_stream(name).await {
        Ok(mut stream) => {
            let info = stream
                .info()
                .await
                .map_err(|e| SetupError::new(function, what(), e))?;
            let mut stream_subjects = info.config.subjects.clone();
            if let Some(schedule) = schedule {
                stream_subjects =
                    schedule::keep_schedules(js, function, info.config.clone(), schedule).await?;
            }
            for subject in subjects {
                if !stream_subjects.iter().any(|s| covers(s, subject.as_str())) {
                    return Err(SetupError::new(
                        function,
                        what(),
                        format!(
                            "does not capture `{subject}` (its subjects: {}); add it to the stream or use another trigger.stream",
                            stream_subjects.join(", ")
                        ),
                    ));
                }
            }
            Ok(stream_subjects)
        }
        Err(error) if is_stream_not_found(&error) => {
            let mut subjects: Vec<String> = subjects.iter().map(ToString::to_string).collect();
            if let Some(schedule) = schedule {
                subjects.extend([schedule.holder.clone(), schedule.target.clone()]);
            }
            let config = stream::Config {
                name: name.to_owned(),
                subjects: subjects.clone(),
                description: Some(format!("created by sluice for function {function}")),
                allow_message_schedules: schedule.is_some(),
                ..Default::default()
            };
            js.get_or_create_stream(config)
                .await
                .map_err(|e| SetupError::new(function, what(), e))?;
            tracing::info!(function, stream = name, subjects = %subjects.join(", "), "created stream");
            Ok(subjects)
        }
        Err(error) => Err(SetupError::new(function, what(), jetstream_unavailable(error))),
    }
}

/// The consumer's filter: none when the function takes everything the stream captures,
/// its one subject otherwise. (Several filter subjects need nats-server 2.10.)
fn consumer_filter(subjects: &[SubjectPattern], stream_subjects: &[String]) -> Result<String, String> {
    let takes_all = stream_subjects
        .iter()
        .all(|s| subjects.iter().any(|mine| covers(mine.as_str(), s)));
    match subjects {
        _ if takes_all => Ok(String::new()),
        [one] => Ok(one.to_string()),
        _ => Err(format!(
            "the stream captures more than these {} subjects, and one consumer can filter only one subject on nats-server 2.9; use one subject or a stream of exactly these subjects",
            subjects.len()
        )),
    }
}

fn deliver_policy(from: &DeliverFrom) -> DeliverPolicy {
    match from {
        DeliverFrom::All => DeliverPolicy::All,
        DeliverFrom::New => DeliverPolicy::New,
        DeliverFrom::Time(start_time) => DeliverPolicy::ByStartTime {
            start_time: *start_time,
        },
        DeliverFrom::Sequence(start_sequence) => DeliverPolicy::ByStartSequence {
            start_sequence: *start_sequence,
        },
    }
}

/// Whether subject pattern `pattern` captures everything `other` (a subject or pattern) can
/// match.
pub fn covers(pattern: &str, other: &str) -> bool {
    let mut mine = pattern.split('.');
    let mut theirs = other.split('.');
    loop {
        match (mine.next(), theirs.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(token)) if token != ">" => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Makes sure a stream captures `subject`, so dead letters published there are durable:
/// [`DEAD_LETTER_STREAM`] for `sluice.dlq.>`, else a stream of that one subject.
pub async fn ensure_dead_letter_stream(
    js: &jetstream::Context,
    function: &str,
    subject: &str,
) -> Result<String, SetupError> {
    if let Ok(name) = js.stream_by_subject(subject).await {
        return Ok(name);
    }
    let (name, subjects) = if covers(DEAD_LETTER_SUBJECTS, subject) {
        (
            DEAD_LETTER_STREAM.to_owned(),
            vec![DEAD_LETTER_SUBJECTS.to_owned()],
        )
    } else {
        let name = format!("SLUICE_DLQ_{}", function.to_uppercase().replace('-', "_"));
        (name, vec![subject.to_owned()])
    };
    let config = stream::Config {
        name: name.clone(),
        subjects,
        description: Some("dead letters kept by sluice; see `sluice dlq list`".into()),
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| SetupError::new(function, format!("dead-letter stream `{name}`"), e))?;
    Ok(name)
}

/// The bucket remembering the ids of events the function handled, for `window`.
pub async fn dedupe_store(
    js: &jetstream::Context,
    function: &str,
    window: Duration,
) -> Result<kv::Store, SetupError> {
    let bucket = Bucket {
        name: format!("sluice-dedupe-{function}"),
        purpose: "dedupe bucket",
        description: format!("event ids handled by sluice function {function}"),
        max_age: window,
    };
    key_value_store(js, function, &bucket).await
}

/// A key-value bucket named in the function's `[state] buckets`, created if missing (values
/// kept forever, one revision per key).
pub async fn state_store(
    js: &jetstream::Context,
    function: &str,
    bucket: &str,
) -> Result<kv::Store, SetupError> {
    let bucket = Bucket {
        name: bucket.to_owned(),
        purpose: "state bucket",
        description: format!("created by sluice for function {function} ([state] buckets)"),
        max_age: Duration::ZERO,
    };
    key_value_store(js, function, &bucket).await
}

/// A key-value bucket to open or create.
struct Bucket {
    /// The bucket's name.
    name: String,
    /// What it is for, in errors ("dedupe bucket").
    purpose: &'static str,
    /// The description of its stream, when created.
    description: String,
    /// How long a value is kept; zero keeps it forever.
    max_age: Duration,
}

/// Opens `bucket`, creating it first when missing.
///
/// The bucket's stream is created here with the key-value layout (`KV_<bucket>` on
/// `$KV.<bucket>.>`, one value per key, rollups, direct gets) rather than through
/// `create_key_value`, whose account-info request nats-server 2.9 answers in a shape the
/// client does not parse. An existing bucket is opened as it is.
async fn key_value_store(
    js: &jetstream::Context,
    function: &str,
    bucket: &Bucket,
) -> Result<kv::Store, SetupError> {
    let name = &bucket.name;
    let what = || format!("{} `{name}`", bucket.purpose);
    let config = stream::Config {
        name: format!("KV_{name}"),
        description: Some(bucket.description.clone()),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age: bucket.max_age,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| SetupError::new(function, what(), e))?;
    js.get_key_value(name)
        .await
        .map_err(|e| SetupError::new(function, what(), e))
}

/// The key under which an event id is remembered: the id itself when it is a valid key,
/// else its SHA-256 in hex.
pub fn dedupe_key(event_id: &str) -> String {
    let valid = !event_id.is_empty()
        && event_id.len() <= 200
        && !event_id.starts_with('.')
        && !event_id.ends_with('.')
        && event_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=' | '/' | '.'));
    if valid {
        return event_id.to_owned();
    }
    use sha2::Digest;
    sha2::Sha256::digest(event_id.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn is_stream_not_found(error: &jetstream::context::GetStreamError) -> bool {
    matches!(
        error.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(error)
            if error.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

fn jetstream_unavailable(error: impl std::fmt::Display) -> String {
    format!("{error} (is JetStream enabled on the server? start nats-server with -js)")
}

/// Which subjects are captured by a stream, asked once per subject and remembered for a
/// while: publishes to captured subjects wait for the stream's ack.
pub struct StreamRoutes {
    js: jetstream::Context,
    known: Mutex<HashMap<String, (bool, Instant)>>,
}

/// How long an answer of [`StreamRoutes`] is trusted.
const ROUTE_TTL: Duration = Duration::from_secs(10);

impl StreamRoutes {
    /// Routes looked up through `js`.
    pub fn new(js: jetstream::Context) -> Self {
        Self {
            js,
            known: Mutex::default(),
        }
    }

    /// Whether a stream captures `subject`. When JetStream does not answer (no meta leader
    /// while a cluster recovers, a lost connection), the last answer stands: taking "no" for
    /// an answer would send outputs unconfirmed to a stream that cannot store them.
    pub async fn captured(&self, subject: &str) -> bool {
        // The host's own delay stream: one subject per delayed event, never worth a lookup.
        if subject.starts_with(sluice_protocol::delay::HOLDER_PREFIX) {
            return true;
        }
        let known = self.lock().get(subject).copied();
        if let Some((captured, at)) = known
            && at.elapsed() < ROUTE_TTL
        {
            return captured;
        }
        let captured = match self.js.stream_by_subject(subject).await {
            Ok(_) => true,
            Err(error) if error.kind() == jetstream::context::GetStreamByNameErrorKind::NotFound => false,
            Err(error) => {
                tracing::debug!(
                    subject,
                    "cannot tell whether a stream captures the subject: {error}"
                );
                return known.is_some_and(|(captured, _)| captured);
            }
        };
        self.lock().insert(subject.to_owned(), (captured, Instant::now()));
        captured
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (bool, Instant)>> {
        self.known.lock().expect("stream routes lock poisoned")
    }
}

#[cfg(test)]
mod tests {
    use sha2::Digest;

    use super::*;

    #[test]
    fn coverage_follows_wildcards() {
        assert!(covers("orders.>", "orders.placed"));
        assert!(covers("orders.>", "orders.*.eu"));
        assert!(covers("orders.*", "orders.placed"));
        assert!(covers("orders.*", "orders.*"));
        assert!(!covers("orders.*", "orders.>"));
        assert!(!covers("orders.*", "orders.placed.eu"));
        assert!(!covers("orders.placed", "orders.*"));
        assert!(covers("a.b", "a.b"));
    }

    #[test]
    fn filters_only_when_the_stream_has_more() {
        let one = [SubjectPattern::parse("orders.placed").unwrap()];
        assert_eq!(consumer_filter(&one, &["orders.placed".into()]).unwrap(), "");
        assert_eq!(
            consumer_filter(&one, &["orders.>".into()]).unwrap(),
            "orders.placed"
        );
        let two = [
            SubjectPattern::parse("a").unwrap(),
            SubjectPattern::parse("b").unwrap(),
        ];
        assert_eq!(consumer_filter(&two, &["a".into(), "b".into()]).unwrap(), "");
        assert!(consumer_filter(&two, &[">".into()]).is_err());
    }

    #[test]
    fn odd_event_ids_become_hashes() {
        assert_eq!(
            dedupe_key("ORDERS:42"),
            format!("{:x}", sha2::Sha256::digest(b"ORDERS:42"))
        );
        assert_eq!(dedupe_key("order-42"), "order-42");
        assert_eq!(dedupe_key("a b").len(), 64);
    }
}
