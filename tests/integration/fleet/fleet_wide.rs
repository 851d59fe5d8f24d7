//! Promises kept across the fleet rather than per host: `limits.max_in_flight` caps a
//! function's events in flight on all hosts together; `sluice pause` stops a function on
//! every host (surviving their restarts) and `sluice resume` handles every event once;
//! `sluice drain` takes one host out without losing or repeating an event.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream;
use futures::{FutureExt, StreamExt};
use serde_json::{Value, json};
use sluice_tests::{
    FleetHost, NatsCluster, NatsServer, bundle, deployer, eventually, next_message, publish_many,
    spawn_fleet_process,
};

use super::{CONVERGE, converged, reported_serving, sluice};
use crate::jetstream::js_probe;
use crate::limits::max_overlap;

/// What the probe's `sleep` reports, by event id: each handling's start (unix ns).
#[derive(Default)]
struct Handled {
    starts: HashMap<String, Vec<u64>>,
}

impl Handled {
    /// Takes every report already received on `out`.
    fn take(&mut self, out: &mut async_nats::Subscriber) {
        while let Some(Some(message)) = out.next().now_or_never() {
            let report: Value = serde_json::from_slice(&message.payload).unwrap();
            let id = report["id"].as_str().unwrap().to_owned();
            self.starts
                .entry(id)
                .or_default()
                .push(report["start_ns"].as_u64().unwrap());
        }
    }

    /// Waits until `count` distinct events were handled.
    async fn until(&mut self, out: &mut async_nats::Subscriber, count: usize, what: &str) {
        eventually(CONVERGE, what, async || {
            self.take(out);
            self.starts.len() >= count
        })
        .await;
    }

    /// Waits until `count` distinct events were handled, gives a late repeat half a second
    /// to arrive, and asserts that there are exactly `count`, none handled twice.
    async fn each_once(&mut self, out: &mut async_nats::Subscriber, count: usize) {
        self.until(out, count, "every event handled").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.take(out);
        assert_eq!(self.starts.len(), count, "every event handled");
        assert!(self.repeated().is_empty(), "handled twice: {:?}", self.repeated());
    }

    /// Handlings that started after `at` (unix ns).
    fn started_after(&self, at: u64) -> usize {
        self.starts
            .values()
            .flatten()
            .filter(|&&start| start > at)
            .count()
    }

    /// Events handled more than once.
    fn repeated(&self) -> Vec<(&String, usize)> {
        self.starts
            .iter()
            .filter(|(_, starts)| starts.len() > 1)
            .map(|(id, starts)| (id, starts.len()))
            .collect()
    }
}

