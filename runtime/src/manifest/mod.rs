//! Function manifests (`NAME.toml`): parsed strictly, then validated into typed settings.
//!
//! Parsing happens in two stages, as in ripgrep's flags: [`raw`] mirrors the file and rejects
//! unknown keys; [`Manifest::parse`] turns each value into its typed form and names the key
//! and the expectation when a value is wrong. Nothing here touches the network or the disk
//! except [`Manifest::from_file`] reading the file.

mod raw;
pub mod subject;
pub mod units;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::retry::{Jitter, RetryPolicy};
use raw::RawManifest;
pub use subject::SubjectPattern;

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

/// How events reach the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// Core NATS subscription: at-most-once; retries happen in the host's memory.
    Core,
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
}

/// `[limits]`: what one invocation, and the function as a whole, may use.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Events of this function in flight on this host at once.
    pub max_concurrency: NonZeroU32,
    /// Events received but waiting for a free slot; beyond this they are dropped and counted.
    pub max_pending: NonZeroU32,
    /// Wall-clock limit of one attempt.
    pub timeout: Duration,
    /// Linear memory one instance may grow to, in bytes.
    pub memory: u64,
    /// Largest payload handed to the function, in bytes; larger ones are dead-lettered.
    pub max_payload: u64,
    /// Events one instance may serve one after another (1 = a fresh instance per event).
    pub events_per_instance: NonZeroU32,
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
    /// Subject patterns the function may publish to.
    pub publish: Vec<SubjectPattern>,
    /// The `[config]` table, readable by the function.
    pub config: BTreeMap<String, String>,
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
        Ok(Manifest {
            trigger: trigger(name, raw.trigger).map_err(|(key, msg)| invalid(key, msg))?,
            limits: limits(raw.limits).map_err(|(key, msg)| invalid(key, msg))?,
            retry: retry(raw.retry).map_err(|(key, msg)| invalid(key, msg))?,
            dead_letter: dead_letter(name, raw.dead_letter.subject)
                .map_err(|msg| invalid("dead_letter.subject", msg))?,
            publish: patterns(raw.permissions.publish.unwrap_or_default())
                .map_err(|msg| invalid("permissions.publish", msg))?,
            config: raw.config,
        })
    }

    /// Whether this function may publish to `subject` (its event's reply-to aside).
    pub fn may_publish(&self, subject: &str) -> bool {
        self.publish.iter().any(|pattern| pattern.matches(subject))
    }
}

/// A validation failure: the dotted key and what was expected.
type KeyError = (&'static str, String);

fn trigger(name: &str, raw: raw::RawTrigger) -> Result<Trigger, KeyError> {
    let subjects = raw.subjects.unwrap_or_else(|| vec![name.to_owned()]);
    if subjects.is_empty() {
        return Err(("trigger.subjects", "needs at least one subject".into()));
    }
    let subjects = patterns(subjects).map_err(|msg| ("trigger.subjects", msg))?;
    let mode = match raw.mode.as_deref().unwrap_or("core") {
        "core" => DeliveryMode::Core,
        "jetstream" => {
            return Err((
                "trigger.mode",
                "\"jetstream\" (at-least-once) is not available in this version; use \"core\"".into(),
            ));
        }
        other => {
            return Err((
                "trigger.mode",
                format!("expected \"core\" or \"jetstream\", found {other:?}"),
            ));
        }
    };
    for (key, value) in [
        ("trigger.stream", &raw.stream),
        ("trigger.consumer", &raw.consumer),
        ("trigger.deliver", &raw.deliver),
    ] {
        if value.is_some() {
            return Err((key, "only applies to mode = \"jetstream\"".into()));
        }
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
    Ok(Trigger {
        subjects,
        mode,
        queue_group,
    })
}

fn limits(raw: raw::RawLimits) -> Result<Limits, KeyError> {
    Ok(Limits {
        max_concurrency: positive("limits.max_concurrency", raw.max_concurrency, 16)?,
        max_pending: positive("limits.max_pending", raw.max_pending, 10_000)?,
        timeout: duration("limits.timeout", raw.timeout, "30s")?,
        memory: size("limits.memory", raw.memory, "64MiB", 64 << 10)?,
        max_payload: size("limits.max_payload", raw.max_payload, "1MiB", 1)?,
        events_per_instance: positive("limits.events_per_instance", raw.events_per_instance, 1)?,
    })
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
