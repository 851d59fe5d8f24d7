//! Micro-batches: order-total through the `batch-handler` world against the single-event
//! `handler` world, in the same run, against the same kind of `nats-server`.

use sluice_runtime::{Runtime, RuntimeConfig};
use sluice_tests::{FunctionsDir, NatsServer};

use crate::report::Report;
use crate::scenarios::drive;
use crate::workload::Size;

/// One Sluice set-up measured: label, guest, manifest.
type Setup = (&'static str, &'static str, String);

/// Order events through `order-total` (one event per call) and `order-total-batch` (up to
/// 100 or 10 per call); events/s and the ratio to the single-event world.
pub async fn throughput(size: &Size, report: &mut Report) -> anyhow::Result<()> {
    let n = size.events;
    let base = format!(
        "[trigger]\nsubjects = [\"orders.placed\"]\n[permissions]\npublish = [\"orders.totalled\"]\n[limits]\nmax_pending = {}\n",
        n + 1
    );
    let setups: [Setup; 4] = [
        (
            "order-total, fresh instance per event",
            "order-total",
            format!("{base}max_concurrency = 32\n"),
        ),
        (
            "order-total, events_per_instance = 100",
            "order-total",
            format!("{base}max_concurrency = 32\nevents_per_instance = 100\n"),
        ),
        (
            "order-total-batch, max_events = 10",
            "order-total-batch",
            format!("{base}max_concurrency = 4\n[batch]\nmax_events = 10\nmax_wait = \"5ms\"\n"),
        ),
        (
            "order-total-batch, max_events = 100",
            "order-total-batch",
            format!("{base}max_concurrency = 4\n[batch]\nmax_events = 100\nmax_wait = \"5ms\"\n"),
        ),
    ];
    let mut single = None;
    for (label, guest, manifest) in setups {
        let server = NatsServer::start();
        let dir = FunctionsDir::new();
        dir.add("order-total", guest, &manifest);
        let runtime = Runtime::start(RuntimeConfig::new(dir.path(), server.url())).await?;
        let (rate, received) = drive(&server, n, size.timeout).await?;
        runtime.shutdown().await;
        let single_rate = *single.get_or_insert(rate);
        report.add(
            "micro-batches, core NATS",
            label,
            format!("{rate:.0} events/s"),
            format!(
                "{received}/{n} received, {:.2}× the single-event world",
                rate / single_rate
            ),
        );
        report.bar("micro-batch throughput (events/s)", label, rate);
    }
    jetstream(size, report).await
}

/// The same comparison in JetStream mode: orders stored first, then drained.
async fn jetstream(size: &Size, report: &mut Report) -> anyhow::Result<()> {
    let n = size.jetstream_events;
    let base = crate::jetstream::ORDER_TOTAL_JS;
    let batch = "[batch]\nmax_events = 100\nmax_wait = \"5ms\"\n";
    let setups = [
        (
            "order-total JetStream, fresh instance per event",
            "order-total",
            base.to_owned(),
        ),
        (
            "order-total-batch JetStream, max_events = 100",
            "order-total-batch",
            format!(
                "{}{batch}",
                base.replace("max_concurrency = 32", "max_concurrency = 4")
            ),
        ),
    ];
    let mut single = None;
    for (label, guest, manifest) in setups {
        let (drained, settled) = crate::jetstream::sluice_run(n, size.timeout, guest, &manifest).await?;
        let single_rate = *single.get_or_insert(drained.rate);
        report.add(
            "micro-batches, JetStream",
            label,
            format!("{:.0} events/s", drained.rate),
            format!(
                "{}/{n} results, {} duplicates, {settled}, {:.2}× the single-event world",
                drained.distinct,
                drained.duplicates,
                drained.rate / single_rate
            ),
        );
    }
    Ok(())
}
