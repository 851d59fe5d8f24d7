//! A scheduled function's schedule, kept as a NATS message schedule in the function's own
//! stream: one message on `sluice.schedules.<function>` whose headers say when the server
//! fires it and where (`sluice.ticks.<function>`, in the same stream, which the function's
//! consumer reads). The stream's leader fires it, so each firing is stored once per cluster
//! whichever hosts are up, and delivered to one host through the consumer, at least once.
//!
//! Every host that deploys the function writes the schedule only when the stored one differs
//! (compare-and-set on the subject's last sequence), so a fleet converging on one version
//! does not restart the schedule's timer once per host. Undeploying purges it.

use async_nats::HeaderMap;
use async_nats::header::{
    NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_SCHEDULE, NATS_SCHEDULE_NEXT, NATS_SCHEDULE_TARGET,
    NATS_SCHEDULE_TIME_ZONE,
};
use async_nats::jetstream::{self, stream};
use futures::TryStreamExt;

use sluice_protocol::subject::{SCHEDULE_HOLDER_PREFIX as HOLDER_PREFIX, SCHEDULE_TICKS_PREFIX};

use super::{SetupError, covers};
use crate::manifest::Schedule;

/// Where a function's schedule is kept and where its firings land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSubjects {
    /// The subject holding the schedule message (`sluice.schedules.<function>`).
    pub holder: String,
    /// The subject firings are stored on (`sluice.ticks.<function>`): the events the
    /// function handles.
    pub target: String,
}

impl ScheduleSubjects {
    /// The subjects of function `function`'s schedule.
    pub fn of(function: &str) -> Self {
        Self {
            holder: format!("{HOLDER_PREFIX}{function}"),
            target: format!("{SCHEDULE_TICKS_PREFIX}{function}"),
        }
    }
}

/// Updates an existing stream, if it must, so it keeps `schedule` and its firings: message
/// schedules allowed (which a stream cannot undo) and both subjects captured. Returns the
/// stream's subjects.
pub(super) async fn keep_schedules(
    js: &jetstream::Context,
    function: &str,
    mut config: stream::Config,
    schedule: &ScheduleSubjects,
) -> Result<Vec<String>, SetupError> {
    let missing: Vec<String> = [&schedule.holder, &schedule.target]
        .into_iter()
        .filter(|subject| !config.subjects.iter().any(|s| covers(s, subject)))
        .cloned()
        .collect();
    if config.allow_message_schedules && missing.is_empty() {
        return Ok(config.subjects);
    }
    config.allow_message_schedules = true;
    config.subjects.extend(missing);
    let name = config.name.clone();
    let info = js
        .update_stream(config)
        .await
        .map_err(|e| SetupError::new(function, format!("stream `{name}` (to keep the schedule)"), e))?;
    tracing::info!(function, stream = %name, "stream now keeps the function's schedule and its firings");
    Ok(info.config.subjects)
}

/// Fails on a server that cannot fire `schedule`, naming the version connected.
pub fn require_server(
    js: &jetstream::Context,
    function: &str,
    schedule: &Schedule,
) -> Result<(), SetupError> {
    let (major, minor) = schedule.needs_server();
    match crate::nats::older_than(&js.client(), (major, minor)) {
        Some(connected) => Err(SetupError::new(
            function,
            "trigger.schedule",
            format!(
                "`{}` needs nats-server {major}.{minor} or newer (message schedules); connected to {connected}",
                schedule.header()
            ),
        )),
        None => Ok(()),
    }
}

/// Makes the stored schedule of `function` in `stream_name` match `schedule`: written when
/// missing or different, purged when the function has none (any more).
pub async fn apply(
    js: &jetstream::Context,
    function: &str,
    stream_name: &str,
    schedule: Option<&Schedule>,
) -> Result<(), SetupError> {
    let what = || "trigger.schedule".to_owned();
    let subjects = ScheduleSubjects::of(function);
    let stream = js
        .get_stream(stream_name)
        .await
        .map_err(|e| SetupError::new(function, what(), e))?;
    let Some(schedule) = schedule else {
        if stream.cached_info().config.allow_message_schedules {
            remove_from(&stream, function).await;
        }
        return Ok(());
    };
    // Two tries: a host that lost the compare-and-set to another reads what that one wrote.
    for _ in 0..2 {
        let last = match stream.get_last_raw_message_by_subject(&subjects.holder).await {
            Ok(message) if is_same(&message.headers, schedule) => return Ok(()),
            Ok(message) => message.sequence,
            Err(error) if error.kind() == stream::LastRawMessageErrorKind::NoMessageFound => 0,
            Err(error) => return Err(SetupError::new(function, what(), error)),
        };
        match write(js, function, &subjects, schedule, last).await {
            Ok(()) => {
                tracing::info!(function, schedule = %schedule.header(), time_zone = schedule.time_zone.as_deref(), target = %subjects.target, "schedule set");
                return Ok(());
            }
            Err(message) if message.contains("wrong last sequence") => continue,
            Err(message) => return Err(SetupError::new(function, what(), message)),
        }
    }
    Err(SetupError::new(
        function,
        what(),
        "another host kept replacing the schedule; deploy again",
    ))
}

