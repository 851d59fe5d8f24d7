//! A host killed under a steady JetStream stream: two hosts in-process and a third as a
//! `sluice up --fleet` child process, frozen (SIGSTOP) and, two bursts later, SIGKILLed. A
//! frozen host still has a pull request open, so the server hands it the events it asked for
//! and it dies holding them, as a busy host would (a host this lightly loaded that is simply
//! killed often holds none, and then nothing waits). Nothing is lost; what the dead host held
//! waits on the server until the consumer's `ack_wait` runs out, then goes to the others.
//! Measured: from the kill until every order published before it has a result.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::consumer::PullConsumer;
use sluice_runtime::fleet::{Bundle, Fleet};
use tempfile::TempDir;

use super::scale::{PARTITION_STREAM, PARTITIONS, jetstream_manifest};
use super::{Bundler, Host, Servers, serving};
use crate::jetstream::{STREAM, collect, create_stream, settled};
use crate::report::Report;
use crate::shipped::sluice_binary;
use crate::workload::{self, Size};

/// Orders published at a time, every [`TICK`]: a steady 1,000 orders/s.
const BURST: usize = 50;
const TICK: Duration = Duration::from_millis(50);

/// Bursts published between freezing the host and killing it.
const FROZEN_TICKS: usize = 2;

/// How long the stream runs before the kill, and after the kill beyond `ack_wait` (at most
/// half of `ack_wait` each, so a smoke run with a short one stays short).
const MARGIN: Duration = Duration::from_secs(3);

/// The durable consumer the hosts share (`sluice-<function>`).
const CONSUMER: &str = "sluice-order-total";

/// One host of the fleet as a child process, SIGKILLed on drop if still running.
struct Victim {
    id: String,
    child: Child,
    _state: TempDir,
}

impl Victim {
    /// `sluice up --fleet` as host `id` on `urls`, its compile cache the in-process hosts'.
    fn spawn(binary: &Path, urls: &str, id: &str, cache: &Path) -> anyhow::Result<Self> {
        let state = tempfile::tempdir()?;
        std::os::unix::fs::symlink(cache, state.path().join("cache"))?;
        let child = Command::new(binary)
            .args(["up", "--fleet", "--host-id", id, "--nats", urls, "--state-dir"])
            .arg(state.path())
            .current_dir(state.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Self {
            id: id.to_owned(),
            child,
            _state: state,
        })
    }

