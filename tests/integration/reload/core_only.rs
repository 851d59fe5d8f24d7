//! Hot reload on a server without JetStream while a developer watches everything
//! (`nats sub '>'`). The wildcard subscriber receives every JetStream API request, so none is
//! answered "no responders": a deploy that asked JetStream anything would wait for its
//! timeout. The host learns once per connection that JetStream is absent and asks nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sluice_runtime::ReloadEvent;
use sluice_tests::{Manifest, Sluice, WAIT, WildcardSubscriber, eventually, next_message};

use super::{reload_of, steady_stream, versioned, versions_by_event, write_then_rename};

/// How long a swap may take from the write to the new version serving, with room for a
/// busy machine: the settle time, loading the component (from the compile cache: the swaps
/// change only the manifest) and the deploy. The JetStream timeouts were 20 s per deploy.
const SWAP_BOUND: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaps_and_an_undeploy_are_applied_at_once_on_a_core_only_server_with_a_wildcard_subscriber() {
    const SWAPS: u32 = 6;
    let cache = tempfile::tempdir().unwrap();
    let stage = Sluice::builder()
        .core_only()
        .add("live", "probe", versioned(0))
        .watch()
        .host(|host| host.compile_cache(cache.path()))
        .stage()
        .await;
    // There before the host connects, so it is there when the host learns about JetStream.
    let wildcard = WildcardSubscriber::connect(&stage.server.url()).await;
    let sluice = stage.start().await;
    let mut reloads = sluice.host.reload_events();
    let mut out = sluice.subscribe("probe.out").await;
    // A second reader of the answers, to see when each new version answers.
    let mut answers = sluice.subscribe("probe.out").await;

    let swapping = Arc::new(AtomicBool::new(true));
    let publisher = steady_stream(sluice.client.clone(), swapping.clone());
    let manifest = sluice.dir.path().join("live.toml");
    answered_by(&mut answers, 0).await;
    let mut took = Vec::new();
    for version in 1..=SWAPS {
        let written = Instant::now();
        write_then_rename(&manifest, versioned(version).to_string().as_bytes());
        match reload_of(&mut reloads, "live").await {
            ReloadEvent::Deployed { .. } => {}
            other => panic!("swap {version}: {other:?}"),
        }
        answered_by(&mut answers, version).await;
        took.push(written.elapsed());
    }
    swapping.store(false, Ordering::Relaxed);
    let sent = publisher.await.unwrap();
    assert!(
        took.iter().all(|swap| *swap < SWAP_BOUND),
        "every swap applied within {SWAP_BOUND:?}: {took:?}"
    );

    // Core NATS on loopback with a host keeping up: nothing lost, nothing twice, and every
    // version answered some of the stream, the last one the events after the last swap.
    let by_id = versions_by_event(&mut out, sent).await;
    let answered: std::collections::BTreeSet<u32> = by_id.iter().copied().collect();
    assert_eq!(
        answered,
        (0..=SWAPS).collect(),
        "each version answered part of the stream"
    );
    assert_eq!(
        *by_id.last().unwrap(),
        SWAPS,
        "the last events ran the last version"
    );
    assert!(
        wildcard.seen() >= u64::from(sent),
        "the wildcard subscriber saw the events"
    );

    let removed = Instant::now();
    std::fs::remove_file(sluice.dir.path().join("live.wasm")).unwrap();
    assert_eq!(
        reload_of(&mut reloads, "live").await,
        ReloadEvent::Undeployed { name: "live".into() }
    );
    let undeploy = removed.elapsed();
    assert!(
        undeploy < SWAP_BOUND,
        "undeployed within {SWAP_BOUND:?}: {undeploy:?}"
    );
    assert!(sluice.host.functions().is_empty());
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_that_need_jetstream_are_refused_in_one_line_on_a_core_only_server() {
    // `plain` puts the probe component in the compile cache: loading the others takes no
    // compile.
    let cache = tempfile::tempdir().unwrap();
    let stage = Sluice::builder()
        .core_only()
        .add("plain", "probe", versioned(0))
        .watch()
        .host(|host| host.compile_cache(cache.path()))
        .stage()
        .await;
    let _wildcard = WildcardSubscriber::connect(&stage.server.url()).await;
    let sluice = stage.start().await;
    let mut reloads = sluice.host.reload_events();
    let cases = [
        (
            "orders",
            Manifest::new().subjects(["orders.>"]).jetstream(),
            "function `orders`: trigger.mode = \"jetstream\" needs JetStream, which this NATS connection does not offer",
        ),
        (
            "counter",
            Manifest::new().subjects(["count"]).buckets(["counts"]),
            "function `counter`: [state] buckets needs JetStream, which this NATS connection does not offer",
        ),
    ];
    for (name, manifest, expected) in cases {
        let written = Instant::now();
        // The manifest first: the component alone would deploy as a core function.
        sluice
            .dir
            .write(&format!("{name}.toml"), manifest.to_string().as_bytes());
        sluice.dir.add(name, "probe", "");
        let error = loop {
            match reload_of(&mut reloads, name).await {
                ReloadEvent::Failed { error, .. } if error.contains("JetStream") => break error,
                // The manifest alone, before the component arrived, deploys nothing.
                ReloadEvent::Failed { .. } | ReloadEvent::Unchanged { .. } => {}
                other => panic!("{name}: {other:?}"),
            }
        };
        let took = written.elapsed();
        assert!(error.starts_with(expected), "{error}");
        assert!(error.contains("start nats-server with -js"), "{error}");
        // At most the one account-info request of the connection waits for its timeout.
        let bound = sluice_runtime::nats::jetstream_availability::PROBE_TIMEOUT + SWAP_BOUND;
        assert!(took < bound, "{name} refused within {bound:?}: {took:?}");
    }
    assert_eq!(sluice.host.functions(), ["plain"]);
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_known_about_jetstream_is_learned_again_after_a_reconnect() {
    let cache = tempfile::tempdir().unwrap();
    let mut sluice = Sluice::builder()
        .core_only()
        .add("plain", "probe", versioned(0))
        .watch()
        .host(|host| host.compile_cache(cache.path()))
        .start()
        .await;
    let mut reloads = sluice.host.reload_events();
    let orders = Manifest::new().subjects(["orders.>"]).jetstream();
    sluice.dir.write("orders.toml", orders.to_string().as_bytes());
    sluice.dir.add("orders", "probe", "");
    match reload_of(&mut reloads, "orders").await {
        ReloadEvent::Failed { error, .. } => assert!(error.contains("needs JetStream"), "{error}"),
        other => panic!("refused without JetStream: {other:?}"),
    }

    // The broker comes back with JetStream: the host's new connection is asked anew.
    sluice.server.restart_with_jetstream(true);
    let host = sluice.host.client().clone();
    eventually(WAIT, "the host reconnected", async || {
        host.connection_state() == async_nats::connection::State::Connected
    })
    .await;
    write_then_rename(
        &sluice.dir.path().join("orders.toml"),
        orders.max_concurrency(2).to_string().as_bytes(),
    );
    match reload_of(&mut reloads, "orders").await {
        ReloadEvent::Deployed { .. } => {}
        other => panic!("deployed once JetStream is there: {other:?}"),
    }
    sluice.shutdown().await;
}

/// Reads `answers` until version `version` answers (an older one may answer before it).
async fn answered_by(answers: &mut async_nats::Subscriber, version: u32) {
    loop {
        let message = next_message(answers, WAIT, "the new version answers").await;
        let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        let answered: u32 = body["value"].as_str().unwrap().parse().unwrap();
        assert!(
            answered <= version,
            "version {answered} answered before {version}"
        );
        if answered == version {
            return;
        }
    }
}