/// Whether the stored schedule message says what `schedule` says.
fn is_same(headers: &HeaderMap, schedule: &Schedule) -> bool {
    let value = |name| headers.get(name).map(|value| value.as_str());
    value(NATS_SCHEDULE) == Some(schedule.header().as_str())
        && value(NATS_SCHEDULE_TIME_ZONE) == schedule.time_zone.as_deref()
}

/// Publishes the schedule message if the holder's last sequence is still `last`.
async fn write(
    js: &jetstream::Context,
    function: &str,
    subjects: &ScheduleSubjects,
    schedule: &Schedule,
    last: u64,
) -> Result<(), String> {
    let mut headers = HeaderMap::new();
    headers.insert(NATS_SCHEDULE, schedule.header());
    headers.insert(NATS_SCHEDULE_TARGET, subjects.target.as_str());
    if let Some(zone) = &schedule.time_zone {
        headers.insert(NATS_SCHEDULE_TIME_ZONE, zone.as_str());
    }
    headers.insert(NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, last.to_string());
    let body = serde_json::json!({
        "function": function,
        "schedule": schedule.header(),
        "time_zone": schedule.time_zone,
    });
    js.publish_with_headers(subjects.holder.clone(), headers, body.to_string().into())
        .await
        .map_err(|error| error.to_string())?
        .await
        .map(|_| ())
        .map_err(|error| error.to_string())
}

/// Removes the schedule of `function` from `stream_name`, if it has one: nothing fires any
/// more (firings already stored are still delivered). Failures are logged, not returned:
/// the function is gone either way.
pub async fn remove(js: &jetstream::Context, function: &str, stream_name: &str) {
    match js.get_stream(stream_name).await {
        Ok(stream) if stream.cached_info().config.allow_message_schedules => {
            remove_from(&stream, function).await;
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(
            function,
            stream = stream_name,
            "cannot remove the schedule: {error}"
        ),
    }
}

async fn remove_from(stream: &stream::Stream, function: &str) {
    let holder = ScheduleSubjects::of(function).holder;
    match stream.purge().filter(holder.as_str()).await {
        Ok(purged) if purged.purged > 0 => tracing::info!(function, "schedule removed"),
        Ok(_) => {}
        Err(error) => tracing::warn!(function, "cannot remove the schedule: {error}"),
    }
}

/// One function's schedule as its stream keeps it, for `sluice schedules`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredSchedule {
    /// The function it fires.
    pub function: String,
    /// The stream keeping it.
    pub stream: String,
    /// The `Nats-Schedule` expression.
    pub schedule: String,
    /// Its time zone, for cron.
    pub time_zone: Option<String>,
    /// When it last fired (RFC 3339), if a firing is still in the stream.
    pub last_fired: Option<String>,
    /// When it fires next, as the server said at the last firing (or the `@at` time).
    pub next: Option<String>,
}

/// Every schedule kept in a stream that allows message schedules, by stream and function.
pub async fn list(js: &jetstream::Context) -> Result<Vec<StoredSchedule>, async_nats::Error> {
    let streams: Vec<stream::Info> = js.streams().try_collect().await?;
    let mut found = Vec::new();
    for info in streams
        .into_iter()
        .filter(|info| info.config.allow_message_schedules)
    {
        let stream = js.get_stream(&info.config.name).await?;
        let holders: Vec<(String, usize)> = stream
            .info_with_subjects(format!("{HOLDER_PREFIX}>"))
            .await?
            .try_collect()
            .await?;
        for (holder, _) in holders {
            let function = holder.trim_start_matches(HOLDER_PREFIX).to_owned();
            if let Some(entry) = stored(&stream, &info.config.name, &function).await? {
                found.push(entry);
            }
        }
    }
    found.sort_by(|a, b| (&a.stream, &a.function).cmp(&(&b.stream, &b.function)));
    Ok(found)
}

/// The schedule of `function` in `stream` with its latest firing, if it still has one.
async fn stored(
    stream: &stream::Stream,
    stream_name: &str,
    function: &str,
) -> Result<Option<StoredSchedule>, async_nats::Error> {
    let subjects = ScheduleSubjects::of(function);
    let schedule = match stream.get_last_raw_message_by_subject(&subjects.holder).await {
        Ok(message) => message,
        Err(error) if error.kind() == stream::LastRawMessageErrorKind::NoMessageFound => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let header = |headers: &HeaderMap, name| headers.get(name).map(|value| value.as_str().to_owned());
    let expression = header(&schedule.headers, NATS_SCHEDULE).unwrap_or_default();
    let (last_fired, next) = match stream.get_last_raw_message_by_subject(&subjects.target).await {
        Ok(firing) => (
            firing
                .time
                .format(&time::format_description::well_known::Rfc3339)
                .ok(),
            header(&firing.headers, NATS_SCHEDULE_NEXT),
        ),
        Err(error) if error.kind() == stream::LastRawMessageErrorKind::NoMessageFound => (None, None),
        Err(error) => return Err(error.into()),
    };
    // An @at schedule not yet fired says when it will.
    let next = next.or_else(|| expression.strip_prefix("@at ").map(str::to_owned));
    Ok(Some(StoredSchedule {
        function: function.to_owned(),
        stream: stream_name.to_owned(),
        schedule: expression,
        time_zone: header(&schedule.headers, NATS_SCHEDULE_TIME_ZONE),
        last_fired,
        next,
    }))
}
