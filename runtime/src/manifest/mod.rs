//! Function manifests (`NAME.toml`): parsed strictly, then validated into typed settings.
//!
//! Parsing happens in two stages, as in ripgrep's flags: [`raw`] mirrors the file and rejects
//! unknown keys; [`Manifest::parse`] turns each value into its typed form and names the key
//! and the expectation when a value is wrong. Nothing here touches the network or the disk
//! except [`Manifest::from_file`] reading the file.

mod batch;
mod raw;
mod schedule;
mod schema;
mod secrets;
mod state;
mod trigger;
pub mod units;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::retry::{Jitter, RetryPolicy};
pub use batch::BatchPolicy;
use raw::RawManifest;
pub use schedule::Schedule;
pub use schema::{DEFAULT_VERSION_HEADER, DEFAULT_VERSION_POINTER, SchemaSpec, VersionSource};
pub use secrets::SecretSource;
use sluice_protocol::subject;
pub use sluice_protocol::{AuthorityPattern, SubjectPattern};
pub use trigger::{DeliverFrom, DeliveryMode, JetStreamTrigger, KeySource, Trigger};

/// A manifest that could not be read or is invalid. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file exists but could not be read.
    #[error("{}: cannot read manifest: {source}", file.display())]
    Read {
        /// The manifest file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has a key Sluice does not know, or a value of the
    /// wrong type.
    #[error("{}:{line}: {message}", file.display())]
    Syntax {
        /// The manifest file.
        file: PathBuf,
        /// 1-based line of the problem (0 when unknown).
        line: usize,
        /// What the parser said.
        message: String,
    },
    /// A key has a value of the right type that is not acceptable.
    #[error("{}: `{key}`: {message}", file.display())]
    Invalid {
        /// The manifest file.
        file: PathBuf,
        /// The dotted key, e.g. `limits.timeout`.
        key: &'static str,
        /// What was expected.
        message: String,
    },
}

/// `[delivery]`: how old an event may be and how long a delivery may stay unacknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Events older than this are dead-lettered as `expired` without running the handler.
    pub max_event_age: Option<Duration>,
    /// JetStream: how long the server waits for an ack before redelivering. A running handler
    /// keeps its event by sending progress acks; a dead host's events come back after this.
    pub ack_wait: Duration,
}

/// `[circuit_breaker]`: when to stop taking events from a failing function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive retryable failures that open the circuit.
    pub failures: NonZeroU32,
    /// The first pause; each failed probe doubles it.
    pub cool_down: Duration,
    /// The longest pause.
    pub max_cool_down: Duration,
}

/// `[limits]`: what one invocation, and the function as a whole, may use.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Events of this function in flight on this host at once.
    pub max_concurrency: NonZeroU32,
    /// Core: events received but waiting for a free slot; beyond this (or
    /// `max_pending_bytes`) they are dropped and counted.
    pub max_pending: NonZeroU32,
    /// Core: bytes (as received: subject, headers and payload) of the events waiting; beyond
    /// this new ones are dropped and counted, unless nothing waits.
    pub max_pending_bytes: u64,
    /// JetStream: events in flight across every host of the fleet at once (the consumer's
    /// `max_ack_pending`); `None` leaves it at [`Limits::max_in_flight_or_default`].
    pub max_in_flight: Option<NonZeroU32>,
    /// Wall-clock limit of one attempt.
    pub timeout: Duration,
    /// Linear memory one instance may grow to, in bytes.
    pub memory: u64,
    /// Largest payload handed to the function, in bytes; larger ones are dead-lettered.
    pub max_payload: u64,
    /// Events one instance may serve one after another (1 = a fresh instance per event).
    pub events_per_instance: NonZeroU32,
    /// How long one outgoing HTTP request may take, from connecting to the last byte of the
    /// response body; never longer than `timeout`.
    pub http_timeout: Duration,
    /// Largest outgoing HTTP response body handed to the function, in bytes.
    pub max_http_response: u64,
    /// Handler log lines the function may write per second on one host; more are counted and
    /// left out (0: no limit).
    pub log_lines_per_second: u32,
}

