//! Reading an account's events back from the `BANK_EVENTS` stream, through the JetStream
//! API's message-get requests (`permissions.request` allows exactly that subject).

use std::time::Duration;

use bank_ledger::{AccountEvent, EVENT_STREAM, events_subject};
use base64::Engine;
use serde::Deserialize;
use sluice_sdk::Error;

/// The JetStream API subject that gets one message of the stream.
pub const MESSAGE_GET: &str = "$JS.API.STREAM.MSG.GET.BANK_EVENTS";
const TIMEOUT: Duration = Duration::from_secs(2);
/// JetStream's error code for "no message found".
const NO_MESSAGE: u32 = 10037;

#[derive(Deserialize)]
struct Answer {
    message: Option<Stored>,
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct Stored {
    seq: u64,
    #[serde(default)]
    data: String,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    err_code: u32,
    #[serde(default)]
    description: String,
}

/// The first event of `account` at stream sequence `from` or later, with its stream
/// sequence; `None` when there is none.
pub fn next_event(account: &str, from: u64) -> Result<Option<(u64, AccountEvent)>, Error> {
    let request = serde_json::json!({"seq": from, "next_by_subj": events_subject(account)});
    let Some(stored) = get(&request)? else {
        return Ok(None);
    };
    let payload = base64::engine::general_purpose::STANDARD
        .decode(&stored.data)
        .map_err(|error| Error::permanent(format!("{EVENT_STREAM} message {}: {error}", stored.seq)))?;
    let event = serde_json::from_slice(&payload).map_err(|error| {
        Error::permanent(format!(
            "{EVENT_STREAM} message {} is not an account event: {error}",
            stored.seq
        ))
    })?;
    Ok(Some((stored.seq, event)))
}

/// The stream sequence of the last event of `account` the stream holds, 0 if none.
pub fn last_position(account: &str) -> Result<u64, Error> {
    let request = serde_json::json!({"last_by_subj": events_subject(account)});
    Ok(get(&request)?.map_or(0, |stored| stored.seq))
}

fn get(request: &serde_json::Value) -> Result<Option<Stored>, Error> {
    let reply = sluice_sdk::request(MESSAGE_GET, request.to_string(), TIMEOUT)?;
    let answer: Answer = reply.json()?;
    match (answer.message, answer.error) {
        (Some(stored), _) => Ok(Some(stored)),
        (None, Some(error)) if error.err_code == NO_MESSAGE => Ok(None),
        (None, Some(error)) => Err(Error::retryable(format!(
            "event store {EVENT_STREAM}: {} (code {})",
            error.description, error.err_code
        ))),
        (None, None) => Err(Error::retryable(format!(
            "event store {EVENT_STREAM} gave an empty answer to {request}"
        ))),
    }
}
