//! Publishing follow-up events.

use serde::Serialize;

use crate::Error;

/// Publishes `payload` to `subject` once the current event succeeds.
///
/// Publishes are buffered (an outbox) and sent in order only if the handler returns `Ok`, so
/// a failed or retried attempt never publishes anything. The subject must match one of the
/// function's `permissions.publish` patterns or be the event's reply-to; otherwise the host
/// refuses and this returns a permanent [`Error`] with the host's reason.
pub fn publish(subject: &str, payload: impl AsRef<[u8]>) -> Result<(), Error> {
    publish_with_headers(subject, payload, &[])
}

/// Publishes `payload` to `subject` with extra headers once the current event succeeds.
///
/// Works like [`publish`]. The host adds the correlation id and `Nats-Msg-Id` headers itself.
pub fn publish_with_headers(
    subject: &str,
    payload: impl AsRef<[u8]>,
    headers: &[(&str, &str)],
) -> Result<(), Error> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|&(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    crate::host::publish(subject, payload.as_ref(), &headers).map_err(Error::permanent)
}

/// Serializes `value` as JSON and publishes it to `subject` with
/// `content-type: application/json`.
///
/// Works like [`publish`]. A value that cannot be serialized (a map with non-string keys,
/// say) is a bug that retrying cannot fix, so it gives a permanent error.
pub fn publish_json<T: Serialize + ?Sized>(subject: &str, value: &T) -> Result<(), Error> {
    let payload = serde_json::to_vec(value).map_err(|e| {
        Error::permanent(format!(
            "cannot serialize {} as JSON for {subject}: {e}",
            std::any::type_name::<T>()
        ))
    })?;
    publish_with_headers(subject, payload, &[("content-type", "application/json")])
}
