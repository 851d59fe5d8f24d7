//! Proof that JetStream mode loses nothing: a host killed with SIGKILL, a graceful shutdown
//! under load, hostile handlers beside a healthy one, and bad input.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_tests::{
    Manifest, Sluice, WAIT, drained, header, next_message, publish_js, publish_many, spawn_host, until_ok,
};

use super::{count_ids, count_more, js_probe};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_mid_stream_loses_nothing_and_repeats_only_what_was_in_flight() {
    const EVENTS: usize = 20_000;
    const CAP: u32 = 16;
    // Hosts are `sluice up` processes here, to be killed with SIGKILL.
    let stage = Sluice::builder()
        .add(
            "orders",
            "probe",
            js_probe().max_concurrency(CAP.into()).ack_wait("2s"),
        )
        .stage()
        .await;
    let state = tempfile::tempdir().unwrap();
    let js = stage.js();
    let mut out = stage.subscribe("probe.out").await;

    let mut first = spawn_host(&stage.server, &stage.dir, state.path());
    // The stream exists once the host has deployed the function.
    let what = "the first host deploying the function";
    until_ok(WAIT, Duration::from_millis(20), what, async || {
        js.get_stream("SLUICE_ORDERS").await
    })
    .await;
    publish_many(&js, "js.in", "k", EVENTS, |_| json!({"op": "echo"}).to_string()).await;
    let mut all = HashMap::new();
    count_more(&mut out, &mut all, WAIT, "a quarter of the events", |seen| {
        seen.len() >= EVENTS / 4
    })
    .await;
    first.kill().expect("SIGKILL the first host");
    first.wait().unwrap();

    let mut second = spawn_host(&stage.server, &stage.dir, state.path());
    count_more(
        &mut out,
        &mut all,
        Duration::from_secs(120),
        "every event",
        |seen| seen.len() >= EVENTS,
    )
    .await;
    assert_eq!(all.len(), EVENTS, "every event was handled");
    let extra: u32 = all.values().map(|n| n - 1).sum();
    assert!(
        extra <= CAP,
        "{extra} events were handled twice; at most {CAP} were in flight when the host died"
    );
    drained(&js, "SLUICE_ORDERS", "sluice-orders").await;
    second.kill().unwrap();
    second.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_under_load_hands_back_what_it_did_not_start() {
    const EVENTS: usize = 600;
    let stage = Sluice::builder()
        .add("orders", "probe", js_probe().max_concurrency(8))
        .stage()
        .await;
    let js = stage.js();
    let mut out = stage.subscribe("probe.out").await;
    let first = stage.start().await;
    publish_many(&js, "js.in", "g", EVENTS, |_| {
        json!({"op": "sleep", "ms": 20}).to_string()
    })
    .await;

    let mut handled: HashMap<String, u32> = HashMap::new();
    let record = |handled: &mut HashMap<String, u32>, message: async_nats::Message| {
        let report: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        *handled
            .entry(report["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    };
    for _ in 0..100 {
        record(
            &mut handled,
            next_message(&mut out, WAIT, "events handled before the shutdown").await,
        );
    }
    let (stage, report) = first.stop().await;
    assert_eq!(
        report.abandoned, 0,
        "in-flight events finished within the grace period"
    );
    let second = stage.start().await;
    let deadline = Instant::now() + WAIT;
    while handled.len() < EVENTS {
        let left = deadline.saturating_duration_since(Instant::now());
        record(
            &mut handled,
            next_message(&mut out, left, "every event handled by one host or the other").await,
        );
    }
    drained(&js, "SLUICE_ORDERS", "sluice-orders").await;
    let twice: Vec<_> = handled.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "handled twice: {twice:?}");
    assert!(
        second.host.stats("orders").unwrap().succeeded > 0,
        "the second host took the rest"
    );
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_handlers_are_contained_and_dead_lettered_with_the_right_reason() {
    let hostile = Manifest::new()
        .subjects(["hostile.in"])
        .jetstream()
        .timeout("300ms")
        .memory("32MiB")
        .retry(2, "10ms", "10ms")
        .publish(["probe.out"]);
    let sluice = Sluice::builder()
        .add("hostile", "probe", hostile)
        .add("healthy", "probe", js_probe())
        .start()
        .await;
    let js = sluice.js();
    let mut out = sluice.subscribe("probe.out").await;
    let mut dlq = sluice.subscribe("sluice.dlq.hostile").await;

    let attacks = [
        ("spin", json!({"op": "spin"}), "timeout"),
        ("hog", json!({"op": "hog"}), "out_of_memory"),
        ("recurse", json!({"op": "recurse"}), "trap"),
        ("trap", json!({"op": "trap"}), "trap"),
        ("flood", json!({"op": "flood", "count": 5000}), "permanent"),
        (
            "forbidden",
            json!({"op": "publish", "subject": "payments.refund"}),
            "permanent",
        ),
    ];
    for (id, payload, _) in &attacks {
        publish_js(&js, "hostile.in", id, payload.to_string()).await;
    }
    publish_many(&js, "js.in", "ok", 300, |_| json!({"op": "echo"}).to_string()).await;

    let healthy = count_ids(&mut out, WAIT, "every healthy event", |seen| seen.len() == 300).await;
    assert!(
        healthy.keys().all(|id| id.starts_with("ok-")),
        "nothing from the hostile handler got out"
    );
    let mut reasons = HashMap::new();
    for _ in 0..attacks.len() {
        let letter = next_message(&mut dlq, WAIT, "a hostile event's dead letter").await;
        let id = header(&letter, "Sluice-Event-Id").unwrap().to_owned();
        let reason = header(&letter, "Sluice-Dlq-Reason").unwrap().to_owned();
        let error = header(&letter, "Sluice-Dlq-Error").unwrap().to_owned();
        reasons.insert(id, (reason, error));
    }
    for (id, _, expected) in &attacks {
        let (reason, error) = &reasons[*id];
        assert_eq!(reason, expected, "{id}: {error}");
    }
    assert!(
        reasons["recurse"].1.contains("stack overflow"),
        "{}",
        reasons["recurse"].1
    );
    assert!(
        reasons["flood"].1.contains("at most 1000 messages"),
        "{}",
        reasons["flood"].1
    );
    assert!(
        reasons["forbidden"].1.contains("payments.refund"),
        "{}",
        reasons["forbidden"].1
    );
    drained(&js, "SLUICE_HOSTILE", "sluice-hostile").await;
    drained(&js, "SLUICE_HEALTHY", "sluice-healthy").await;
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_outcome_and_nothing_is_lost() {
    let bad = Manifest::new()
        .subjects(["bad.>"])
        .jetstream()
        .max_payload("4KiB")
        .publish(["probe.out"]);
    let sluice = Sluice::builder().add("bad", "probe", bad).start().await;
    let js = sluice.js();
    let mut out = sluice.subscribe("probe.out").await;
    let mut dlq = sluice.subscribe("sluice.dlq.bad").await;

    let echo = json!({"op": "echo"}).to_string();
    publish_js(&js, "bad.in", "oversized", format!("{echo:<8192}")).await;
    publish_js(&js, "bad.in", "empty", "").await;
    publish_js(&js, "bad.in", "binary", &b"\xff\xfe\x00\x80op"[..]).await;
    publish_js(&js, "bad.in", "not-json", "{\"op\": echo").await;
    publish_js(&js, "bad.ünï-cødé_$x", "odd-subject", echo.clone()).await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", "many-headers");
    for n in 0..2000 {
        headers.insert(format!("x-h{n}").as_str(), "v");
    }
    js.publish_with_headers("bad.in", headers, echo.into())
        .await
        .unwrap()
        .await
        .unwrap();

    let handled = count_ids(&mut out, WAIT, "the two valid events", |seen| seen.len() == 2).await;
    assert!(handled.contains_key("odd-subject") && handled.contains_key("many-headers"));
    let mut outcomes = HashMap::new();
    for _ in 0..4 {
        let letter = next_message(&mut dlq, WAIT, "a bad event's dead letter").await;
        let id = header(&letter, "Sluice-Event-Id").unwrap().to_owned();
        outcomes.insert(id, header(&letter, "Sluice-Dlq-Reason").unwrap().to_owned());
    }
    assert_eq!(outcomes["oversized"], "payload_too_large");
    for id in ["empty", "binary", "not-json"] {
        assert_eq!(outcomes[id], "permanent", "{id}");
    }
    drained(&js, "SLUICE_BAD", "sluice-bad").await;
    let stats = sluice.host.stats("bad").unwrap();
    assert_eq!((stats.succeeded, stats.dead_lettered), (2, 4));
    sluice.shutdown().await;
}
