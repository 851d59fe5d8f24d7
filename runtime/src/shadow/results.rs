//! Shadow results in JetStream: one message per shadowed event on `sluice.shadow.NAME`, and
//! what `sluice shadow report` makes of them.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::compare::{Observed, Verdict, compare};
use crate::event::Event;

/// The stream keeping shadow results.
pub const STREAM: &str = "SLUICE_SHADOW";

/// How long results are kept.
const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// Most results kept per function (the oldest go first).
const PER_FUNCTION: i64 = 100_000;

/// The subject of `function`'s results.
pub fn subject(function: &str) -> String {
    format!("sluice.shadow.{function}")
}

/// How one shadowed event compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowResult {
    /// The event's id.
    pub event_id: String,
    /// Its subject.
    pub subject: String,
    /// The candidate's version.
    pub candidate_version: String,
    /// How the two compare.
    pub verdict: Verdict,
    /// The live attempt's outcome.
    pub live: Observed,
    /// The candidate's.
    pub candidate: Observed,
    /// Which shadow (one per host and start) stored it.
    #[serde(default)]
    pub shadow: String,
    /// How many sampled events that shadow had skipped so far (its instances were busy).
    #[serde(default)]
    pub skipped: u64,
}

impl ShadowResult {
    /// The comparison of `live` and `candidate` (of `version`) on `event`.
    pub fn new(event: &Event, version: &str, live: Observed, candidate: Observed) -> Self {
        Self {
            event_id: event.id.clone(),
            subject: event.subject.clone(),
            candidate_version: version.to_owned(),
            verdict: compare(&live, &candidate),
            live,
            candidate,
            shadow: String::new(),
            skipped: 0,
        }
    }
}

/// Makes sure [`STREAM`] exists.
pub async fn ensure_stream(js: &jetstream::Context) -> Result<(), String> {
    let config = stream::Config {
        name: STREAM.to_owned(),
        subjects: vec!["sluice.shadow.>".to_owned()],
        description: Some("how shadow versions compared with live ones; see `sluice shadow report`".into()),
        max_age: KEEP,
        max_messages_per_subject: PER_FUNCTION,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map(|_| ())
        .map_err(|error| format!("shadow results stream `{STREAM}`: {error}"))
}

/// Stores `result` for `function`.
pub async fn store(js: &jetstream::Context, function: &str, result: &ShadowResult) -> Result<(), String> {
    let body = serde_json::to_vec(result).map_err(|error| error.to_string())?;
    let ack = js
        .publish(subject(function), body.into())
        .await
        .map_err(|error| error.to_string())?;
    ack.await.map(|_| ()).map_err(|error| error.to_string())
}

/// `function`'s stored results, oldest first: all of them, or those of candidate `version`.
pub async fn read(
    js: &jetstream::Context,
    function: &str,
    version: Option<&str>,
) -> Result<Vec<ShadowResult>, String> {
    let failed = |error: &dyn std::fmt::Display| format!("shadow results of {function}: {error}");
    let stream = js.get_stream(STREAM).await.map_err(|error| failed(&error))?;
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: subject(function),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(10),
            ..Default::default()
        })
        .await
        .map_err(|error| failed(&error))?;
    let mut pending = consumer.cached_info().num_pending;
    let mut results = Vec::new();
    while pending > 0 {
        let mut batch = consumer
            .fetch()
            .max_messages(pending.min(512) as usize)
            .messages()
            .await
            .map_err(|error| failed(&error))?;
        let mut received = 0;
        while let Some(message) = batch.next().await {
            let message = message.map_err(|error| failed(&error))?;
            received += 1;
            pending = message.info().map(|info| info.pending).unwrap_or(0);
            if let Ok(result) = serde_json::from_slice::<ShadowResult>(&message.payload)
                && version.is_none_or(|version| result.candidate_version == version)
            {
                results.push(result);
            }
        }
        if received == 0 {
            break;
        }
    }
    let name = consumer.cached_info().name.clone();
    let _ = stream.delete_consumer(&name).await;
    Ok(results)
}

/// Results counted by verdict, with the first few of each.
#[derive(Debug, Default)]
pub struct Summary<'a> {
    /// How many events were compared.
    pub compared: usize,
    /// Per verdict: how many, and the first `examples` of them.
    pub verdicts: BTreeMap<Verdict, (usize, Vec<&'a ShadowResult>)>,
    /// Sampled events the shadows skipped because their instances were busy, as far as their
    /// stored results tell (a skip after a shadow's last result is not counted).
    pub skipped: u64,
}

impl<'a> Summary<'a> {
    /// `results` counted, keeping `examples` of each verdict.
    pub fn of(results: &'a [ShadowResult], examples: usize) -> Self {
        let mut summary = Summary {
            compared: results.len(),
            ..Default::default()
        };
        let mut skipped: BTreeMap<&str, u64> = BTreeMap::new();
        for result in results {
            let (count, kept) = summary.verdicts.entry(result.verdict).or_default();
            *count += 1;
            if kept.len() < examples {
                kept.push(result);
            }
            let most = skipped.entry(&result.shadow).or_default();
            *most = (*most).max(result.skipped);
        }
        summary.skipped = skipped.values().sum();
        summary
    }

    /// How many results have `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.verdicts.get(&verdict).map_or(0, |(count, _)| *count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shadow::Seen;

    fn result(id: &str, shadow: &str, skipped: u64, total: u64) -> ShadowResult {
        let observed = |total: u64| Observed {
            error: None,
            messages: vec![Seen {
                subject: "orders.totalled".into(),
                payload: format!("{{\"total\":{total}}}"),
            }],
        };
        let event = Event::new(
            "orders.placed".into(),
            "{}".into(),
            vec![("Nats-Msg-Id".into(), id.into())],
            None,
        );
        let mut result = ShadowResult::new(&event, "v2", observed(1), observed(total));
        result.shadow = shadow.into();
        result.skipped = skipped;
        result
    }

    #[test]
    fn a_summary_counts_verdicts_keeps_examples_and_adds_up_each_hosts_skips() {
        let results = [
            result("e-1", "host-a", 0, 1),
            result("e-2", "host-a", 3, 2),
            result("e-3", "host-b", 1, 1),
            result("e-4", "host-a", 5, 3),
        ];
        let summary = Summary::of(&results, 1);
        assert_eq!(summary.compared, 4);
        assert_eq!(summary.count(Verdict::Same), 2);
        assert_eq!(summary.count(Verdict::DifferentOutputs), 2);
        let (_, shown) = &summary.verdicts[&Verdict::DifferentOutputs];
        assert_eq!(
            shown.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(),
            ["e-2"]
        );
        assert_eq!(
            summary.skipped,
            5 + 1,
            "the latest count of each shadow, added up"
        );
    }
}
