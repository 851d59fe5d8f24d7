//! Shadow versions: `sluice deploy --shadow` runs a candidate beside the live version on every
//! host, with nothing sent, and `sluice shadow report` says, event by event, where it differs.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use sluice_runtime::shadow::{Verdict, read};
use sluice_tests::{
    FleetHost, Manifest, NatsServer, WAIT, bundle, consumer_info, deployer, eventually, header, next_message,
    publish_js, sluice_command,
};

use super::{CONVERGE, converged};

/// order-total on stream SHADOWED, at least once; its cap of 64 gives a shadow 16 instances,
/// more than the orders a test sends at once, so none is skipped as busy.
fn order_total() -> Manifest {
    Manifest::new()
        .subjects(["orders.placed"])
        .jetstream()
        .stream("SHADOWED")
        .publish(["orders.totalled"])
        .max_concurrency(64)
}

/// Twelve orders (two over 10,000.00, one with a gift) and one that is not an order.
fn orders() -> Vec<(usize, String)> {
    let mut orders: Vec<(usize, String)> = (1..=12)
        .map(|n| {
            let price = if n == 3 || n == 7 { 2_000_000 } else { 100 * n as u64 };
            let gift = n == 5;
            let order = json!({"id": format!("o-{n}"), "customer": "c-1", "items": [{"sku": "A", "qty": 1, "price": price, "gift": gift}]});
            (n, order.to_string())
        })
        .collect();
    orders.push((13, "not an order".to_owned()));
    orders
}

