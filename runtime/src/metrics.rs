//! The Prometheus text exposition of every deployed function's counters.
//!
//! The counters themselves are atomics in [`FunctionStats`](crate::stats::FunctionStats), so
//! the event path never touches this module. At scrape time [`encode`] takes the functions'
//! [`StatsSnapshot`]s and hands them to `prometheus-client` through a collector, which
//! writes one family per metric, labelled by `function`.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::stats::{DURATION_BUCKETS, DurationSnapshot, StatsSnapshot};
use sluice_protocol::DeadLetterReason;

/// The `Content-Type` of what `encode` returns (Prometheus text format 0.0.4).
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// One value of a snapshot.
type Field = fn(&StatsSnapshot) -> u64;

/// Counters with only the `function` label: name (without `_total`), help, value.
const COUNTERS: [(&str, &str, Field); 7] = [
    (
        "sluice_events_received",
        "Events taken from the function's subscription.",
        |s| s.received,
    ),
    (
        "sluice_events_succeeded",
        "Events whose handler returned ok.",
        |s| s.succeeded,
    ),
    (
        "sluice_events_retried",
        "Failed attempts that were retried.",
        |s| s.retried,
    ),
    (
        "sluice_events_dropped",
        "Events that failed for good and were not dead-lettered (dead letters off, or the dead letter could not be published).",
        |s| s.dropped,
    ),
    (
        "sluice_events_overflowed",
        "Events dropped on arrival because the pending queue was full (limits.max_pending events or limits.max_pending_bytes).",
        |s| s.overflowed,
    ),
    (
        "sluice_circuit_opened",
        "Times the circuit breaker opened after consecutive retryable failures.",
        |s| s.circuit_opened,
    ),
    (
        "sluice_circuit_closed",
        "Times a successful probe closed the circuit breaker.",
        |s| s.circuit_closed,
    ),
];

/// Gauges with only the `function` label.
const GAUGES: [(&str, &str, Field); 3] = [
    (
        "sluice_events_in_flight",
        "Handler instances running now (batch functions: events in their batches).",
        |s| s.in_flight,
    ),
    (
        "sluice_jetstream_pending",
        "Messages of the function's JetStream consumer not yet delivered (0 without JetStream).",
        |s| s.jetstream_pending,
    ),
    (
        "sluice_circuit_open",
        "1 while the function's circuit breaker is open or half-open (intake paused or probing), 0 while closed.",
        |s| s.circuit_open,
    ),
];

/// The Prometheus text exposition of `functions` (name and counters of each).
pub fn encode(functions: Vec<(String, StatsSnapshot)>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(FunctionsCollector(functions)));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    text
}

/// The counters of the deployed functions at one scrape.
#[derive(Debug)]
struct FunctionsCollector(Vec<(String, StatsSnapshot)>);

impl Collector for FunctionsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let functions = &self.0;
        for (name, help, field) in COUNTERS {
            let rows = functions
                .iter()
                .map(|(function, s)| (function_label(function), ConstCounter::new(field(s))));
            family(&mut encoder, name, help, MetricType::Counter, rows)?;
        }
        let dead_lettered = functions.iter().flat_map(|(function, s)| {
            DeadLetterReason::ALL.into_iter().map(move |reason| {
                let labels = [("function", function.as_str()), ("reason", reason.as_str())];
                (labels, ConstCounter::new(s.dead_lettered_for(reason)))
            })
        });
        family(
            &mut encoder,
            "sluice_events_dead_lettered",
            "Events published to the dead-letter subject, by Sluice-Dlq-Reason.",
            MetricType::Counter,
            dead_lettered,
        )?;
        let publishes = functions.iter().flat_map(|(function, s)| {
            [("ok", s.published), ("failed", s.publish_failed)].map(|(result, count)| {
                let labels = [("function", function.as_str()), ("result", result)];
                (labels, ConstCounter::new(count))
            })
        });
        family(
            &mut encoder,
            "sluice_publishes",
            "Messages the handler published after success: sent (ok) or refused by NATS (failed).",
            MetricType::Counter,
            publishes,
        )?;
        for (name, help, field) in GAUGES {
            let rows = functions
                .iter()
                .map(|(function, s)| (function_label(function), ConstGauge::new(field(s))));
            family(&mut encoder, name, help, MetricType::Gauge, rows)?;
        }
        let durations = functions
            .iter()
            .map(|(function, s)| (function_label(function), Histogram(s.durations)));
        family(
            &mut encoder,
            "sluice_handler_duration_seconds",
            "How long each attempt took, from taking an instance to the handler's return.",
            MetricType::Histogram,
            durations,
        )
    }
}

fn function_label(function: &str) -> [(&'static str, &str); 1] {
    [("function", function)]
}

/// Writes one metric family: its descriptor, then one sample (or histogram) per row.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    metric_type: MetricType,
    rows: impl Iterator<Item = (L, M)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (labels, metric) in rows {
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A [`DurationSnapshot`] as a Prometheus histogram.
struct Histogram(DurationSnapshot);

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = DURATION_BUCKETS.iter().copied().zip(self.0.buckets).collect();
        encoder.encode_histogram::<NoLabelSet>(self.0.sum_seconds(), self.0.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::FunctionStats;

    fn sample(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ').map(str::to_owned))
    }

    #[test]
    fn every_function_gets_every_series() {
        let stats = FunctionStats::default();
        stats.received();
        stats.received();
        stats.succeeded();
        stats.dead_lettered(DeadLetterReason::Trap);
        stats.published(3, 1);
        stats.circuit_opened();
        drop(stats.start_instance());
        let open = StatsSnapshot {
            circuit_open: 1,
            ..stats.snapshot()
        };
        let text = encode(vec![("a".into(), open), ("b".into(), StatsSnapshot::default())]);
        let value =
            |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series} missing:\n{text}"));
        assert_eq!(value(r#"sluice_events_received_total{function="a"}"#), "2");
        assert_eq!(value(r#"sluice_events_received_total{function="b"}"#), "0");
        assert_eq!(value(r#"sluice_events_succeeded_total{function="a"}"#), "1");
        assert_eq!(
            value(r#"sluice_events_dead_lettered_total{function="a",reason="trap"}"#),
            "1"
        );
        assert_eq!(
            value(r#"sluice_events_dead_lettered_total{function="a",reason="expired"}"#),
            "0"
        );
        assert_eq!(value(r#"sluice_publishes_total{function="a",result="ok"}"#), "3");
        assert_eq!(
            value(r#"sluice_publishes_total{function="a",result="failed"}"#),
            "1"
        );
        assert_eq!(value(r#"sluice_events_in_flight{function="a"}"#), "0");
        assert_eq!(value(r#"sluice_jetstream_pending{function="a"}"#), "0");
        assert_eq!(value(r#"sluice_circuit_opened_total{function="a"}"#), "1");
        assert_eq!(value(r#"sluice_circuit_closed_total{function="a"}"#), "0");
        assert_eq!(value(r#"sluice_circuit_open{function="a"}"#), "1");
        assert_eq!(value(r#"sluice_circuit_open{function="b"}"#), "0");
        assert_eq!(
            value(r#"sluice_handler_duration_seconds_count{function="a"}"#),
            "1"
        );
        assert_eq!(
            value(r#"sluice_handler_duration_seconds_bucket{function="a",le="+Inf"}"#),
            "1"
        );
        assert!(
            text.contains("# TYPE sluice_handler_duration_seconds histogram"),
            "{text}"
        );
    }
}
