//! Scenario: what tracing costs. The shipped `sluice up` handles core-NATS orders with
//! tracing off, then exporting to a real OTLP/HTTP endpoint in this process with every trace
//! sampled and with 1 in 100 sampled. The orders carry no `traceparent`: each starts a new
//! trace and the sampler decides. The variants run in turn, round after round, each on its
//! own `nats-server` and host process; the median of the rounds is reported.

use std::time::{Duration, Instant};

use sluice_tests::NatsServer;

use crate::otlp_sink::{OtlpSink, Received};
use crate::report::Report;
use crate::scenarios::drive;
use crate::shipped::{self, ShippedHost};
use crate::workload::Size;

/// The report's scenario column.
const SCENARIO: &str = "tracing, shipped `sluice up`";

/// The variants: how the report names them, and the sampled ratio (`None`: tracing off).
const VARIANTS: [(&str, Option<&str>); 3] = [
    ("tracing off", None),
    ("tracing on, sampled 1.0", Some("1.0")),
    ("tracing on, sampled 0.01", Some("0.01")),
];

/// `OTEL_BSP_SCHEDULE_DELAY` of the traced hosts, in ms: they export several times a second,
/// during the run rather than after it (the default is every 5 s).
const SCHEDULE_DELAY_MS: u64 = 200;

/// One measured run.
struct Run {
    /// Events per second.
    rate: f64,
    /// Results that arrived.
    received: usize,
    /// What the trace sink received, the host's exports after the run included.
    exported: Received,
}

/// Measures `size.tracing_events` orders through each variant, `size.tracing_rounds` times.
pub async fn cost(size: &Size, report: &mut Report) -> anyhow::Result<()> {
    if let Err(error) = shipped::sluice_binary() {
        println!("({SCENARIO}: not measured: {error:#})");
        return Ok(());
    }
    let mut runs: Vec<Vec<Run>> = VARIANTS.iter().map(|_| Vec::new()).collect();
    for _ in 0..size.tracing_rounds {
        for (variant, (_, ratio)) in VARIANTS.iter().enumerate() {
            runs[variant].push(run(*ratio, size.tracing_events, size.timeout).await?);
        }
    }
    let off = median(&runs[0]);
    for ((label, ratio), runs) in VARIANTS.iter().zip(&runs) {
        anyhow::ensure!(
            ratio.is_some() == runs.iter().any(|run| run.exported.requests > 0),
            "{label}: {} export requests (tracing did not turn {})",
            runs.iter().map(|run| run.exported.requests).sum::<u64>(),
            if ratio.is_some() { "on" } else { "off" }
        );
        let rate = median(runs);
        let mut note = String::new();
        if ratio.is_some() {
            note += &format!("{:.2}× off; ", rate / off);
        }
        note += &spread(runs);
        note += &format!("; {}", exports(runs, size.tracing_events));
        note += &received(runs, size.tracing_events);
        report.add(SCENARIO, label, format!("{rate:.0} events/s"), note);
    }
    Ok(())
}

/// One run of `n` orders through a fresh host, traced at `ratio` (`None`: off).
async fn run(ratio: Option<&str>, n: usize, timeout: Duration) -> anyhow::Result<Run> {
    let server = NatsServer::start();
    let sink = OtlpSink::start().await?;
    let endpoint = sink.endpoint();
    let delay = SCHEDULE_DELAY_MS.to_string();
    let (args, env) = match ratio {
        None => (Vec::new(), Vec::new()),
        Some(ratio) => (
            vec!["--otlp-endpoint", endpoint.as_str()],
            vec![
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", ratio),
                ("OTEL_BSP_SCHEDULE_DELAY", delay.as_str()),
            ],
        ),
    };
    let host = ShippedHost::start_with(&server, None, &args, &env, timeout).await?;
    let (rate, received) = drive(&server, n, timeout).await?;
    let exported = settled(&sink).await;
    drop(host);
    Ok(Run {
        rate,
        received,
        exported,
    })
}

/// What `sink` received once the host's exports stopped coming (nothing new for two
/// schedule delays and more), waiting at most 5 s.
async fn settled(sink: &OtlpSink) -> Received {
    let quiet = Duration::from_millis(2 * SCHEDULE_DELAY_MS + 100);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = sink.received();
    while Instant::now() < deadline {
        tokio::time::sleep(quiet).await;
        let now = sink.received();
        if now == last {
            break;
        }
        last = now;
    }
    last
}

/// The median rate of `runs` (the upper middle of an even count).
fn median(runs: &[Run]) -> f64 {
    let mut rates: Vec<f64> = runs.iter().map(|run| run.rate).collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// "median of 3 runs (a–b)", or "1 run".
fn spread(runs: &[Run]) -> String {
    let (low, high) = runs.iter().fold((f64::INFINITY, 0f64), |(low, high), run| {
        (low.min(run.rate), high.max(run.rate))
    });
    match runs.len() {
        1 => "1 run".to_owned(),
        count => format!("median of {count} runs ({low:.0}–{high:.0})"),
    }
}

/// What the sink received per run, on average: requests, bytes and spans (per order).
fn exports(runs: &[Run], n: usize) -> String {
    let count = runs.len() as f64;
    let sum =
        |field: fn(&Received) -> u64| runs.iter().map(|run| field(&run.exported)).sum::<u64>() as f64 / count;
    let spans = sum(|received| received.spans);
    format!(
        "per run the sink received {:.0} export requests, {:.2} MB, {spans:.0} spans ({:.3} per order)",
        sum(|received| received.requests),
        sum(|received| received.bytes) / 1e6,
        spans / n as f64
    )
}

/// ", N lost" when some runs did not get every result back, else nothing.
fn received(runs: &[Run], n: usize) -> String {
    let lost: usize = runs.iter().map(|run| n.saturating_sub(run.received)).sum();
    match lost {
        0 => String::new(),
        lost => format!("; {lost} of {} results lost", n * runs.len()),
    }
}
