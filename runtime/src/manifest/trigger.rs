//! `[trigger]`: which subjects a function listens on, in which delivery mode (core NATS or a
//! JetStream consumer), in which queue group, and with which ordering.

use super::{KeyError, Schedule, SubjectPattern, patterns, raw};

/// Where an event's ordering key comes from (`trigger.key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `header:NAME`: the value of a header.
    Header(String),
    /// `json:/pointer`: the value at a JSON pointer into the payload.
    Json(String),
    /// `subject:N`: the N-th token of the subject, counting from 1.
    SubjectToken(usize),
}

impl KeySource {
    /// Parses a `trigger.key` value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected = "expected \"header:NAME\", \"json:/pointer\" or \"subject:N\"";
        match text.split_once(':') {
            Some(("header", name)) if !name.is_empty() => Ok(Self::Header(name.to_owned())),
            Some(("json", pointer)) if pointer.starts_with('/') => Ok(Self::Json(pointer.to_owned())),
            Some(("json", pointer)) => Err(format!(
                "{pointer:?} is not a JSON pointer (it starts with `/`, e.g. \"json:/order/id\")"
            )),
            Some(("subject", n)) => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Self::SubjectToken(n)),
                _ => Err(format!("{n:?} is not a token position (1 is the first token)")),
            },
            _ => Err(format!("{expected}, found {text:?}")),
        }
    }
}

/// How events reach the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryMode {
    /// Core NATS subscription: at-most-once; retries happen in the host's memory.
    Core,
    /// A durable JetStream pull consumer: at-least-once; retries are redeliveries.
    JetStream(JetStreamTrigger),
}

/// Where a JetStream function's events are stored and how its consumer is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetStreamTrigger {
    /// The stream holding the events (created, covering the subjects, if missing).
    pub stream: String,
    /// The durable consumer shared by every host running the function.
    pub consumer: String,
    /// Where a newly created consumer starts.
    pub deliver: DeliverFrom,
    /// `trigger.partitions`: per-key order across hosts. Events are routed by a hash of
    /// their key into this many partitions, each handled by one host at a time, one event
    /// at a time (see `dispatch::jetstream::partition`).
    pub partitions: Option<u16>,
}

/// The most partitions a function may have.
pub const MAX_PARTITIONS: u16 = 1024;

/// `trigger.deliver`: where a new consumer starts reading its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliverFrom {
    /// Every event still in the stream.
    All,
    /// Only events published after the consumer was created.
    New,
    /// Events published at or after this time.
    Time(time::OffsetDateTime),
    /// Events from this stream sequence on.
    Sequence(u64),
}

/// `[trigger]`: where the function's events come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// Subjects (wildcards allowed) the function subscribes to.
    pub subjects: Vec<SubjectPattern>,
    /// Delivery mode.
    pub mode: DeliveryMode,
    /// Queue group shared by every host running this function; `None` means every host
    /// gets every event.
    pub queue_group: Option<String>,
    /// `ordering = "per-key"`: where the key comes from. `None`: no ordering.
    pub ordering: Option<KeySource>,
    /// `trigger.schedule`: when the function also fires on its own (JetStream only).
    pub schedule: Option<Schedule>,
}

impl Trigger {
    /// `trigger.partitions` of a JetStream function.
    pub fn partitions(&self) -> Option<u16> {
        match &self.mode {
            DeliveryMode::JetStream(trigger) => trigger.partitions,
            DeliveryMode::Core => None,
        }
    }
}

/// Validates `[trigger]` of function `name`.
pub(super) fn trigger(name: &str, raw: raw::RawTrigger) -> Result<Trigger, KeyError> {
    let schedule = match &raw.schedule {
        Some(text) => Some(Schedule::parse(text, raw.time_zone.as_deref())?),
        None if raw.time_zone.is_some() => {
            return Err(("trigger.time_zone", "only applies with a trigger.schedule".into()));
        }
        None => None,
    };
    // A scheduled function listens on nothing else unless it says so.
    let default_subjects = match schedule {
        Some(_) => Vec::new(),
        None => vec![name.to_owned()],
    };
    let subjects = raw.subjects.clone().unwrap_or(default_subjects);
    if subjects.is_empty() && schedule.is_none() {
        return Err((
            "trigger.subjects",
            "needs at least one subject (or a trigger.schedule)".into(),
        ));
    }
    let subjects = patterns(subjects).map_err(|msg| ("trigger.subjects", msg))?;
    // Firings are kept in the function's stream: a scheduled function is a JetStream one.
    let default_mode = match schedule {
        Some(_) => "jetstream",
        None => "core",
    };
    let mode = match raw.mode.as_deref().unwrap_or(default_mode) {
        "core" => {
            if schedule.is_some() {
                return Err((
                    "trigger.schedule",
                    "needs mode = \"jetstream\" (firings are kept in the function's stream and delivered at least once); leave mode out or set it to \"jetstream\"".into(),
                ));
            }
            if raw.partitions.is_some() {
                return Err(("trigger.partitions", ONLY_JETSTREAM.into()));
            }
            for (key, value) in [
                ("trigger.stream", &raw.stream),
                ("trigger.consumer", &raw.consumer),
                ("trigger.deliver", &raw.deliver),
            ] {
                if value.is_some() {
                    return Err((key, ONLY_JETSTREAM.into()));
                }
            }
            DeliveryMode::Core
        }
        "jetstream" => DeliveryMode::JetStream(jetstream_trigger(name, &raw)?),
        other => {
            return Err((
                "trigger.mode",
                format!("expected \"core\" or \"jetstream\", found {other:?}"),
            ));
        }
    };
    if matches!(mode, DeliveryMode::JetStream(_)) && raw.queue_group.is_some() {
        return Err((
            "trigger.queue_group",
            "only applies to mode = \"core\"; JetStream hosts share the work through trigger.consumer".into(),
        ));
    }
    let queue_group = match raw.queue_group.as_deref() {
        None | Some("") => Some(format!("sluice-{name}")),
        Some("none") => None,
        Some(group) if group.contains(char::is_whitespace) || group.contains(['*', '>']) => {
            return Err((
                "trigger.queue_group",
                format!("{group:?} is not a valid queue group name"),
            ));
        }
        Some(group) => Some(group.to_owned()),
    };
    let ordering = ordering(raw.ordering.as_deref(), raw.key.as_deref())?;
    if let DeliveryMode::JetStream(JetStreamTrigger {
        partitions: Some(_), ..
    }) = &mode
        && ordering.is_none()
    {
        return Err((
            "trigger.partitions",
            "needs ordering = \"per-key\" and a trigger.key (partitions keep each key's order across hosts)"
                .into(),
        ));
    }
    if schedule.is_some() && raw.partitions.is_some() {
        return Err((
            "trigger.schedule",
            "cannot be combined with trigger.partitions".into(),
        ));
    }
    Ok(Trigger {
        subjects,
        mode,
        queue_group,
        ordering,
        schedule,
    })
}

