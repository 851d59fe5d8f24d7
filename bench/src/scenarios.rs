//! The scenarios that go through NATS: throughput, latency, concurrency and reload.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use sluice_runtime::ReloadEvent;
use sluice_runtime::{Runtime, RuntimeConfig};
use sluice_tests::{FunctionsDir, NatsServer};

use crate::baselines::{self, Consumer};
use crate::report::Report;
use crate::shipped::{self, ShippedHost};
use crate::workload::{self, Size};

const ORDER_TOTAL: &str =
    "[trigger]\nsubjects = [\"orders.placed\"]\n[permissions]\npublish = [\"orders.totalled\"]\n";

/// A host with order-total deployed (`extra` manifest lines appended to `[limits]`).
async fn sluice_host(server: &NatsServer, limits: &str) -> anyhow::Result<(Runtime, FunctionsDir)> {
    let dir = FunctionsDir::new();
    dir.add(
        "order-total",
        "order-total",
        format!("{ORDER_TOTAL}[limits]\n{limits}\n"),
    );
    let runtime = Runtime::start(RuntimeConfig::new(dir.path(), server.url())).await?;
    Ok((runtime, dir))
}

/// Scenario 1: order events through Sluice (fresh and reused instances), a native Rust
/// consumer and a Python consumer.
pub async fn throughput(size: &Size, report: &mut Report) -> anyhow::Result<()> {
    let n = size.events;
    // The default pending bounds, as users get them: a burst they cannot hold shows as lost.
    let limits = "max_concurrency = 32".to_owned();
    // Unmeasured: the first burst in a process page-faults in the heap it grows (the queue of
    // events waiting), which would be charged to whichever variant ran first.
    {
        let server = NatsServer::start();
        let (runtime, _dir) = sluice_host(&server, &limits).await?;
        drive(&server, n, size.timeout).await?;
        runtime.shutdown().await;
    }
    let mut rates = Vec::new();
    for (label, extra) in [
        ("Sluice, fresh instance per event", limits.clone()),
        (
            "Sluice, events_per_instance = 100",
            format!("{limits}\nevents_per_instance = 100"),
        ),
    ] {
        let server = NatsServer::start();
        let (runtime, _dir) = sluice_host(&server, &extra).await?;
        let (rate, received) = drive(&server, n, size.timeout).await?;
        runtime.shutdown().await;
        rates.push((label, rate, received));
    }
    // The shipped binary as its own process, with its defaults (log level included), and
    // with logging off: what the default log costs.
    for (label, log) in shipped::ROWS {
        let server = NatsServer::start();
        match ShippedHost::start(&server, log, size.timeout).await {
            Ok(host) => {
                let (rate, received) = drive(&server, n, size.timeout).await?;
                drop(host);
                rates.push((label, rate, received));
            }
            Err(error) => println!("({label}: not measured: {error:#})"),
        }
    }
    for consumer in [Consumer::NativeRust, Consumer::Python] {
        let server = NatsServer::start();
        match baselines::start(consumer, &server.url()).await {
            Ok(running) => {
                let (rate, received) = drive(&server, n, size.timeout).await?;
                drop(running);
                rates.push((consumer.label(), rate, received));
            }
            Err(error) => println!("({}: not measured: {error:#})", consumer.label()),
        }
    }
    let find = |label: &str| rates.iter().find(|(l, ..)| *l == label).map(|(_, rate, _)| *rate);
    let native = find(Consumer::NativeRust.label());
    let python = find(Consumer::Python.label());
    for (label, rate, received) in &rates {
        let mut note = format!("{received}/{n} received");
        if *received < n {
            note += &format!(" ({} lost)", n - received);
        }
        if let Some(native) = native {
            note += &format!(", {:.0}% of native", 100.0 * rate / native);
        }
        if let Some(python) = python {
            note += &format!(", {:.1}× Python", rate / python);
        }
        report.add(
            "throughput, core NATS",
            label,
            format!("{:.0} events/s", rate),
            note,
        );
        report.bar("core NATS throughput (events/s)", label, *rate);
    }
    Ok(())
}

/// Publishes `n` orders and counts `orders.totalled` until all arrived or `timeout`;
/// returns events per second (first publish to last result) and how many arrived.
pub(crate) async fn drive(server: &NatsServer, n: usize, timeout: Duration) -> anyhow::Result<(f64, usize)> {
    drive_on(server, &["orders.placed".to_owned()], n, timeout).await
}