    /// Waits until the function's consumer has a pull request waiting from each of `hosts`
    /// hosts (this one among them: the others already serve), polling every 20 ms.
    async fn pulling(
        &mut self,
        js: &jetstream::Context,
        hosts: usize,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let since = Instant::now();
        loop {
            let consumer: Result<PullConsumer, _> = js.get_consumer_from_stream(CONSUMER, STREAM).await;
            if let Ok(mut consumer) = consumer
                && consumer.info().await?.num_waiting >= hosts
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("host {} exited ({status}) before serving", self.id);
            }
            anyhow::ensure!(
                since.elapsed() < timeout,
                "host {} did not pull within {timeout:?}",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGSTOP: the process stops, its connection stays open.
    fn freeze(&mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-STOP", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(
            status.success(),
            "`kill -STOP` of host {} failed: {status}",
            self.id
        );
        Ok(())
    }

    /// SIGKILL; returns when it was sent.
    fn kill(&mut self) -> anyhow::Result<Instant> {
        self.child.kill()?;
        let killed = Instant::now();
        self.child.wait()?;
        Ok(killed)
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one kill showed.
struct Failover {
    ack_wait: Duration,
    published: usize,
    before_kill: usize,
    distinct: usize,
    duplicates: usize,
    /// Orders published before the kill whose result came later than `ack_wait / 2`: the
    /// ones the killed host held.
    held: usize,
    /// From the kill until every order published before it had a result.
    complete: Duration,
    /// The longest publish-to-result time of any order.
    max_latency: Duration,
    /// The median publish-to-result time.
    p50_latency: Duration,
    settled: String,
}

/// One kill per `size.failover_ack_waits`.
pub(super) async fn run(
    size: &Size,
    servers: &Servers,
    fleet: &Fleet,
    bundler: &Bundler,
    report: &mut Report,
) -> anyhow::Result<()> {
    let binary = match sluice_binary() {
        Ok(binary) => binary,
        Err(error) => {
            println!("(fleet failover: not measured: {error:#})");
            return Ok(());
        }
    };
    let scenario = format!("fleet, host killed, {}", servers.label());
    let cache = tempfile::tempdir()?;
    // Each ack_wait with one shared consumer, then the last one with per-key order over
    // partitions (a dead host's partitions move once its report is stale and its pins expire).
    let last = size.failover_ack_waits.last().copied();
    let kills = size
        .failover_ack_waits
        .iter()
        .map(|&ack_wait| (ack_wait, None))
        .chain(last.map(|ack_wait| (ack_wait, Some(PARTITIONS))));
    for (round, (ack_wait, partitions)) in kills.enumerate() {
        let manifest = format!(
            "{}\n[delivery]\nack_wait = \"{}s\"\n",
            jetstream_manifest(partitions)?,
            ack_wait.as_secs()
        );
        let bundle = bundler.bundle_with("order-total", &manifest)?;
        let run = once(
            servers,
            fleet,
            &bundle,
            &binary,
            cache.path(),
            round,
            ack_wait,
            size.timeout,
        )
        .await?;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let how = match partitions {
            None => String::new(),
            Some(n) => format!("per-key over {n} partitions, "),
        };
        report.add(
            &scenario,
            &format!(
                "kill → all earlier events handled, {how}ack_wait {}s",
                run.ack_wait.as_secs()
            ),
            format!("{:.0} ms", ms(run.complete)),
            format!(
                "3 hosts, one frozen then SIGKILLed {} ms later, after {} of {} orders at 1,000/s; it held {}, handled by the others after ack_wait; {}/{} results, {} lost, {} duplicates; latency p50 {:.1} ms, max {:.0} ms; {}",
                (TICK * FROZEN_TICKS as u32).as_millis(),
                run.before_kill,
                run.published,
                run.held,
                run.distinct,
                run.published,
                run.published - run.distinct,
                run.duplicates,
                ms(run.p50_latency),
                ms(run.max_latency),
                run.settled
            ),
        );
    }
    Ok(())
}

/// Two hosts in-process and one child serve `bundle`; the child is killed under the stream.
#[allow(clippy::too_many_arguments)]
async fn once(
    servers: &Servers,
    fleet: &Fleet,
    bundle: &Bundle,
    binary: &Path,
    cache: &Path,
    round: usize,
    ack_wait: Duration,
    timeout: Duration,
) -> anyhow::Result<Failover> {
    let js = jetstream::new(servers.client().await);
    let _ = js.delete_stream(STREAM).await;
    let _ = js.delete_stream(PARTITION_STREAM).await;
    create_stream(&js, servers.replicas()).await?;
    fleet.deploy(bundle, Some("sluice-bench")).await?;
    let urls = servers.urls();
    let mut hosts = Vec::new();
    for id in ["a", "b"] {
        hosts.push(Host::start(&urls, &format!("bench-failover-{round}-{id}"), cache).await?);
    }
    let mut victim = Victim::spawn(binary, &urls, &format!("bench-killed-{round}"), cache)?;
    let all: Vec<&Host> = hosts.iter().collect();
    let wanted = [(bundle.name.clone(), bundle.version.clone())];
    serving(&all, &wanted, Instant::now(), timeout).await?;
    victim.pulling(&js, 3, timeout).await?;

    let margin = MARGIN.min(ack_wait / 2);
    let ticks_of = |d: Duration| (d.as_millis() / TICK.as_millis()) as usize;
    let ticks_before = ticks_of(margin);
    let ticks = ticks_before + ticks_of(ack_wait + margin);
    let total = ticks * BURST;
    let collector = collect(servers.collector().await?, total, margin + ack_wait + timeout).await?;
    let (sent, killed) = steady(&js, ticks, ticks_before, &mut victim).await?;
    let drained = collector.await??;
    let settled = settled(&js, CONSUMER).await;
    for host in hosts {
        host.runtime.shutdown().await;
    }
    fleet.undeploy(&bundle.name).await?;

    let before_kill = (ticks_before + FROZEN_TICKS) * BURST;
    let arrived = |i: usize| drained.arrived[i];
    let mut latencies: Vec<Duration> = (0..total).filter_map(|i| Some(arrived(i)? - sent[i])).collect();
    latencies.sort();
    let complete = (0..before_kill)
        .filter_map(arrived)
        .max()
        .map_or(Duration::ZERO, |last| last.saturating_duration_since(killed));
    Ok(Failover {
        ack_wait,
        published: total,
        before_kill,
        distinct: drained.distinct,
        duplicates: drained.duplicates,
        held: (0..before_kill)
            .filter(|&i| arrived(i).is_some_and(|at| at - sent[i] > ack_wait / 2))
            .count(),
        complete,
        max_latency: latencies.last().copied().unwrap_or_default(),
        p50_latency: latencies.get(latencies.len() / 2).copied().unwrap_or_default(),
        settled,
    })
}

/// Publishes `BURST` orders every `TICK` for `ticks` ticks, each one's stream acks awaited
/// before the next burst; right after burst `kill_after` is stored `victim` is frozen, and
/// [`FROZEN_TICKS`] bursts later killed. Returns when each order was published, and when the
/// kill was sent.
async fn steady(
    js: &jetstream::Context,
    ticks: usize,
    kill_after: usize,
    victim: &mut Victim,
) -> anyhow::Result<(Vec<Instant>, Instant)> {
    let mut sent = Vec::with_capacity(ticks * BURST);
    let mut killed = None;
    let mut ticker = tokio::time::interval(TICK);
    for tick in 0..ticks {
        ticker.tick().await;
        let mut acks = Vec::with_capacity(BURST);
        for _ in 0..BURST {
            sent.push(Instant::now());
            let order = workload::order(sent.len() - 1);
            acks.push(js.publish("orders.placed", order.into()).await?);
        }
        for ack in acks {
            ack.await?;
        }
        if tick + 1 == kill_after {
            victim.freeze()?;
        }
        if tick + 1 == kill_after + FROZEN_TICKS {
            killed = Some(victim.kill()?);
        }
    }
    let killed = killed.ok_or_else(|| anyhow::anyhow!("the stream ended before the kill"))?;
    Ok((sent, killed))
}
