//! Delayed events (`publish-after`, `publish-at`, `cancel-scheduled`): held in the cluster's
//! delay stream as message schedules, sent only when the attempt that scheduled them
//! succeeds, fired once at their time and forwarded by one host, cancellable, and kept across
//! a restart of the host.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::{Value, json};
use sluice_tests::{Manifest, Sluice, WAIT, header, next_message};

/// A function that may publish delayed events to `later.>` and reports on `probe.out`.
fn timer() -> Manifest {
    Manifest::new()
        .subjects(["timer.in"])
        .publish(["later.>", "probe.out"])
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Every message on `subscriber` within `window`, each with the time it arrived (unix ms).
async fn collect(
    subscriber: &mut async_nats::Subscriber,
    window: Duration,
) -> Vec<(async_nats::Message, u64)> {
    let until = tokio::time::Instant::now() + window;
    let mut received = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout_at(until, subscriber.next()).await {
        received.push((message, now_ms()));
    }
    received
}

fn body(message: &async_nats::Message) -> Value {
    serde_json::from_slice(&message.payload).expect("a delayed event's payload is the probe's JSON")
}

/// The ids the probe reported for the delayed events it scheduled.
async fn scheduled_ids(out: &mut async_nats::Subscriber) -> Vec<String> {
    let report = next_message(out, WAIT, "the probe's report of what it scheduled").await;
    let report: Value = serde_json::from_slice(&report.payload).unwrap();
    let ids = report["ids"].as_array().expect("ids");
    ids.iter().map(|id| id.as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_event_fires_once_after_its_delay_and_never_from_a_failed_attempt() {
    let sluice = Sluice::builder()
        .add("timer", "probe", timer().jetstream().retry(2, "50ms", "50ms"))
        .start()
        .await;
    let mut later = sluice.subscribe("later.>").await;
    let mut out = sluice.subscribe("probe.out").await;
    let js = sluice.js();
    // Fails on every attempt: what it scheduled is never sent.
    let doomed = json!({"op": "delay", "subject": "later.doomed", "ms": 2000, "fail_until": 99});
    sluice_tests::publish_js(&js, "timer.in", "doomed", doomed.to_string()).await;
    // Fails once, then succeeds: the retry schedules the same event again, which fires once.
    let retried = json!({"op": "delay", "subject": "later.retried", "ms": 2000, "fail_until": 2});
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", "retried");
    headers.insert("Sluice-Correlation-Id", "order-7");
    headers.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    js.publish_with_headers("timer.in", headers, retried.to_string().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let ids = scheduled_ids(&mut out).await;
    assert_eq!(ids.len(), 1);

    let received = collect(&mut later, Duration::from_secs(5)).await;
    let subjects: Vec<&str> = received.iter().map(|(m, _)| m.subject.as_str()).collect();
    assert_eq!(
        subjects,
        ["later.retried"],
        "one delayed event, from the attempt that succeeded"
    );
    let (message, arrived) = &received[0];
    let due = body(message)["due_ms"].as_u64().unwrap();
    assert!(
        *arrived >= due,
        "not before its time: arrived {arrived}, due {due}"
    );
    assert!(
        *arrived < due + 1000,
        "within a second of its time: arrived {arrived}, due {due}"
    );
    assert_eq!(header(message, "Sluice-Correlation-Id"), Some("order-7"));
    assert_eq!(header(message, "Sluice-Causation-Id"), Some("retried"));
    assert_eq!(
        header(message, "traceparent"),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
    assert!(
        header(message, "Nats-Schedule").is_none() && header(message, "Sluice-Delay-Subject").is_none(),
        "the delay stream's own headers stay behind: {:?}",
        message.headers
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_delayed_event_never_fires_and_sluice_schedules_lists_the_pending_ones() {
    let sluice = Sluice::builder().add("timer", "probe", timer()).start().await;
    let mut later = sluice.subscribe("later.>").await;
    let mut out = sluice.subscribe("probe.out").await;
    let at = now_ms() + 3000;
    let schedule = json!({"op": "delay", "subject": "later.kept", "at_ms": at, "count": 2});
    sluice
        .publish_event("timer.in", "schedule", schedule.to_string())
        .await;
    let ids = scheduled_ids(&mut out).await;
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);

    let listed = sluice_tests::sluice_schedules_json(sluice.server.url()).await;
    let delayed = listed["delayed"].as_array().expect("delayed events listed");
    let mut listed_ids: Vec<&str> = delayed.iter().map(|d| d["id"].as_str().unwrap()).collect();
    listed_ids.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(listed_ids, expected, "{listed}");
    assert!(
        delayed
            .iter()
            .all(|d| d["function"] == "timer" && d["subject"] == "later.kept")
    );

    let cancel = json!({"op": "cancel", "id": ids[0]});
    sluice
        .publish_event("timer.in", "cancel", cancel.to_string())
        .await;
    next_message(&mut out, WAIT, "the cancel handled").await;
    let received = collect(&mut later, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 1, "the cancelled one never fires, the other does");
    assert_eq!(body(&received[0].0)["n"], 1, "the second one fired");
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_delayed_events_fire_within_a_second_of_their_time_on_a_loaded_host() {
    let sluice = Sluice::builder()
        .add("timer", "probe", timer())
        .add(
            "busy",
            "probe",
            Manifest::new()
                .subjects(["busy.in"])
                .set("config", "out", "probe.busy")
                .publish(["probe.busy"]),
        )
        .start()
        .await;
    let mut later = sluice.subscribe("later.>").await;
    let mut out = sluice.subscribe("probe.out").await;
    for batch in 0..4 {
        let schedule = json!({"op": "delay", "subject": "later.many", "ms": 3000, "count": 250});
        sluice
            .publish_event("timer.in", &format!("batch-{batch}"), schedule.to_string())
            .await;
    }
    for _ in 0..4 {
        scheduled_ids(&mut out).await;
    }
    // Load beside the firings: a steady 2,000 events a second for another function, for the
    // 6 s the firings are collected.
    let client = sluice.client.clone();
    let load = tokio::spawn(async move {
        let payload = json!({"op": "echo"}).to_string();
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        for _ in 0..600 {
            tick.tick().await;
            for _ in 0..20 {
                client.publish("busy.in", payload.clone().into()).await.unwrap();
            }
        }
        client.flush().await.unwrap();
    });
    let received = collect(&mut later, Duration::from_secs(6)).await;
    load.await.unwrap();
    let busy = sluice.host.stats("busy").unwrap().succeeded;
    assert!(
        busy >= 1000,
        "the host was busy meanwhile: {busy} other events handled"
    );
    assert_eq!(received.len(), 1000, "every delayed event fired once");
    let mut lateness: Vec<i64> = received
        .iter()
        .map(|(message, arrived)| *arrived as i64 - body(message)["due_ms"].as_i64().unwrap())
        .collect();
    lateness.sort_unstable();
    assert!(lateness[0] >= 0, "none before its time: {:?}", &lateness[..5]);
    assert!(
        lateness[999] < 1000,
        "all within a second: worst {} ms",
        lateness[999]
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_events_due_while_no_host_runs_are_sent_when_one_returns() {
    let sluice = Sluice::builder().add("timer", "probe", timer()).start().await;
    let mut later = sluice.subscribe("later.>").await;
    let mut out = sluice.subscribe("probe.out").await;
    let schedule = json!({"op": "delay", "subject": "later.restart", "ms": 1500, "count": 50});
    sluice
        .publish_event("timer.in", "before-restart", schedule.to_string())
        .await;
    scheduled_ids(&mut out).await;
    let (stage, _) = sluice.stop().await;
    // They fire into the stream while no host forwards them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(collect(&mut later, Duration::from_millis(100)).await.is_empty());
    let sluice = stage.start().await;
    let received = collect(&mut later, Duration::from_secs(3)).await;
    let mut seen: Vec<u64> = received
        .iter()
        .map(|(m, _)| body(m)["n"].as_u64().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..50).collect::<Vec<u64>>(), "each one once, none lost");
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_publish_is_refused_with_the_reason_on_a_server_without_jetstream() {
    let sluice = Sluice::builder()
        .add("timer", "probe", timer().dead_letter("timer.dead"))
        .core_only()
        .start()
        .await;
    let mut dead = sluice.subscribe("timer.dead").await;
    let schedule = json!({"op": "delay", "subject": "later.never", "ms": 2000});
    sluice
        .publish_event("timer.in", "no-jetstream", schedule.to_string())
        .await;
    let letter = next_message(&mut dead, WAIT, "the refused event dead-lettered").await;
    let error = header(&letter, "Sluice-Dlq-Error").unwrap_or_default();
    assert!(
        error.contains("delayed events need JetStream"),
        "the dead letter says why: {error}"
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_publish_to_a_subject_outside_the_permissions_is_refused() {
    let sluice = Sluice::builder()
        .add("timer", "probe", timer().dead_letter("timer.dead"))
        .start()
        .await;
    let mut dead = sluice.subscribe("timer.dead").await;
    let schedule = json!({"op": "delay", "subject": "elsewhere", "ms": 2000});
    sluice
        .publish_event("timer.in", "denied", schedule.to_string())
        .await;
    let letter = next_message(&mut dead, WAIT, "the refused event dead-lettered").await;
    let error = header(&letter, "Sluice-Dlq-Error").unwrap_or_default();
    assert!(error.contains("publish to `elsewhere` denied"), "{error}");
    sluice.shutdown().await;
}