/// Like [`drive`], spreading the orders round-robin over `subjects`.
pub(crate) async fn drive_on(
    server: &NatsServer,
    subjects: &[String],
    n: usize,
    timeout: Duration,
) -> anyhow::Result<(f64, usize)> {
    // As large a client buffer as the consumers': a collector that falls behind for a moment
    // (it shares the cores with them) must not drop results and count them as lost.
    let client = async_nats::ConnectOptions::new()
        .subscription_capacity(1 << 20)
        .connect(server.url())
        .await?;
    let mut results = client.subscribe("orders.totalled").await?;
    client.flush().await?;
    let started = Instant::now();
    let collector = tokio::spawn(async move {
        let mut received = 0;
        // Until the last result that came: with events lost, waiting out the timeout would
        // count as time spent handling them.
        let mut last = started.elapsed();
        let deadline = tokio::time::Instant::now() + timeout;
        while received < n {
            match tokio::time::timeout_at(deadline, results.next()).await {
                Ok(Some(_)) => {
                    received += 1;
                    last = started.elapsed();
                }
                _ => break,
            }
        }
        (received, last)
    });
    for i in 0..n {
        client
            .publish(subjects[i % subjects.len()].clone(), workload::order(i).into())
            .await?;
    }
    client.flush().await?;
    let (received, elapsed) = collector.await?;
    Ok((received as f64 / elapsed.as_secs_f64(), received))
}

/// Scenario 3: a fixed 5,000 events/s with a timestamp; publish-to-result latency.
pub async fn latency(size: &Size, report: &mut Report) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let (runtime, _dir) = sluice_host(&server, "max_concurrency = 32").await?;
    let sluice = paced(&server, size).await?;
    runtime.shutdown().await;
    let server = NatsServer::start();
    let native = baselines::start(Consumer::NativeRust, &server.url()).await?;
    let baseline = paced(&server, size).await?;
    drop(native);
    for (label, samples) in [
        ("Sluice, fresh instance per event", sluice),
        (Consumer::NativeRust.label(), baseline),
    ] {
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize] * 1e3;
        report.add(
            "latency at 5,000 events/s",
            label,
            format!("p99 {:.2} ms", at(0.99)),
            format!(
                "p50 {:.2} ms, p99.9 {:.2} ms, {} samples",
                at(0.5),
                at(0.999),
                samples.len()
            ),
        );
    }
    Ok(())
}

