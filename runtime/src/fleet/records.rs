//! Operational records kept beside the desired states in the functions bucket: a function
//! paused fleet-wide (`pause.NAME`) and a host asked to drain (`drain.HOST`). Function names
//! have no dots, so these keys never clash with a function's, and deployers and hosts need
//! no permission beyond the ones the desired state already takes.

use std::collections::BTreeMap;

use async_nats::jetstream::kv;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::desired::DesiredState;

/// Key prefix of a paused function's record.
pub const PAUSE_PREFIX: &str = "pause.";

/// Key prefix of a drain request.
pub const DRAIN_PREFIX: &str = "drain.";

/// Key prefix of a function's shadow version.
pub const SHADOW_PREFIX: &str = "shadow.";

/// What a key of the functions bucket names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// A function's desired state, by function name.
    Function(&'a str),
    /// A function's pause, by function name.
    Pause(&'a str),
    /// A drain request, by host id.
    Drain(&'a str),
    /// A function's shadow version, by function name.
    Shadow(&'a str),
}

impl<'a> Record<'a> {
    /// What `key` names.
    pub fn of(key: &'a str) -> Self {
        if let Some(name) = key.strip_prefix(PAUSE_PREFIX) {
            Record::Pause(name)
        } else if let Some(host) = key.strip_prefix(DRAIN_PREFIX) {
            Record::Drain(host)
        } else if let Some(name) = key.strip_prefix(SHADOW_PREFIX) {
            Record::Shadow(name)
        } else {
            Record::Function(key)
        }
    }
}

/// The key of function `name`'s pause.
pub fn pause_key(name: &str) -> String {
    format!("{PAUSE_PREFIX}{name}")
}

/// The key of a drain request for host `host`.
pub fn drain_key(host: &str) -> String {
    format!("{DRAIN_PREFIX}{host}")
}

/// The key of function `name`'s shadow version.
pub fn shadow_key(name: &str) -> String {
    format!("{SHADOW_PREFIX}{name}")
}

/// A candidate version shadowing a function on every host (`sluice deploy --shadow`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowRecord {
    /// The candidate, as a deploy would make it the desired state (`sluice promote` does).
    pub candidate: DesiredState,
    /// The share of events shadowed, 0 to 1.
    pub sample: f64,
    /// Hosts the candidate may send HTTP requests to (`host[:port]` patterns).
    #[serde(default)]
    pub http: Vec<String>,
}

/// A function paused on every host (`sluice pause`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// The function.
    pub name: String,
    /// Until when (RFC 3339); `None` until `sluice resume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Who paused it.
    pub paused_by: String,
    /// When, in RFC 3339.
    pub paused_at: String,
}

impl Pause {
    /// When the pause ends by itself, if it does (an unreadable time never ends it).
    pub fn until_time(&self) -> Option<OffsetDateTime> {
        self.until
            .as_deref()
            .and_then(|until| OffsetDateTime::parse(until, &Rfc3339).ok())
    }

    /// Whether the function is paused at `now`.
    pub fn in_force(&self, now: OffsetDateTime) -> bool {
        self.until_time().is_none_or(|until| now < until)
    }
}

/// A host asked to stop taking events (`sluice drain`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drain {
    /// The host's id.
    pub host: String,
    /// The `started_at` of the host process it applies to: the same host id started again
    /// later serves as usual.
    pub started_at: String,
    /// Stay up, idle, instead of exiting once drained.
    pub stay: bool,
    /// Who asked.
    pub by: String,
    /// When, in RFC 3339.
    pub at: String,
}

/// A record's JSON value.
pub fn to_json(record: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(record).expect("a fleet record serializes")
}

/// Everything the functions bucket holds now.
#[derive(Debug, Clone, Default)]
pub struct Records {
    /// Desired states, by function name.
    pub functions: Vec<DesiredState>,
    /// Pauses, by function name.
    pub pauses: BTreeMap<String, Pause>,
    /// Drain requests, by host id.
    pub drains: BTreeMap<String, Drain>,
    /// Shadow versions, by function name.
    pub shadows: BTreeMap<String, ShadowRecord>,
}

/// Reads every record of the functions bucket `store`.
pub async fn read_all(store: &kv::Store) -> anyhow::Result<Records> {
    let keys: Vec<String> = store.keys().await?.try_collect().await?;
    let mut records = Records::default();
    for key in keys {
        let Some(value) = store.get(key.as_str()).await? else {
            continue;
        };
        match Record::of(&key) {
            Record::Function(_) => records.functions.push(DesiredState::from_json(&value)?),
            Record::Pause(name) => {
                records
                    .pauses
                    .insert(name.to_owned(), serde_json::from_slice(&value)?);
            }
            Record::Drain(host) => {
                records
                    .drains
                    .insert(host.to_owned(), serde_json::from_slice(&value)?);
            }
            Record::Shadow(name) => {
                records
                    .shadows
                    .insert(name.to_owned(), serde_json::from_slice(&value)?);
            }
        }
    }
    records.functions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_what_they_hold() {
        assert_eq!(Record::of("order-total"), Record::Function("order-total"));
        assert_eq!(
            Record::of(&pause_key("order-total")),
            Record::Pause("order-total")
        );
        assert_eq!(Record::of(&drain_key("host.a-1")), Record::Drain("host.a-1"));
        assert_eq!(
            Record::of(&shadow_key("order-total")),
            Record::Shadow("order-total")
        );
    }

    #[test]
    fn a_pause_ends_at_its_time() {
        let now = OffsetDateTime::now_utc();
        let mut pause = Pause {
            name: "f".into(),
            until: None,
            paused_by: "ana@laptop".into(),
            paused_at: "2026-12-03T00:00:00Z".into(),
        };
        assert!(pause.in_force(now));
        pause.until = Some("2026-12-03T00:00:00Z".into());
        assert!(!pause.in_force(now));
        pause.until = (now + time::Duration::hours(1)).format(&Rfc3339).ok();
        assert!(pause.in_force(now));
    }
}