/// What live published and dead-lettered for the orders of `phase`, with the event ids taken
/// out (each phase has its own), in order of the orders.
async fn run_phase(server: &NatsServer, phase: &str) -> Vec<String> {
    let client = server.client().await;
    let js = async_nats::jetstream::new(client.clone());
    let mut totals = client.subscribe("orders.totalled").await.unwrap();
    let mut dead = client.subscribe("sluice.dlq.order-total").await.unwrap();
    client.flush().await.unwrap();
    for (n, order) in orders() {
        publish_js(&js, "orders.placed", &format!("{phase}-{n}"), order).await;
    }
    let mut seen = Vec::new();
    for n in 1..=12 {
        let message = next_message(&mut totals, WAIT, &format!("{phase} total {n}")).await;
        let id = header(&message, "Nats-Msg-Id")
            .unwrap_or_default()
            .replace(&format!("{phase}-"), "PHASE-");
        seen.push(format!(
            "{} {} {id}",
            message.subject,
            String::from_utf8_lossy(&message.payload)
        ));
    }
    let letter = next_message(&mut dead, WAIT, &format!("{phase} dead letter")).await;
    let error = header(&letter, "Sluice-Dlq-Error").unwrap_or_default();
    seen.push(format!(
        "{} {} {}",
        String::from_utf8_lossy(&letter.payload),
        header(&letter, "Sluice-Dlq-Reason").unwrap_or_default(),
        error.replace(&format!("{phase}-"), "PHASE-")
    ));
    seen.sort();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_reports_exactly_the_events_it_changes_and_live_is_untouched() {
    let server = NatsServer::start();
    let cache = tempfile::tempdir().unwrap();
    let client = server.client().await;
    let js = async_nats::jetstream::new(client.clone());
    let fleet = deployer(&client).await;
    let live = bundle("order-total", "order-total", order_total());
    fleet.deploy(&live, None).await.unwrap();
    let host = FleetHost::start(&server.url(), "shadowing-host", cache.path()).await;
    converged(&[&host], "order-total", Some(&live.version)).await;

    let without = run_phase(&server, "first").await;

    let candidate = bundle("order-total", "order-total-candidate", order_total());
    let refused = fleet.shadow(&live, 1.0, Vec::new(), None).await.unwrap_err();
    assert!(refused.to_string().contains("live already"), "{refused}");
    fleet.shadow(&candidate, 1.0, Vec::new(), None).await.unwrap();
    eventually(CONVERGE, "the host shadows the candidate", async || {
        host.runtime.shadow_version("order-total").as_deref() == Some(candidate.version.as_str())
    })
    .await;

    let with = run_phase(&server, "second").await;
    assert_eq!(
        with, without,
        "live outputs and dead letters are the same with a shadow"
    );
    eventually(WAIT, "every event of both phases acked once", async || {
        let consumer = consumer_info(&js, "SHADOWED", "sluice-order-total").await;
        consumer.num_ack_pending == 0 && consumer.ack_floor.consumer_sequence == 26
    })
    .await;
    let consumer = consumer_info(&js, "SHADOWED", "sluice-order-total").await;
    assert_eq!(
        (consumer.num_redelivered, consumer.delivered.consumer_sequence),
        (0, 26)
    );

    let results = async || read(&js, "order-total", Some(&candidate.version)).await.unwrap();
    eventually(WAIT, "13 shadow results", async || results().await.len() == 13).await;
    let results = results().await;
    let ids = |verdict: Verdict| -> BTreeSet<String> {
        results
            .iter()
            .filter(|result| result.verdict == verdict)
            .map(|result| result.event_id.clone())
            .collect()
    };
    assert_eq!(
        ids(Verdict::DifferentOutputs),
        BTreeSet::from(["second-3".to_owned(), "second-7".to_owned()])
    );
    assert_eq!(
        ids(Verdict::CandidateFailed),
        BTreeSet::from(["second-5".to_owned()])
    );
    assert_eq!(ids(Verdict::Same).len(), 10, "{results:#?}");
    assert!(ids(Verdict::LiveFailed).is_empty() && ids(Verdict::BothFailed).is_empty());

    let mut command = sluice_command();
    command.args(["shadow", "report", "order-total", "--nats", &server.url()]);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "13 events compared",
        "same               10",
        "different outputs  2",
        "candidate failed   1",
        "message 1: total: 2000000 -> 2020000",
        "candidate: trapped:",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
    let mut command = sluice_command();
    command.args([
        "shadow",
        "report",
        "order-total",
        "--json",
        "--nats",
        &server.url(),
    ]);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["counts"]["different_outputs"], 2, "{report:#}");
    assert_eq!(report["skipped"], 0, "{report:#}");

    let mut command = sluice_command();
    command.args(["promote", "order-total", "--nats", &server.url()]);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    converged(&[&host], "order-total", Some(&candidate.version)).await;
    eventually(CONVERGE, "the shadow is gone once promoted", async || {
        host.runtime.shadow_version("order-total").is_none()
    })
    .await;
    assert!(fleet.shadow_of("order-total").await.unwrap().is_none());
    host.runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_writes_no_live_state_sends_no_request_and_calls_no_unnamed_host() {
    let manifest = Manifest::new()
        .subjects(["keeper.in"])
        .buckets(["state"])
        .publish(["probe.out"])
        .request(["prices.quote"])
        .http(["127.0.0.1:9"]);
    let sluice = sluice_tests::Sluice::builder()
        .add("keeper", "probe", manifest.clone())
        .start()
        .await;
    let candidate_dir = sluice_tests::FunctionsDir::new();
    candidate_dir.add("keeper", "probe", manifest.max_concurrency(64));
    let wasm = candidate_dir.path().join("keeper.wasm");
    let options = sluice_runtime::shadow::ShadowOptions { sample: 1.0 };
    sluice
        .host
        .set_shadow("keeper", Some((wasm.as_path(), &[], options)))
        .await
        .unwrap();
    let mut quotes = sluice.subscribe("prices.quote").await;
    let responder = sluice.client.clone();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    tokio::spawn(async move {
        while let Some(request) = futures::StreamExt::next(&mut quotes).await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if let Some(reply) = request.reply {
                responder.publish(reply, "42".into()).await.unwrap();
            }
        }
    });
    let mut out = sluice.subscribe("probe.out").await;
    let js = sluice.js();
    let requests = [
        json!({"op": "kv-set", "bucket": "state", "key": "k", "value": "live"}),
        json!({"op": "request", "subject": "prices.quote", "payload": "p", "timeout_ms": 200}),
        json!({"op": "http", "url": "http://127.0.0.1:9/hook", "body": "b", "timeout_ms": 200}),
    ];
    for (n, request) in requests.iter().enumerate() {
        sluice
            .publish_event("keeper.in", &format!("k-{n}"), request.to_string())
            .await;
        next_message(&mut out, WAIT, &format!("live output {n}")).await;
    }
    let results = async || read(&js, "keeper", None).await.unwrap();
    eventually(WAIT, "three shadow results", async || results().await.len() == 3).await;
    let results = results().await;

    let state = js.get_key_value("state").await.unwrap();
    let history: Vec<_> = futures::StreamExt::collect::<Vec<_>>(state.history("k").await.unwrap()).await;
    assert_eq!(history.len(), 1, "only live wrote the key");
    assert_eq!(state.get("k").await.unwrap().unwrap(), "live".as_bytes());
    let result = |id: &str| {
        results
            .iter()
            .find(|result| result.event_id == id)
            .unwrap()
            .clone()
    };
    let output =
        |id: &str| -> Value { serde_json::from_str(&result(id).candidate.messages[0].payload).unwrap() };
    assert_eq!(
        output("k-0")["revision"],
        2,
        "the shadow saw live's write, and wrote over it"
    );
    let refused = result("k-1");
    assert_eq!(refused.verdict, Verdict::CandidateFailed, "{refused:?}");
    assert!(
        refused
            .candidate
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("a shadow version sends no requests"),
        "{refused:?}"
    );
    assert_eq!(
        asked.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "only live asked"
    );
    assert_eq!(output("k-2")["error"], "denied", "{:?}", result("k-2"));
    sluice.shutdown().await;
}