/// A function's validated manifest, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Where events come from.
    pub trigger: Trigger,
    /// Resource limits.
    pub limits: Limits,
    /// Retry schedule.
    pub retry: RetryPolicy,
    /// Where events that cannot be processed go; `None` drops them (logged and counted).
    pub dead_letter: Option<String>,
    /// `dead_letter.transcript`: whether each attempt is recorded, so a dead letter keeps the
    /// transcript `sluice dlq debug` replays (default: on for JetStream functions).
    pub transcripts: bool,
    /// Subject patterns the function may publish to.
    pub publish: Vec<SubjectPattern>,
    /// `permissions.request`: subject patterns the function may send requests to.
    pub request: Vec<SubjectPattern>,
    /// `state.buckets`: the key-value buckets the function may use, in manifest order.
    pub buckets: Vec<String>,
    /// Hosts the function may send HTTP requests to (`permissions.http`).
    pub http: Vec<AuthorityPattern>,
    /// The `[config]` table, readable by the function.
    pub config: BTreeMap<String, String>,
    /// `[secrets]`: the secrets the function may read, by name, and where each comes from.
    pub secrets: BTreeMap<String, SecretSource>,
    /// Event age limit and ack wait.
    pub delivery: Delivery,
    /// `[dedupe] window`: how long a handled event id is remembered (JetStream only).
    pub dedupe_window: Option<Duration>,
    /// The circuit breaker, when configured.
    pub circuit_breaker: Option<BreakerPolicy>,
    /// `[schema]`: the JSON Schema files payloads must match, when configured.
    pub schema: Option<SchemaSpec>,
    /// `[schema] publishes`: the JSON Schema of what it publishes to each subject pattern,
    /// paths resolved against the manifest's folder (declared for `sluice graph`).
    pub output_schemas: Vec<(SubjectPattern, PathBuf)>,
    /// `[batch]`, when the manifest has the section (only batch functions may).
    pub batch: Option<BatchPolicy>,
}

impl Manifest {
    /// The manifest of a function deployed without a `NAME.toml`.
    pub fn default_for(name: &str) -> Result<Self, ManifestError> {
        Self::parse(name, "", Path::new(&format!("{name}.toml")))
    }

    /// Reads and validates `file` as the manifest of function `name`.
    pub fn from_file(name: &str, file: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(file).map_err(|source| ManifestError::Read {
            file: file.to_owned(),
            source,
        })?;
        Self::parse(name, &text, file)
    }

