//! One fleet function served by one host against three on the same nodes, in core mode (a
//! queue group), in JetStream mode (one durable pull consumer shared by the hosts), and in
//! JetStream mode with per-key order across hosts over 16 partitions (keyed by customer).
//!
//! The two cores of the benchmark machine run everything, so three hosts cannot make the
//! total grow: what this measures is what distribution costs, as results per CPU-second of
//! every process involved (the nats-servers and this process, which runs the hosts, the
//! publisher and the collector), read from `/proc` around each run.

use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use sluice_runtime::fleet::{Bundle, Fleet};

use super::{Bundler, Host, SHIPPED, Servers, serving};
use crate::jetstream::{Drained, STREAM, collect, create_stream, publish_orders};
use crate::machine::cpu_seconds;
use crate::report::Report;
use crate::workload::{self, Size};

/// How the function is triggered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Core,
    JetStream,
    PerKey,
}

/// The partitions of the per-key runs.
pub(super) const PARTITIONS: u16 = 16;

/// The shipped manifest in JetStream mode on the benchmark's stream; with `partitions`,
/// ordered per customer across hosts.
pub(super) fn jetstream_manifest(partitions: Option<u16>) -> anyhow::Result<String> {
    let from = "mode = \"core\"\n";
    anyhow::ensure!(
        SHIPPED.contains(from),
        "the shipped manifest has no `{}`",
        from.trim()
    );
    let mut to = format!("mode = \"jetstream\"\nstream = \"{STREAM}\"\n");
    if let Some(partitions) = partitions {
        to += &format!("ordering = \"per-key\"\nkey = \"json:/customer\"\npartitions = {partitions}\n");
    }
    Ok(SHIPPED.replacen(from, &to, 1))
}

/// The partition stream of the benchmark's function, deleted before each per-key run.
pub(super) const PARTITION_STREAM: &str = "SLUICE_PARTS_ORDER_TOTAL";

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Self::Core => "core NATS",
            Self::JetStream => "JetStream",
            Self::PerKey => "JetStream per-key, 16 partitions",
        }
    }

    /// The shipped manifest in this mode; core runs may queue all `n` events (as the
    /// single-host throughput scenario does), so what is measured is capacity, not drops.
    fn manifest(self, n: usize) -> anyhow::Result<String> {
        match self {
            Self::Core => {
                let from = "max_concurrency = 16\n";
                anyhow::ensure!(
                    SHIPPED.contains(from),
                    "the shipped manifest has no `{}`",
                    from.trim()
                );
                let to = format!("max_concurrency = 16\nmax_pending = {}\n", n + 1);
                Ok(SHIPPED.replacen(from, &to, 1))
            }
            Self::JetStream => jetstream_manifest(None),
            Self::PerKey => jetstream_manifest(Some(PARTITIONS)),
        }
    }
}

/// CPU seconds used during one run.
struct Cpu {
    servers: f64,
    bench: f64,
}

impl Cpu {
    /// What the nats-servers and this process have used so far.
    fn now(servers: &Servers) -> anyhow::Result<Self> {
        let mut used = 0.0;
        for pid in servers.pids() {
            used += cpu_seconds(pid)?;
        }
        Ok(Self {
            servers: used,
            bench: cpu_seconds(std::process::id())?,
        })
    }

    fn since(&self, before: &Self) -> Self {
        Self {
            servers: self.servers - before.servers,
            bench: self.bench - before.bench,
        }
    }

    fn total(&self) -> f64 {
        self.servers + self.bench
    }
}

/// What one run measured.
struct Measured {
    drained: Drained,
    /// Results per second, first publish to last result.
    rate: f64,
    cpu: Cpu,
}

impl Measured {
    fn per_cpu_second(&self) -> f64 {
        self.drained.distinct as f64 / self.cpu.total()
    }
}

