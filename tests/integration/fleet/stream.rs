//! A new version rolled out across three hosts while a JetStream function takes a steady
//! stream: every event handled, none lost, each output kept once (`Nats-Msg-Id`), and
//! `sluice deploy --wait` returns only when all hosts serve the new version.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use serde_json::json;
use sluice_tests::{
    FleetHost, FunctionsDir, KillOnDrop, NatsCluster, bundle, deployer, drained, publish_many,
    sluice_command, spawn_fleet_process,
};

use super::converged;
use crate::jetstream::{ids_in_stream, js_probe, stream_holds, stream_reader};

/// Events in the stream, published in batches while the rollout happens.
const EVENTS: usize = 2000;
const BATCHES: usize = 80;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_under_a_steady_jetstream_stream_loses_and_repeats_nothing() {
    let cluster = NatsCluster::start(3).await;
    let cache = tempfile::tempdir().unwrap();
    let urls = cluster.urls(0..3);
    let hosts = FleetHost::start_all(&urls, &["js-a", "js-b", "js-c"], cache.path()).await;
    let all: Vec<&FleetHost> = hosts.iter().collect();
    let client = cluster.client().await;
    let js = jetstream::new(client.clone());
    js.create_stream(stream::Config {
        name: "OUT".into(),
        subjects: vec!["probe.out".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let reader = stream_reader(&js, "OUT").await;
    let fleet = deployer(&client).await;
    let v1 = bundle("orders", "probe", js_probe().max_concurrency(4));
    fleet.deploy(&v1, None).await.unwrap();
    converged(&all, "orders", Some(&v1.version)).await;

    let publisher = {
        let js = js.clone();
        tokio::spawn(async move {
            for batch in 0..BATCHES {
                let prefix = format!("b{batch}");
                publish_many(&js, "js.in", &prefix, EVENTS / BATCHES, |_| {
                    json!({"op": "echo"}).to_string()
                })
                .await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    let dir = FunctionsDir::new();
    dir.add("orders", "probe", js_probe().max_concurrency(8));
    let state = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("orders.wasm");
    let deploy = tokio::task::spawn_blocking(move || {
        sluice_command()
            .arg("deploy")
            .arg(&wasm)
            .args(["--wait", "--by", "rollout-test", "--nats", &urls, "--state-dir"])
            .arg(state.path())
            .output()
            .expect("run sluice deploy")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&deploy.stdout);
    assert!(
        deploy.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&deploy.stderr)
    );
    assert!(stdout.contains("done: 3 serving, 0 failed"), "{stdout}");
    let v2 = fleet.desired("orders").await.unwrap().expect("deployed").version;
    assert_ne!(v2, v1.version);
    for host in &hosts {
        assert_eq!(
            host.version("orders").as_deref(),
            Some(v2.as_str()),
            "{} serves v2 once --wait returned",
            host.id
        );
    }
    assert!(
        !publisher.is_finished(),
        "the rollout happened while events were flowing"
    );
    publisher.await.unwrap();

    stream_holds(&js, "OUT", EVENTS as u64, super::CONVERGE, "every event's output").await;
    drained(&js, "SLUICE_ORDERS", "sluice-orders").await;
    let seen = ids_in_stream(&js, "OUT", &reader).await;
    assert_eq!(seen.len(), EVENTS, "one output per event");
    assert!(seen.values().all(|&n| n == 1), "no output kept twice");
    let handled: u64 = hosts
        .iter()
        .map(|h| h.runtime.stats("orders").unwrap().succeeded)
        .sum();
    assert!(handled >= EVENTS as u64, "{handled} handled");
    for host in hosts {
        host.runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_host_killed_mid_stream_loses_nothing() {
    const KILLED_EVENTS: usize = 2000;
    let server = sluice_tests::NatsServer::start();
    let client = server.client().await;
    let js = jetstream::new(client.clone());
    js.create_stream(stream::Config {
        name: "OUT".into(),
        subjects: vec!["probe.out".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let reader = stream_reader(&js, "OUT").await;
    let fleet = deployer(&client).await;
    let version = bundle("orders", "probe", js_probe().ack_wait("3s")).version;
    fleet
        .deploy(&bundle("orders", "probe", js_probe().ack_wait("3s")), None)
        .await
        .unwrap();
    // Hosts are `sluice up --fleet` processes, to be killed with SIGKILL.
    let state = tempfile::tempdir().unwrap();
    let mut hosts: Vec<KillOnDrop> = ["kill-a", "kill-b"]
        .iter()
        .map(|id| spawn_fleet_process(&server.url(), id, state.path()))
        .collect();
    sluice_tests::eventually(super::CONVERGE, "both hosts serve orders", async || {
        let hosts = fleet.hosts().await.unwrap();
        hosts.len() == 2
            && hosts
                .iter()
                .all(|h| h.report.progress("orders", &version) == sluice_runtime::fleet::Progress::Serving)
    })
    .await;

    let publisher = {
        let js = js.clone();
        tokio::spawn(async move {
            publish_many(&js, "js.in", "k", KILLED_EVENTS, |_| {
                json!({"op": "echo"}).to_string()
            })
            .await;
        })
    };
    stream_holds(&js, "OUT", 200, super::CONVERGE, "some outputs before the kill").await;
    hosts[0].0.kill().expect("SIGKILL the first host");
    let _ = hosts[0].0.wait();
    publisher.await.unwrap();
    stream_holds(
        &js,
        "OUT",
        KILLED_EVENTS as u64,
        Duration::from_secs(90),
        "every event's output",
    )
    .await;
    drained(&js, "SLUICE_ORDERS", "sluice-orders").await;
    let seen = ids_in_stream(&js, "OUT", &reader).await;
    assert_eq!(seen.len(), KILLED_EVENTS, "one output per event");
    assert!(seen.values().all(|&n| n == 1), "no output kept twice");
    drop(hosts);
}
