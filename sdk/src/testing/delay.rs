//! Delayed publishes in a [`TestHost`](super::TestHost) run: recorded, not sent, with the
//! host's rules (delay range, `permissions.publish`, id format).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sluice_protocol::delay;

use super::{Run, with_run};

/// A delayed publish a handler made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    /// The id `publish_after` returned (made as the host makes it, with function name `test`).
    pub id: String,
    /// The subject it is published to when it fires.
    pub subject: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// The headers the handler set.
    pub headers: Vec<(String, String)>,
    /// When it fires.
    pub fires: Fires,
}

/// When a delayed publish fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fires {
    /// This long after the handler ran (`publish_after`).
    After(Duration),
    /// At this time (`publish_at`).
    At(SystemTime),
}

impl Scheduled {
    /// The delay it was scheduled with: `publish_after`'s, or from now to `publish_at`'s time.
    pub fn delay(&self) -> Duration {
        match self.fires {
            Fires::After(delay) => delay,
            Fires::At(at) => at.duration_since(SystemTime::now()).unwrap_or_default(),
        }
    }
}

pub(crate) fn publish_after(
    subject: &str,
    payload: &[u8],
    headers: &[(String, String)],
    delay_ms: u32,
) -> Result<String, String> {
    let delay = Duration::from_millis(delay_ms.into());
    delay::check_delay(delay)?;
    with_run("publish_after", |run| {
        record(run, subject, payload, headers, Fires::After(delay))
    })
}

pub(crate) fn publish_at(
    subject: &str,
    payload: &[u8],
    headers: &[(String, String)],
    unix_ms: u64,
) -> Result<String, String> {
    let at = UNIX_EPOCH + Duration::from_millis(unix_ms);
    let delay = at.duration_since(SystemTime::now()).unwrap_or_default();
    delay::check_delay(delay)
        .map_err(|_| format!("cannot schedule an event at {unix_ms} ms since 1970: delayed events fire between 1 second and 30 days from now"))?;
    with_run("publish_at", |run| {
        record(run, subject, payload, headers, Fires::At(at))
    })
}

pub(crate) fn cancel_scheduled(id: &str) -> Result<(), String> {
    delay::check_id(id)?;
    with_run("cancel_scheduled", |run| {
        run.cancelled.push(id.to_owned());
        Ok(())
    })
}

fn record(
    run: &mut Run,
    subject: &str,
    payload: &[u8],
    headers: &[(String, String)],
    fires: Fires,
) -> Result<String, String> {
    if run.batch.as_ref().is_some_and(|batch| batch.current.is_none()) {
        return Err(format!(
            "cannot publish to `{subject}`: in a batch handler, publish inside Batch::each"
        ));
    }
    if let Some(allowed) = &run.host.allowed
        && !allowed.iter().any(|pattern| pattern.matches(subject))
    {
        return Err(format!(
            "publish to `{subject}` denied: not in permissions.publish"
        ));
    }
    let sequence = run.outbox.len() + run.scheduled.len() + run.cancelled.len() + 1;
    let id = delay::id("test", &run.event_id, sequence);
    run.scheduled.push(Scheduled {
        id: id.clone(),
        subject: subject.to_owned(),
        payload: payload.to_vec(),
        headers: headers.to_vec(),
        fires,
    });
    Ok(id)
}