fn unix_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Publishes `count` events asking the probe to sleep `ms`, in batches of ten every 50 ms.
fn steady(js: &jetstream::Context, count: usize, ms: u64) -> tokio::task::JoinHandle<()> {
    let js = js.clone();
    tokio::spawn(async move {
        for batch in 0..count / 10 {
            publish_many(&js, "js.in", &format!("b{batch}"), 10, |_| {
                json!({"op": "sleep", "ms": ms}).to_string()
            })
            .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_caps_a_function_across_all_hosts() {
    const CAP: usize = 4;
    const EVENTS: usize = 48;
    let cluster = NatsCluster::start(3).await;
    let cache = tempfile::tempdir().unwrap();
    let urls = cluster.urls(0..3);
    let hosts = FleetHost::start_all(&urls, &["cap-a", "cap-b", "cap-c"], cache.path()).await;
    let client = cluster.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();
    let fleet = deployer(&client).await;
    // Each host alone could run 16 at once: only the fleet-wide cap holds them to 4.
    let slow = bundle("slow", "probe", js_probe().max_in_flight(CAP as u64));
    fleet.deploy(&slow, None).await.unwrap();
    converged(&hosts.iter().collect::<Vec<_>>(), "slow", Some(&slow.version)).await;

    let js = jetstream::new(client.clone());
    publish_many(&js, "js.in", "s", EVENTS, |_| {
        json!({"op": "sleep", "ms": 100}).to_string()
    })
    .await;
    let mut intervals = Vec::new();
    for _ in 0..EVENTS {
        let message = next_message(&mut out, CONVERGE, "sleep report").await;
        let report: Value = serde_json::from_slice(&message.payload).unwrap();
        intervals.push((
            report["start_ns"].as_u64().unwrap(),
            report["end_ns"].as_u64().unwrap(),
        ));
    }
    // The handlers' own clock readings (one machine, one clock): at most CAP at once, fleet-wide.
    assert_eq!(
        max_overlap(&intervals),
        CAP,
        "handlers overlapping at once on all hosts"
    );
    let handled: Vec<u64> = hosts
        .iter()
        .map(|host| host.runtime.stats("slow").unwrap().succeeded)
        .collect();
    assert_eq!(
        handled.iter().sum::<u64>(),
        EVENTS as u64,
        "each event handled once: {handled:?}"
    );
    assert!(
        handled.iter().filter(|&&n| n > 0).count() >= 2,
        "the cap was shared by several hosts: {handled:?}"
    );
    for host in hosts {
        host.runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_a_function_everywhere_across_restarts_and_resume_handles_every_event_once() {
    const EVENTS: usize = 400;
    let cluster = NatsCluster::start(3).await;
    let cache = tempfile::tempdir().unwrap();
    let urls = cluster.urls(0..3);
    let mut hosts = FleetHost::start_all(&urls, &["pause-a", "pause-b", "pause-c"], cache.path()).await;
    let client = cluster.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();
    let fleet = deployer(&client).await;
    let paced = bundle("paced", "probe", js_probe().max_concurrency(4));
    fleet.deploy(&paced, None).await.unwrap();
    converged(&hosts.iter().collect::<Vec<_>>(), "paced", Some(&paced.version)).await;

    let js = jetstream::new(client.clone());
    let publisher = steady(&js, EVENTS, 10);
    let mut handled = Handled::default();
    handled
        .until(&mut out, 50, "50 events handled before the pause")
        .await;
    let said = sluice(&["pause", "paced"], &urls).await;
    let paused_at = unix_ns();
    assert!(
        said.contains("its events wait in stream `SLUICE_PACED`"),
        "{said}"
    );
    assert!(
        said.contains("paused paced: 3 live hosts run nothing of it"),
        "{said}"
    );
    assert!(!publisher.is_finished(), "paused while events were flowing");
    let consumer = js
        .get_stream("SLUICE_PACED")
        .await
        .unwrap()
        .consumer_info("sluice-paced")
        .await
        .unwrap();
    assert!(consumer.paused, "the consumer is paused on the server");
    publisher.await.unwrap();

    // Every host restarted while paused: none runs it again.
    for host in hosts.drain(..) {
        host.runtime.shutdown().await;
    }
    for id in ["pause-a2", "pause-b2", "pause-c2"] {
        hosts.push(FleetHost::start(&urls, id, cache.path()).await);
    }
    eventually(CONVERGE, "the restarted hosts hold paced paused", async || {
        let reports = fleet.hosts().await.unwrap();
        reports
            .iter()
            .filter(|seen| !seen.is_gone() && seen.report.paused.contains("paced"))
            .count()
            == 3
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    handled.take(&mut out);
    assert_eq!(
        handled.started_after(paused_at),
        0,
        "handlers started after `sluice pause` returned"
    );
    assert!(handled.starts.len() < EVENTS, "events are waiting");
    let status = sluice(&["status"], &urls).await;
    assert!(status.contains("PAUSED until resumed"), "{status}");
    assert!(status.contains("paced paused"), "{status}");

    let said = sluice(&["resume", "paced"], &urls).await;
    assert!(said.contains("resumed paced"), "{said}");
    handled.each_once(&mut out, EVENTS).await;
    for host in hosts {
        host.runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_core_function_takes_nothing_until_resumed() {
    let server = NatsServer::start();
    let cache = tempfile::tempdir().unwrap();
    let hosts = [
        FleetHost::start(&server.url(), "core-a", cache.path()).await,
        FleetHost::start(&server.url(), "core-b", cache.path()).await,
    ];
    let client = server.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();
    let fleet = deployer(&client).await;
    let echo = bundle("echo", "probe", super::probe(4).publish(["probe.out"]));
    fleet.deploy(&echo, None).await.unwrap();
    converged(&hosts.iter().collect::<Vec<_>>(), "echo", Some(&echo.version)).await;
    let said = sluice(&["pause", "echo", "--until", "10m"], &server.url()).await;
    assert!(
        said.contains("core NATS function, so events published while it is paused are not delivered"),
        "{said}"
    );
    assert!(said.contains("paused echo: 2 live hosts"), "{said}");
    for _ in 0..10 {
        let payload = json!({"op": "sleep", "ms": 1}).to_string();
        client.publish("fleet.in", payload.into()).await.unwrap();
    }
    client.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut handled = Handled::default();
    handled.take(&mut out);
    assert_eq!(handled.starts.len(), 0, "a paused core function took events");
    sluice(&["resume", "echo"], &server.url()).await;
    converged(&hosts.iter().collect::<Vec<_>>(), "echo", Some(&echo.version)).await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", "after-resume");
    let payload = json!({"op": "sleep", "ms": 1}).to_string();
    client
        .publish_with_headers("fleet.in", headers, payload.into())
        .await
        .unwrap();
    handled
        .until(&mut out, 1, "the event published after resume")
        .await;
    assert!(
        handled.starts.contains_key("after-resume"),
        "{:?}",
        handled.starts.keys()
    );
    for host in hosts {
        host.runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_host_finishes_its_events_exits_zero_and_loses_or_repeats_nothing() {
    const EVENTS: usize = 600;
    let server = NatsServer::start();
    let client = server.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();
    let fleet = deployer(&client).await;
    let steady_fn = bundle("steady", "probe", js_probe().max_concurrency(4));
    fleet.deploy(&steady_fn, None).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let spawn = |id: &str| spawn_fleet_process(&server.url(), id, state.path());
    let mut a = spawn("drain-a");
    let mut b = spawn("drain-b");
    reported_serving(&fleet, &["drain-a", "drain-b"], "steady", &steady_fn.version).await;

    let js = jetstream::new(client.clone());
    let publisher = steady(&js, EVENTS, 5);
    let mut handled = Handled::default();
    handled
        .until(&mut out, 100, "100 events handled before the drain")
        .await;
    let said = sluice(&["drain", "drain-a"], &server.url()).await;
    assert!(
        said.contains("drained drain-a: it finished its events and exited"),
        "{said}"
    );
    let exit = tokio::task::spawn_blocking(move || a.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "a drained host exits 0: {exit:?}");
    assert!(!publisher.is_finished(), "drained while events were flowing");

    // The same host id started again serves: a drain applies to the process it was made for.
    let a = spawn("drain-a");
    reported_serving(&fleet, &["drain-a"], "steady", &steady_fn.version).await;
    let said = sluice(&["drain", "drain-b", "--stay"], &server.url()).await;
    assert!(
        said.contains("drained drain-b: it runs nothing and stays up"),
        "{said}"
    );
    assert!(
        b.0.try_wait().unwrap().is_none(),
        "a host drained with --stay stays up"
    );
    let runs_nothing = async || {
        let hosts = fleet.hosts().await.unwrap();
        let b = hosts.iter().find(|seen| seen.report.host == "drain-b").unwrap();
        b.report.functions.is_empty() && b.report.drain.as_deref() == Some("drained")
    };
    assert!(
        runs_nothing().await,
        "drain --stay returned once the host ran nothing"
    );
    let status = sluice(&["status"], &server.url()).await;
    assert!(status.contains("drained"), "{status}");
    publisher.await.unwrap();

    handled.each_once(&mut out, EVENTS).await;
    assert!(runs_nothing().await, "the drained host still runs nothing");
    drop((a, b));
}
