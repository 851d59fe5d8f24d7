//! Delayed events: publishing an event that happens later (a saga's payment timeout, a
//! reminder), and cancelling it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::Error;

/// Publishes `payload` to `subject` `delay` from now (between 1 second and 30 days), once the
/// current event succeeds; returns the delayed event's id, for [`cancel_scheduled`].
///
/// Like [`publish`](crate::publish) it goes through the outbox: a failed or retried attempt
/// schedules nothing, and `subject` must match `permissions.publish`. The event is kept in
/// the cluster's delay stream (nats-server 2.12 or newer, with JetStream), so it survives a
/// restart of any host and fires once for the whole fleet, carrying the headers a publish
/// would (correlation id, causation id, `traceparent`). The id is the same on every retry of
/// the event. A refusal (a denied subject, a delay out of range, a host without a delay
/// stream) is a permanent [`Error`] with the host's reason.
///
/// ```no_run
/// # use std::time::Duration;
/// # fn handle() -> Result<(), sluice_sdk::Error> {
/// let timeout = sluice_sdk::publish_after("payments.timeout", b"o-1", Duration::from_secs(30))?;
/// // Keep `timeout` (in a key-value bucket, say) to cancel it when the payment answers.
/// # Ok(()) }
/// ```
pub fn publish_after(subject: &str, payload: impl AsRef<[u8]>, delay: Duration) -> Result<String, Error> {
    // Beyond u32 milliseconds (49 days) is past the longest delay anyway; the host says so.
    let delay_ms = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
    crate::host::publish_after(subject, payload.as_ref(), &[], delay_ms).map_err(Error::permanent)
}

/// Publishes `payload` to `subject` at `at` (between 1 second and 30 days from now), once
/// the current event succeeds. Works like [`publish_after`].
pub fn publish_at(subject: &str, payload: impl AsRef<[u8]>, at: SystemTime) -> Result<String, Error> {
    let unix_ms = at
        .duration_since(UNIX_EPOCH)
        .map(|since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    crate::host::publish_at(subject, payload.as_ref(), &[], unix_ms).map_err(Error::permanent)
}

/// Serializes `value` as JSON and publishes it to `subject` `delay` from now, with
/// `content-type: application/json`. Works like [`publish_after`].
pub fn publish_json_after<T: Serialize + ?Sized>(
    subject: &str,
    value: &T,
    delay: Duration,
) -> Result<String, Error> {
    let payload = serde_json::to_vec(value).map_err(|e| {
        Error::permanent(format!(
            "cannot serialize {} as JSON for {subject}: {e}",
            std::any::type_name::<T>()
        ))
    })?;
    let headers = [("content-type".to_owned(), "application/json".to_owned())];
    let delay_ms = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
    crate::host::publish_after(subject, &payload, &headers, delay_ms).map_err(Error::permanent)
}

/// Cancels the delayed event `id` (one this function scheduled) once the current event
/// succeeds. Cancelling one that already fired or was cancelled does nothing; an `id` that
/// is not a delayed event's id is a permanent [`Error`].
pub fn cancel_scheduled(id: &str) -> Result<(), Error> {
    crate::host::cancel_scheduled(id).map_err(Error::permanent)
}
