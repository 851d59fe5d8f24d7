//! The manifest exactly as written: serde structs that reject unknown keys. Validation into
//! typed values happens in the parent module.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A whole `NAME.toml` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    #[serde(default)]
    pub trigger: RawTrigger,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub retry: RawRetry,
    #[serde(default)]
    pub dead_letter: RawDeadLetter,
    #[serde(default)]
    pub permissions: RawPermissions,
    #[serde(default)]
    pub delivery: RawDelivery,
    #[serde(default)]
    pub dedupe: RawDedupe,
    #[serde(default)]
    pub circuit_breaker: RawCircuitBreaker,
    #[serde(default)]
    pub state: RawState,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    pub schema: Option<RawSchema>,
    pub batch: Option<RawBatch>,
}

/// `[trigger]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrigger {
    pub subjects: Option<Vec<String>>,
    pub mode: Option<String>,
    pub stream: Option<String>,
    pub consumer: Option<String>,
    pub queue_group: Option<String>,
    pub deliver: Option<String>,
    pub ordering: Option<String>,
    pub key: Option<String>,
    pub partitions: Option<i64>,
    pub schedule: Option<String>,
    pub time_zone: Option<String>,
}

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_concurrency: Option<i64>,
    pub max_pending: Option<i64>,
    pub max_pending_bytes: Option<String>,
    pub max_in_flight: Option<i64>,
    pub timeout: Option<String>,
    pub memory: Option<String>,
    pub max_payload: Option<String>,
    pub events_per_instance: Option<i64>,
    pub http_timeout: Option<String>,
    pub max_http_response: Option<String>,
    pub log_lines_per_second: Option<i64>,
}

/// `[retry]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub max_attempts: Option<i64>,
    pub initial_delay: Option<String>,
    pub multiplier: Option<f64>,
    pub max_delay: Option<String>,
    pub jitter: Option<String>,
}

/// `[dead_letter]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeadLetter {
    pub subject: Option<String>,
    pub transcript: Option<bool>,
}

/// `[permissions]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPermissions {
    pub publish: Option<Vec<String>>,
    pub http: Option<Vec<String>>,
    pub request: Option<Vec<String>>,
}

/// `[state]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub buckets: Option<Vec<String>>,
}

/// `[delivery]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelivery {
    pub max_event_age: Option<String>,
    pub ack_wait: Option<String>,
}

/// `[dedupe]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDedupe {
    pub window: Option<String>,
}

/// `[circuit_breaker]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCircuitBreaker {
    pub failures: Option<i64>,
    pub cool_down: Option<String>,
    pub max_cool_down: Option<String>,
}

/// `[schema]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchema {
    pub file: Option<String>,
    pub versions: Option<BTreeMap<String, String>>,
    pub version_from: Option<String>,
    pub default_version: Option<String>,
    pub publishes: Option<BTreeMap<String, String>>,
}

/// `[batch]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBatch {
    pub max_events: Option<i64>,
    pub max_wait: Option<String>,
}
