//! What is waiting in the delay stream, for `sluice schedules`.

use async_nats::header::NATS_SCHEDULE;
use async_nats::jetstream::{self, stream};
use futures::TryStreamExt;

use sluice_protocol::delay::{HOLDER_PREFIX, STREAM};
use sluice_protocol::headers::DELAY_SUBJECT;

/// Most pending delayed events listed (the count is always complete).
pub const LISTED: usize = 1_000;

/// A delayed event that has not fired yet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PendingDelay {
    /// The function that scheduled it.
    pub function: String,
    /// Its id (what `cancel-scheduled` takes).
    pub id: String,
    /// The subject it is published to when it fires.
    pub subject: String,
    /// When it fires (RFC 3339).
    pub fires_at: String,
}

/// The pending delayed events (at most `LISTED`, by function and firing time) and how many
/// there are in all. None when the cluster has no delay stream.
pub async fn list(js: &jetstream::Context) -> Result<Option<(Vec<PendingDelay>, usize)>, async_nats::Error> {
    let stream = match js.get_stream(STREAM).await {
        Ok(stream) => stream,
        Err(error)
            if matches!(error.kind(), jetstream::context::GetStreamErrorKind::JetStream(cause)
                if cause.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(error.into()),
    };
    let holders: Vec<(String, usize)> = stream
        .info_with_subjects(format!("{HOLDER_PREFIX}>"))
        .await?
        .try_collect()
        .await?;
    let mut total = holders.len();
    let mut pending = Vec::new();
    for (holder, _) in holders {
        if pending.len() == LISTED {
            break;
        }
        match read(&stream, &holder).await? {
            Some(delay) => pending.push(delay),
            // A cancel marker (or a schedule that fired meanwhile).
            None => total -= 1,
        }
    }
    pending.sort_by(|a, b| (&a.function, &a.fires_at, &a.id).cmp(&(&b.function, &b.fires_at, &b.id)));
    Ok(Some((pending, total)))
}

/// The delayed event held on `holder`, unless what it holds is a cancel marker.
async fn read(stream: &stream::Stream, holder: &str) -> Result<Option<PendingDelay>, async_nats::Error> {
    let message = match stream.get_last_raw_message_by_subject(holder).await {
        Ok(message) => message,
        Err(error) if error.kind() == stream::LastRawMessageErrorKind::NoMessageFound => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let header = |name: &str| message.headers.get(name).map(|value| value.as_str().to_owned());
    let (Some(schedule), Some(subject)) = (header(NATS_SCHEDULE.as_ref()), header(DELAY_SUBJECT)) else {
        return Ok(None);
    };
    let Some((function, id)) = holder.trim_start_matches(HOLDER_PREFIX).rsplit_once('.') else {
        return Ok(None);
    };
    Ok(Some(PendingDelay {
        function: function.to_owned(),
        id: id.to_owned(),
        subject,
        fires_at: schedule.trim_start_matches("@at ").to_owned(),
    }))
}