/// Publishes 5 events every millisecond for the configured time, each carrying its send
/// time in the correlation id (which Sluice copies onto results); returns sorted latencies
/// in seconds.
async fn paced(server: &NatsServer, size: &Size) -> anyhow::Result<Vec<f64>> {
    let client = server.client().await;
    let mut results = client.subscribe("orders.totalled").await?;
    client.flush().await?;
    let total = 5_000 * size.latency_secs as usize;
    let collector = tokio::spawn(async move {
        let mut samples = Vec::with_capacity(total);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while samples.len() < total {
            let Ok(Some(message)) = tokio::time::timeout_at(deadline, results.next()).await else {
                break;
            };
            let sent = message
                .headers
                .as_ref()
                .and_then(|h| h.get("Sluice-Correlation-Id"))
                .and_then(|v| v.as_str().parse::<u128>().ok());
            if let Some(sent) = sent {
                samples.push((now_nanos().saturating_sub(sent)) as f64 / 1e9);
            }
        }
        samples
    });
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    for i in 0..total {
        if i % 5 == 0 {
            ticker.tick().await;
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Sluice-Correlation-Id", now_nanos().to_string().as_str());
        client
            .publish_with_headers("orders.placed", headers, workload::order(i).into())
            .await?;
    }
    client.flush().await?;
    let mut samples = collector.await?;
    samples.sort_by(f64::total_cmp);
    anyhow::ensure!(!samples.is_empty(), "no latency samples arrived");
    Ok(samples)
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Scenario 6: a handler that waits 5 ms; events/s by concurrency cap, against Little's law
/// (throughput = in flight / time in system).
pub async fn concurrency(size: &Size, report: &mut Report) -> anyhow::Result<()> {
    for cap in [1usize, 16, 256] {
        let server = NatsServer::start();
        let dir = FunctionsDir::new();
        let manifest = format!(
            "[trigger]\nsubjects = [\"work\"]\n[limits]\nmax_concurrency = {cap}\nmax_pending = 1000000\n[permissions]\npublish = [\"probe.out\"]\n"
        );
        dir.add("waiter", "probe", &manifest);
        let runtime = Runtime::start(RuntimeConfig::new(dir.path(), server.url())).await?;
        let client = server.client().await;
        let mut out = client.subscribe("probe.out").await?;
        client.flush().await?;
        let n = (cap * 40).clamp(40, size.concurrency_events * 5);
        let payload = serde_json::json!({"op": "sleep", "ms": 5}).to_string();
        let started = Instant::now();
        for _ in 0..n {
            client.publish("work", payload.clone().into()).await?;
        }
        client.flush().await?;
        let mut received = 0;
        while received < n {
            match tokio::time::timeout(size.timeout, out.next()).await {
                Ok(Some(_)) => received += 1,
                _ => break,
            }
        }
        let rate = received as f64 / started.elapsed().as_secs_f64();
        let predicted = cap as f64 / 0.005;
        runtime.shutdown().await;
        report.add(
            "concurrency, 5 ms handler",
            &format!("max_concurrency = {cap}"),
            format!("{rate:.0} events/s"),
            format!(
                "Little's law: {predicted:.0}/s ({:.0}%), {received}/{n} received",
                100.0 * rate / predicted
            ),
        );
    }
    Ok(())
}

/// Scenario 7: from a component replaced on disk to the new version deployed and answering,
/// compiling it and loading it from the cache.
pub async fn reload(size: &Size, report: &mut Report) -> anyhow::Result<()> {
    let server = NatsServer::start();
    let dir = FunctionsDir::new();
    dir.add("live", "probe", "[trigger]\nsubjects = [\"live\"]\n");
    let cache = tempfile::tempdir()?;
    let mut config = RuntimeConfig::new(dir.path(), server.url());
    config.watch = true;
    config.cache_dir = Some(cache.path().to_owned());
    let runtime = Runtime::start(config).await?;
    let client = server.client().await;
    let original = std::fs::read(sluice_tests::guest("probe"))?;
    let rounds = if size.calls < 1000 { 2 } else { 5 };
    let mut compiled = Vec::new();
    let mut cached = Vec::new();
    for round in 0..rounds {
        // A new variant (never compiled), then back to a variant the cache has seen.
        for (variant, samples) in [
            (format!("fresh-{round}"), &mut compiled),
            ("seen".to_owned(), &mut cached),
        ] {
            let bytes = with_custom_section(&original, &variant);
            samples.push(swap(&runtime, &client, dir.path(), &bytes).await?);
        }
    }
    runtime.shutdown().await;
    for (label, mut samples) in [
        ("replace → serving, compiled", compiled),
        ("replace → serving, from cache", cached),
    ] {
        samples.sort_by(f64::total_cmp);
        let median = samples[samples.len() / 2];
        report.add(
            "hot reload (3 MB component)",
            label,
            format!("{:.0} ms", median * 1e3),
            format!(
                "median of {}; includes the settle time after the write",
                samples.len()
            ),
        );
    }
    Ok(())
}

/// Writes `bytes` as `live.wasm` (write-then-rename) and waits until it is deployed and
/// answers a request; seconds taken.
async fn swap(
    runtime: &Runtime,
    client: &async_nats::Client,
    dir: &std::path::Path,
    bytes: &[u8],
) -> anyhow::Result<f64> {
    let mut events = runtime.reload_events();
    let temporary = dir.join("live.tmp");
    std::fs::write(&temporary, bytes)?;
    let started = Instant::now();
    std::fs::rename(&temporary, dir.join("live.wasm"))?;
    loop {
        match tokio::time::timeout(Duration::from_secs(60), events.recv()).await?? {
            ReloadEvent::Deployed { .. } | ReloadEvent::Unchanged { .. } => break,
            ReloadEvent::Failed { error, .. } => anyhow::bail!("reload failed: {error}"),
            ReloadEvent::Undeployed { .. } => {}
        }
    }
    client
        .request("live", serde_json::json!({"op": "echo"}).to_string().into())
        .await?;
    Ok(started.elapsed().as_secs_f64())
}

/// `component` with a custom section named `sluice-bench` holding `text` appended: a valid
/// component with a different hash.
fn with_custom_section(component: &[u8], text: &str) -> Vec<u8> {
    let name = b"sluice-bench";
    let mut body = leb128(name.len());
    body.extend_from_slice(name);
    body.extend_from_slice(text.as_bytes());
    let mut bytes = component.to_vec();
    bytes.push(0);
    bytes.extend(leb128(body.len()));
    bytes.extend(body);
    bytes
}

fn leb128(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}