const ONLY_JETSTREAM: &str = "only applies to mode = \"jetstream\"";

fn partitions(value: Option<i64>) -> Result<Option<u16>, KeyError> {
    match value {
        None => Ok(None),
        Some(n) if (1..=i64::from(MAX_PARTITIONS)).contains(&n) => Ok(Some(n as u16)),
        Some(n) => Err((
            "trigger.partitions",
            format!("expected a whole number from 1 to {MAX_PARTITIONS}, found {n}"),
        )),
    }
}

fn ordering(ordering: Option<&str>, key: Option<&str>) -> Result<Option<KeySource>, KeyError> {
    match (ordering.unwrap_or("none"), key) {
        ("none", None) => Ok(None),
        ("none", Some(_)) => Err(("trigger.key", "only applies to ordering = \"per-key\"".into())),
        ("per-key", Some(key)) => KeySource::parse(key)
            .map(Some)
            .map_err(|msg| ("trigger.key", msg)),
        ("per-key", None) => Err((
            "trigger.key",
            "ordering = \"per-key\" needs a key: \"header:NAME\", \"json:/pointer\" or \"subject:N\"".into(),
        )),
        (other, _) => Err((
            "trigger.ordering",
            format!("expected \"none\" or \"per-key\", found {other:?}"),
        )),
    }
}

fn jetstream_trigger(name: &str, raw: &raw::RawTrigger) -> Result<JetStreamTrigger, KeyError> {
    let stream = match raw.stream.as_deref() {
        None | Some("") => format!("SLUICE_{}", name.to_uppercase().replace('-', "_")),
        Some(stream) => stream.to_owned(),
    };
    if !is_jetstream_name(&stream) {
        return Err((
            "trigger.stream",
            format!("{stream:?} is not a valid stream name (letters, digits, `-` and `_`)"),
        ));
    }
    let consumer = match raw.consumer.as_deref() {
        None | Some("") => format!("sluice-{name}"),
        Some(consumer) => consumer.to_owned(),
    };
    if !is_jetstream_name(&consumer) {
        return Err((
            "trigger.consumer",
            format!("{consumer:?} is not a valid consumer name (letters, digits, `-` and `_`)"),
        ));
    }
    let deliver =
        deliver_from(raw.deliver.as_deref().unwrap_or("all")).map_err(|msg| ("trigger.deliver", msg))?;
    Ok(JetStreamTrigger {
        stream,
        consumer,
        deliver,
        partitions: partitions(raw.partitions)?,
    })
}

/// Whether `name` may name a stream, consumer or bucket (letters, digits, `-` and `_`).
pub(super) fn is_jetstream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn deliver_from(text: &str) -> Result<DeliverFrom, String> {
    let expected = "expected \"all\", \"new\", \"time:RFC3339\" or \"seq:N\"";
    match text {
        "all" => Ok(DeliverFrom::All),
        "new" => Ok(DeliverFrom::New),
        _ => {
            if let Some(at) = text.strip_prefix("time:") {
                time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                    .map(DeliverFrom::Time)
                    .map_err(|error| format!("{at:?} is not an RFC 3339 time: {error}"))
            } else if let Some(seq) = text.strip_prefix("seq:") {
                match seq.parse::<u64>() {
                    Ok(seq) if seq > 0 => Ok(DeliverFrom::Sequence(seq)),
                    _ => Err(format!(
                        "{seq:?} is not a stream sequence (a whole number from 1)"
                    )),
                }
            } else {
                Err(format!("{expected}, found {text:?}"))
            }
        }
    }
}