    /// Validates manifest `text` of function `name`; `file` is only used in error messages.
    pub fn parse(name: &str, text: &str, file: &Path) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|error| ManifestError::Syntax {
            file: file.to_owned(),
            line: error.span().map_or(0, |span| line_of(text, span.start)),
            message: error.message().trim().to_owned(),
        })?;
        let invalid = |key: &'static str, message: String| ManifestError::Invalid {
            file: file.to_owned(),
            key,
            message,
        };
        let trigger = trigger::trigger(name, raw.trigger).map_err(|(key, msg)| invalid(key, msg))?;
        let jetstream = matches!(trigger.mode, DeliveryMode::JetStream(_));
        if trigger.partitions().is_some() && raw.limits.max_in_flight.is_some() {
            return Err(invalid(
                "limits.max_in_flight",
                "does not apply with trigger.partitions: each partition has one event in flight, fleet-wide"
                    .into(),
            ));
        }
        let dedupe_window = dedupe(raw.dedupe, jetstream).map_err(|(key, msg)| invalid(key, msg))?;
        let publish = patterns(raw.permissions.publish.clone().unwrap_or_default())
            .map_err(|msg| invalid("permissions.publish", msg))?;
        let folder = file.parent().unwrap_or(Path::new(""));
        Ok(Manifest {
            trigger,
            limits: limits(raw.limits, jetstream).map_err(|(key, msg)| invalid(key, msg))?,
            retry: retry(raw.retry).map_err(|(key, msg)| invalid(key, msg))?,
            dead_letter: dead_letter(name, raw.dead_letter.subject)
                .map_err(|msg| invalid("dead_letter.subject", msg))?,
            transcripts: raw.dead_letter.transcript.unwrap_or(jetstream),
            publish: publish.clone(),
            request: patterns(raw.permissions.request.unwrap_or_default())
                .map_err(|msg| invalid("permissions.request", msg))?,
            buckets: state::buckets(raw.state.buckets.unwrap_or_default())
                .map_err(|msg| invalid("state.buckets", msg))?,
            http: authorities(raw.permissions.http.unwrap_or_default())
                .map_err(|msg| invalid("permissions.http", msg))?,
            config: raw.config,
            secrets: secrets::secrets(raw.secrets).map_err(|msg| invalid("secrets", msg))?,
            delivery: delivery(raw.delivery).map_err(|(key, msg)| invalid(key, msg))?,
            dedupe_window,
            circuit_breaker: circuit_breaker(raw.circuit_breaker).map_err(|(key, msg)| invalid(key, msg))?,
            schema: schema::schema(raw.schema.as_ref(), folder).map_err(|(key, msg)| invalid(key, msg))?,
            output_schemas: schema::publishes(raw.schema.as_ref(), folder, &publish)
                .map_err(|(key, msg)| invalid(key, msg))?,
            batch: batch::batch(raw.batch).map_err(|(key, msg)| invalid(key, msg))?,
        })
    }

    /// This manifest as a shadow version runs under it: HTTP only to the hosts of `http`
    /// (`host[:port]` patterns, as `permissions.http`), no transcripts. (Its requests are
    /// refused by what a shadow's imports reach, with a message saying why.)
    pub fn shadowed(mut self, http: &[String]) -> Result<Self, String> {
        self.http = authorities(http.to_vec())?;
        self.transcripts = false;
        Ok(self)
    }

    /// Whether this function may publish to `subject` (its event's reply-to aside).
    pub fn may_publish(&self, subject: &str) -> bool {
        self.publish.iter().any(|pattern| pattern.matches(subject))
    }

    /// Whether this function may send a request to `subject` (`permissions.request`; unlike
    /// publishing, the event's reply-to is not implied).
    pub fn may_request(&self, subject: &str) -> bool {
        self.request.iter().any(|pattern| pattern.matches(subject))
    }

    /// Whether this function may use key-value bucket `bucket` (`state.buckets`).
    pub fn may_use_bucket(&self, bucket: &str) -> bool {
        self.buckets.iter().any(|name| name == bucket)
    }

    /// Whether this function may send an HTTP request to `host` on `port`, where
    /// `default_port` is the request scheme's default port.
    pub fn may_call(&self, host: &str, port: u16, default_port: u16) -> bool {
        self.http
            .iter()
            .any(|pattern| pattern.matches(host, port, default_port))
    }
}