/// One host, then three, in core and in JetStream mode; two rows per mode, the second with
/// the ratios of three hosts to one.
pub(super) async fn run(
    size: &Size,
    servers: &Servers,
    fleet: &Fleet,
    bundler: &Bundler,
    report: &mut Report,
) -> anyhow::Result<()> {
    let cache = tempfile::tempdir()?;
    let scenario = format!("fleet, 1 vs 3 hosts, {}", servers.label());
    for (mode, n) in [
        (Mode::Core, size.fleet_events),
        (Mode::JetStream, size.fleet_jetstream_events),
        (Mode::PerKey, size.fleet_jetstream_events),
    ] {
        let bundle = bundler.bundle_with("order-total", &mode.manifest(n)?)?;
        let one = measure(servers, fleet, &bundle, cache.path(), mode, 1, n, size.timeout).await?;
        let three = measure(servers, fleet, &bundle, cache.path(), mode, 3, n, size.timeout).await?;
        for (hosts, measured) in [(1, &one), (3, &three)] {
            let cpu = &measured.cpu;
            let mut note = format!(
                "{}/{n} results, {} duplicates; {:.0} events per CPU-second ({:.2} CPU-s: nats-servers {:.2}, bench process with the hosts, publisher and collector {:.2})",
                measured.drained.distinct,
                measured.drained.duplicates,
                measured.per_cpu_second(),
                cpu.total(),
                cpu.servers,
                cpu.bench
            );
            if hosts == 3 {
                note += &format!(
                    "; 3 hosts / 1 host: {:.2}× events/s, {:.2}× events per CPU-second",
                    three.rate / one.rate,
                    three.per_cpu_second() / one.per_cpu_second()
                );
            }
            let subject = format!(
                "{}, {hosts} host{}",
                mode.label(),
                if hosts == 1 { "" } else { "s" }
            );
            report.add(
                &scenario,
                &subject,
                format!("{:.0} events/s", measured.rate),
                note,
            );
        }
    }
    Ok(())
}

/// `hosts` fresh hosts (sharing `cache`) serve `bundle`; after a warm-up of a tenth of `n`,
/// `n` orders are published and their results counted, with the CPU every process used.
#[allow(clippy::too_many_arguments)]
async fn measure(
    servers: &Servers,
    fleet: &Fleet,
    bundle: &Bundle,
    cache: &Path,
    mode: Mode,
    hosts: usize,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<Measured> {
    let client = servers.client().await;
    let js = jetstream::new(client.clone());
    if mode != Mode::Core {
        // A new stream (and with it a new consumer) each run: nothing left from the last.
        let _ = js.delete_stream(STREAM).await;
        let _ = js.delete_stream(PARTITION_STREAM).await;
        create_stream(&js, servers.replicas()).await?;
    }
    fleet.deploy(bundle, Some("sluice-bench")).await?;
    let urls = servers.urls();
    let mut running = Vec::new();
    for i in 0..hosts {
        running.push(Host::start(&urls, &format!("bench-scale-{i}"), cache).await?);
    }
    let all: Vec<&Host> = running.iter().collect();
    let wanted = [(bundle.name.clone(), bundle.version.clone())];
    serving(&all, &wanted, Instant::now(), timeout).await?;
    // Unmeasured: route interest reaches every node, the hosts' first burst grows their heap.
    load(
        servers,
        &client,
        &js,
        mode,
        (n / 10).max(1),
        Duration::from_secs(5),
    )
    .await?;
    let before = Cpu::now(servers)?;
    let started = Instant::now();
    let drained = load(servers, &client, &js, mode, n, timeout).await?;
    let cpu = Cpu::now(servers)?.since(&before);
    let elapsed = drained.last().map_or(Duration::ZERO, |last| last - started);
    for host in running {
        host.runtime.shutdown().await;
    }
    fleet.undeploy(&bundle.name).await?;
    Ok(Measured {
        rate: drained.distinct as f64 / elapsed.as_secs_f64(),
        drained,
        cpu,
    })
}

/// Publishes orders `0..n` (as fast as one client can on core NATS; on JetStream waiting
/// for the stream's acks, a window at a time) and collects their results, bounded by
/// `timeout`.
async fn load(
    servers: &Servers,
    client: &async_nats::Client,
    js: &jetstream::Context,
    mode: Mode,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<Drained> {
    let collector = collect(servers.collector().await?, n, timeout).await?;
    match mode {
        Mode::Core => {
            for i in 0..n {
                client.publish("orders.placed", workload::order(i).into()).await?;
            }
            client.flush().await?;
        }
        Mode::JetStream | Mode::PerKey => publish_orders(js, n).await?,
    }
    collector.await?
}
