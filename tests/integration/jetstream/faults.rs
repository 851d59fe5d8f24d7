//! No event is lost when the broker fails: a restart of the only server, and the loss of one
//! server of a cluster that two hosts share the work on.
//!
//! Outputs are counted from a stream the test creates on `probe.out`, not from a
//! subscription: a core subscriber misses whatever is published while it reconnects. The
//! outputs carry a `Nats-Msg-Id` that is the same on every redelivery, so the stream keeps
//! each event's output once, and redeliveries show up only in the hosts' counts.

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::{self, stream};
use serde_json::json;
use sluice_tests::{FunctionsDir, HostOptions, Manifest, NatsCluster, Sluice, drained, publish_many};

use super::{ids_in_stream, js_probe, stream_holds, stream_messages, stream_reader};

/// The stream capturing the probe's outputs.
const OUT: &str = "OUT";
/// How long the outputs of thousands of events, a broker outage and redeliveries may take.
const RECOVERY: Duration = Duration::from_secs(90);

/// A JetStream probe on `js.in` with a short ack wait (events a broken connection left
/// unacknowledged come back soon).
fn manifest() -> Manifest {
    js_probe().ack_wait("3s")
}

/// Creates stream `name` on `subject` with `replicas` replicas.
async fn create_stream(js: &jetstream::Context, name: &str, subject: &str, replicas: usize) {
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: vec![subject.into()],
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|error| panic!("create stream {name}: {error}"));
}

/// Checks that stream [`OUT`] holds exactly one output for each of `events` ids and returns
/// how many outputs the stream refused as duplicates (`succeeded` minus the events).
async fn every_event_once(
    js: &jetstream::Context,
    reader: &PullConsumer,
    events: u64,
    succeeded: u64,
) -> u64 {
    let seen = ids_in_stream(js, OUT, reader).await;
    let expected: Vec<String> = (0..events).map(|n| format!("e-{n}")).collect();
    let missing: Vec<&String> = expected.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {events} events have no output, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(seen.len() as u64, events, "outputs of unknown events: {seen:?}");
    assert!(
        seen.values().all(|&n| n == 1),
        "the stream kept one output per event"
    );
    assert!(succeeded >= events, "{succeeded} successes for {events} events");
    succeeded - events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_no_jetstream_event() {
    const EVENTS: u64 = 3000;
    let stage = Sluice::builder().add("orders", "probe", manifest()).stage().await;
    let js = stage.js();
    create_stream(&js, OUT, "probe.out", 1).await;
    let reader = stream_reader(&js, OUT).await;
    let mut sluice = stage.start().await;
    let started = Instant::now();

    publish_many(&js, "js.in", "e", EVENTS as usize, |_| {
        json!({"op": "echo"}).to_string()
    })
    .await;
    stream_holds(&js, OUT, EVENTS / 10, RECOVERY, "a tenth of the outputs").await;
    let before = stream_messages(&js, OUT).await.expect("stream info");
    assert!(
        before < EVENTS,
        "all {EVENTS} events were handled before the restart"
    );
    tokio::task::block_in_place(|| sluice.server.restart());
    let restarted = started.elapsed();

    // The host and the test's client reconnect by themselves; the consumer's state survived
    // in the store, and unacknowledged events come back after the ack wait.
    stream_holds(
        &js,
        OUT,
        EVENTS,
        RECOVERY,
        "every event's output after the restart",
    )
    .await;
    drained(&js, "SLUICE_ORDERS", "sluice-orders").await;
    let succeeded = sluice.host.stats("orders").unwrap().succeeded;
    let duplicates = every_event_once(&js, &reader, EVENTS, succeeded).await;
    eprintln!(
        "restart after {restarted:?} with {before} of {EVENTS} outputs; all in after {:?}; {duplicates} handled twice",
        started.elapsed()
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_on_a_cluster_share_the_work_and_survive_losing_a_server() {
    const EVENTS: u64 = 5000;
    let mut cluster = NatsCluster::start(3).await;
    {
        let js = jetstream::new(cluster.client().await);
        create_stream(&js, "ORDERS", "js.in", 3).await;
        create_stream(&js, OUT, "probe.out", 3).await;
        // Sluice would create the dead-letter stream with one replica, on any one server.
        create_stream(&js, "SLUICE_DLQ", "sluice.dlq.>", 3).await;
    }
    // A cluster, not one server: the hosts are started on it by hand.
    let dir = FunctionsDir::new();
    dir.add("orders", "probe", manifest().stream("ORDERS"));
    let hosts = HostOptions::default();

    // Host A knows every server and is killed away from the one it picked; host B and the
    // test's client use the other two.
    let host_a = hosts.start(cluster.urls(0..cluster.len()), dir.path()).await;
    let port = host_a.client().server_info().port;
    let victim = (0..cluster.len())
        .find(|&index| cluster.port(index) == port)
        .unwrap_or_else(|| panic!("host A is connected to port {port}, no node of the cluster"));
    let others: Vec<usize> = (0..cluster.len()).filter(|&index| index != victim).collect();
    let host_b = hosts.start(cluster.urls(others.clone()), dir.path()).await;
    let js = jetstream::new(cluster.client_of(others).await);
    let reader = stream_reader(&js, OUT).await;
    let started = Instant::now();

    publish_many(&js, "js.in", "e", EVENTS as usize, |_| {
        json!({"op": "echo"}).to_string()
    })
    .await;
    stream_holds(&js, OUT, EVENTS / 10, RECOVERY, "a tenth of the outputs").await;
    let before = stream_messages(&js, OUT).await.expect("stream info");
    assert!(
        before < EVENTS,
        "all {EVENTS} events were handled before the kill"
    );
    tokio::task::block_in_place(|| cluster.kill(victim));
    let killed = started.elapsed();

    stream_holds(
        &js,
        OUT,
        EVENTS,
        RECOVERY,
        "every event's output after losing a server",
    )
    .await;
    drained(&js, "ORDERS", "sluice-orders").await;
    let (a, b) = (
        host_a.stats("orders").unwrap().succeeded,
        host_b.stats("orders").unwrap().succeeded,
    );
    let duplicates = every_event_once(&js, &reader, EVENTS, a + b).await;
    eprintln!(
        "killed n{victim} after {killed:?} with {before} of {EVENTS} outputs; all in after {:?}; host A handled {a}, host B {b}; {duplicates} handled twice",
        started.elapsed()
    );
    assert!(a > 0 && b > 0, "the hosts shared the work: A {a}, B {b}");
    assert_ne!(
        host_a.client().server_info().port,
        port,
        "host A moved to a live server"
    );
    host_a.shutdown().await;
    host_b.shutdown().await;
}