/// A validation failure: the dotted key and what was expected.
type KeyError = (&'static str, String);

fn delivery(raw: raw::RawDelivery) -> Result<Delivery, KeyError> {
    let max_event_age = match raw.max_event_age {
        None => None,
        Some(text) => Some(duration("delivery.max_event_age", Some(text), "")?),
    };
    Ok(Delivery {
        max_event_age,
        ack_wait: duration("delivery.ack_wait", raw.ack_wait, "30s")?,
    })
}

fn dedupe(raw: raw::RawDedupe, jetstream: bool) -> Result<Option<Duration>, KeyError> {
    let Some(text) = raw.window else {
        return Ok(None);
    };
    if !jetstream {
        return Err((
            "dedupe.window",
            "only applies to trigger.mode = \"jetstream\" (ids are remembered in a JetStream key-value bucket)".into(),
        ));
    }
    duration("dedupe.window", Some(text), "").map(Some)
}

fn circuit_breaker(raw: raw::RawCircuitBreaker) -> Result<Option<BreakerPolicy>, KeyError> {
    let Some(failures) = raw.failures else {
        for (key, value) in [
            ("circuit_breaker.cool_down", &raw.cool_down),
            ("circuit_breaker.max_cool_down", &raw.max_cool_down),
        ] {
            if value.is_some() {
                return Err((
                    key,
                    "needs circuit_breaker.failures (how many consecutive failures open it)".into(),
                ));
            }
        }
        return Ok(None);
    };
    let failures = positive("circuit_breaker.failures", Some(failures), 5)?;
    let cool_down = duration("circuit_breaker.cool_down", raw.cool_down, "1s")?;
    let max_cool_down = duration("circuit_breaker.max_cool_down", raw.max_cool_down, "1m")?;
    if max_cool_down < cool_down {
        return Err((
            "circuit_breaker.max_cool_down",
            "must not be shorter than circuit_breaker.cool_down".into(),
        ));
    }
    Ok(Some(BreakerPolicy {
        failures,
        cool_down,
        max_cool_down,
    }))
}

/// Events a core function's queue holds by default: NATS clients' own default for a
/// subscription's pending messages (512 Ki; nats.go `DefaultSubPendingMsgsLimit`), so a burst
/// a hand-written consumer would hold is not dropped by the host.
const DEFAULT_MAX_PENDING: u32 = 512 * 1024;

/// A JetStream consumer's `max_ack_pending` when `max_in_flight` is not set, unless
/// `max_pending` is lower.
const DEFAULT_MAX_ACK_PENDING: u32 = 10_000;

impl Limits {
    /// The fleet-wide cap of a JetStream function: `max_in_flight`, or else the smaller of
    /// `max_pending` and 10,000.
    pub fn max_in_flight_or_default(&self) -> NonZeroU32 {
        self.max_in_flight.unwrap_or_else(|| {
            self.max_pending
                .min(NonZeroU32::new(DEFAULT_MAX_ACK_PENDING).expect("not zero"))
        })
    }
}

fn limits(raw: raw::RawLimits, jetstream: bool) -> Result<Limits, KeyError> {
    let timeout = duration("limits.timeout", raw.timeout, "30s")?;
    let http_timeout = match raw.http_timeout {
        // The default never outlasts the attempt it runs in.
        None => Duration::from_secs(10).min(timeout),
        Some(text) => duration("limits.http_timeout", Some(text), "")?,
    };
    if http_timeout > timeout {
        return Err((
            "limits.http_timeout",
            "must not be longer than limits.timeout (the whole attempt)".into(),
        ));
    }
    Ok(Limits {
        max_concurrency: positive("limits.max_concurrency", raw.max_concurrency, 16)?,
        max_pending: positive("limits.max_pending", raw.max_pending, DEFAULT_MAX_PENDING)?,
        max_pending_bytes: size("limits.max_pending_bytes", raw.max_pending_bytes, "64MiB", 1)?,
        max_in_flight: max_in_flight(raw.max_in_flight, jetstream)?,
        timeout,
        memory: size("limits.memory", raw.memory, "64MiB", 64 << 10)?,
        max_payload: size("limits.max_payload", raw.max_payload, "1MiB", 1)?,
        events_per_instance: positive("limits.events_per_instance", raw.events_per_instance, 1)?,
        http_timeout,
        max_http_response: size("limits.max_http_response", raw.max_http_response, "1MiB", 1)?,
        log_lines_per_second: whole("limits.log_lines_per_second", raw.log_lines_per_second, 1000)?,
    })
}

/// A whole number from 0 to `u32::MAX`, `default` when absent.
fn whole(key: &'static str, value: Option<i64>, default: u32) -> Result<u32, KeyError> {
    let value = value.unwrap_or(i64::from(default));
    u32::try_from(value).map_err(|_| {
        (
            key,
            format!("expected a whole number from 0 to {}, found {value}", u32::MAX),
        )
    })
}

fn max_in_flight(value: Option<i64>, jetstream: bool) -> Result<Option<NonZeroU32>, KeyError> {
    const KEY: &str = "limits.max_in_flight";
    match value {
        None => Ok(None),
        Some(_) if !jetstream => Err((
            KEY,
            "only applies to trigger.mode = \"jetstream\" (the server counts unacknowledged events across hosts); core mode caps each host with limits.max_concurrency".into(),
        )),
        Some(value) => positive(KEY, Some(value), 1).map(Some),
    }
}

fn retry(raw: raw::RawRetry) -> Result<RetryPolicy, KeyError> {
    let multiplier = raw.multiplier.unwrap_or(2.0);
    if !(1.0..=100.0).contains(&multiplier) {
        return Err((
            "retry.multiplier",
            format!("expected a number from 1 to 100, found {multiplier}"),
        ));
    }
    let jitter = match raw.jitter.as_deref().unwrap_or("full") {
        "full" => Jitter::Full,
        "equal" => Jitter::Equal,
        "none" => Jitter::None,
        other => {
            return Err((
                "retry.jitter",
                format!("expected \"full\", \"equal\" or \"none\", found {other:?}"),
            ));
        }
    };
    let initial_delay = duration("retry.initial_delay", raw.initial_delay, "1s")?;
    let max_delay = duration("retry.max_delay", raw.max_delay, "5m")?;
    if max_delay < initial_delay {
        return Err((
            "retry.max_delay",
            "must not be shorter than retry.initial_delay".into(),
        ));
    }
    Ok(RetryPolicy {
        max_attempts: positive("retry.max_attempts", raw.max_attempts, 5)?,
        initial_delay,
        multiplier,
        max_delay,
        jitter,
    })
}

fn dead_letter(name: &str, subject: Option<String>) -> Result<Option<String>, String> {
    match subject.as_deref() {
        None | Some("") => Ok(Some(format!("sluice.dlq.{name}"))),
        Some("none") => Ok(None),
        Some(subject) => subject::validate_literal(subject).map(|()| Some(subject.to_owned())),
    }
}

fn patterns(texts: Vec<String>) -> Result<Vec<SubjectPattern>, String> {
    texts.iter().map(|text| SubjectPattern::parse(text)).collect()
}

fn authorities(texts: Vec<String>) -> Result<Vec<AuthorityPattern>, String> {
    texts.iter().map(|text| AuthorityPattern::parse(text)).collect()
}

fn positive(key: &'static str, value: Option<i64>, default: u32) -> Result<NonZeroU32, KeyError> {
    let value = value.unwrap_or(i64::from(default));
    u32::try_from(value)
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| {
            (
                key,
                format!("expected a whole number from 1 to {}, found {value}", u32::MAX),
            )
        })
}

fn duration(key: &'static str, value: Option<String>, default: &str) -> Result<Duration, KeyError> {
    let text = value.as_deref().unwrap_or(default);
    let parsed = units::parse_duration(text).map_err(|msg| (key, msg))?;
    if parsed.is_zero() {
        return Err((key, "must be longer than zero".into()));
    }
    Ok(parsed)
}

fn size(key: &'static str, value: Option<String>, default: &str, minimum: u64) -> Result<u64, KeyError> {
    let text = value.as_deref().unwrap_or(default);
    let parsed = units::parse_size(text).map_err(|msg| (key, msg))?;
    if parsed < minimum {
        return Err((key, format!("`{text}` is below the minimum of {minimum} bytes")));
    }
    Ok(parsed)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
