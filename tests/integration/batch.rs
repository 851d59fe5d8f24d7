//! Micro-batches (`batch-handler` world): events reach the function in groups of up to
//! `[batch] max_events`, a partial group goes after `max_wait`, and every event of a group
//! keeps its own outcome (output, retry, dead letter, ack), in core and JetStream mode.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sluice_tests::{
    Manifest, Sluice, WAIT, drained, eventually, header, next_message, no_message_pending, publish_js,
};

/// A batch-probe on `batch.in` with batches of up to `max_events` closed after `max_wait`.
fn manifest(max_events: u64, max_wait: &str) -> Manifest {
    Manifest::new()
        .subjects(["batch.in"])
        .max_events(max_events)
        .max_wait(max_wait)
        .retry(3, "10ms", "10ms")
        .jitter("none")
        .publish(["batch.out"])
}

/// One `batch.out` message: which event, the size of the batch it ran in, its attempt.
#[derive(Debug)]
struct Output {
    id: String,
    size: u64,
    attempt: u64,
}

/// Reads `n` outputs, panicking with `what` if they do not come within [`WAIT`].
async fn outputs(subscriber: &mut async_nats::Subscriber, n: usize, what: &str) -> Vec<Output> {
    let mut seen = Vec::with_capacity(n);
    while seen.len() < n {
        let message = next_message(subscriber, WAIT, what).await;
        let value: serde_json::Value = serde_json::from_slice(&message.payload).expect("batch-probe JSON");
        seen.push(Output {
            id: value["id"].as_str().expect("id").to_owned(),
            size: value["size"].as_u64().expect("size"),
            attempt: value["attempt"].as_u64().expect("attempt"),
        });
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_come_in_full_batches_and_max_wait_flushes_the_rest() {
    let sluice = Sluice::builder()
        .add("grouper", "batch-probe", manifest(10, "1s").max_concurrency(1))
        .start()
        .await;
    assert_eq!(
        sluice.host.functions(),
        ["grouper"],
        "{:?}",
        sluice.host.load_errors()
    );
    let mut out = sluice.subscribe("batch.out").await;

    let started = Instant::now();
    for n in 0..25 {
        sluice.publish_event("batch.in", &format!("b-{n}"), "ok").await;
    }
    let seen = outputs(&mut out, 25, "an output per event").await;
    let elapsed = started.elapsed();
    let mut sizes: HashMap<u64, usize> = HashMap::new();
    for output in &seen {
        *sizes.entry(output.size).or_default() += 1;
        assert_eq!(output.attempt, 1, "{output:?}");
    }
    assert_eq!(
        sizes,
        HashMap::from([(10, 20), (5, 5)]),
        "two full batches of 10, then the last 5 after max_wait"
    );
    assert!(
        elapsed >= Duration::from_secs(1),
        "the partial batch waited for max_wait: {elapsed:?}"
    );
    let mut ids: Vec<&str> = seen.iter().map(|output| output.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 25, "every event once");
    let stats = sluice.host.stats("grouper").unwrap();
    assert_eq!((stats.succeeded, stats.dead_lettered), (25, 0));
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_of_a_batch_succeeds_retries_or_dead_letters_alone() {
    let sluice = Sluice::builder()
        .add("mixed", "batch-probe", manifest(4, "1s"))
        .start()
        .await;
    let mut out = sluice.subscribe("batch.out").await;
    let mut dlq = sluice.subscribe("sluice.dlq.mixed").await;

    for (id, payload) in [
        ("ok-1", "ok"),
        ("bad", "permanent"),
        ("flaky", "flaky"),
        ("ok-2", "ok"),
    ] {
        sluice.publish_event("batch.in", id, payload).await;
    }
    let letter = next_message(&mut dlq, WAIT, "the permanent failure's dead letter").await;
    assert_eq!(header(&letter, "Sluice-Event-Id"), Some("bad"));
    assert_eq!(header(&letter, "Sluice-Dlq-Reason"), Some("permanent"));
    assert_eq!(header(&letter, "Sluice-Attempts"), Some("1"));
    assert_eq!(letter.payload, "permanent".as_bytes(), "the original payload");

    let mut seen = outputs(&mut out, 3, "the outputs of the three events that succeed").await;
    seen.sort_by(|a, b| a.id.cmp(&b.id));
    let summary: Vec<(&str, u64, u64)> = seen
        .iter()
        .map(|output| (output.id.as_str(), output.size, output.attempt))
        .collect();
    assert_eq!(
        summary,
        [("flaky", 1, 2), ("ok-1", 4, 1), ("ok-2", 4, 1)],
        "one batch of four; the flaky event retried alone; the failed attempts' outputs never sent"
    );
    eventually(WAIT, "every event settled", async || {
        let stats = sluice.host.stats("mixed").unwrap();
        stats.succeeded == 3 && stats.dead_lettered == 1 && stats.retried == 1
    })
    .await;
    sluice.client.flush().await.unwrap();
    assert!(
        no_message_pending(&mut out),
        "no output twice, none of the failed event"
    );
    assert!(
        no_message_pending(&mut dlq),
        "only the permanent failure is dead-lettered"
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_fails_every_event_of_its_batch() {
    let sluice = Sluice::builder()
        .add("trapper", "batch-probe", manifest(2, "2s"))
        .start()
        .await;
    let mut out = sluice.subscribe("batch.out").await;
    let mut dlq = sluice.subscribe("sluice.dlq.trapper").await;

    sluice.publish_event("batch.in", "t-1", "trap").await;
    sluice.publish_event("batch.in", "t-2", "ok").await;
    let mut letters = Vec::new();
    for _ in 0..2 {
        let letter = next_message(&mut dlq, WAIT, "a dead letter per event of the trapped batch").await;
        assert_eq!(header(&letter, "Sluice-Dlq-Reason"), Some("trap"));
        assert_eq!(header(&letter, "Sluice-Attempts"), Some("3"));
        let error = header(&letter, "Sluice-Dlq-Error").unwrap();
        assert!(error.contains("batch-probe trap in a batch of 2"), "{error}");
        letters.push(header(&letter, "Sluice-Event-Id").unwrap().to_owned());
    }
    letters.sort();
    assert_eq!(letters, ["t-1", "t-2"]);
    assert!(no_message_pending(&mut out), "a trapped batch sends no output");
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_batches_settle_every_event_on_its_own() {
    let stage = Sluice::builder()
        .add(
            "jsbatch",
            "batch-probe",
            manifest(50, "100ms").jetstream().stream("BATCHES"),
        )
        .stage()
        .await;
    let js = stage.js();
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "BATCHES".into(),
        subjects: vec!["batch.in".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    // Stored before the host starts, so its first pulls find a full stream.
    for n in 0..200 {
        let payload = if n == 77 { "permanent" } else { "ok" };
        publish_js(&js, "batch.in", &format!("j-{n}"), payload).await;
    }
    let mut out = stage.subscribe("batch.out").await;
    let mut dlq = stage.subscribe("sluice.dlq.jsbatch").await;
    let sluice = stage.start().await;
    assert_eq!(
        sluice.host.functions(),
        ["jsbatch"],
        "{:?}",
        sluice.host.load_errors()
    );

    let seen = outputs(&mut out, 199, "the output of every event that succeeded").await;
    assert!(
        seen.iter().all(|output| output.id != "j-77"),
        "the failed event's output is not sent"
    );
    let letter = next_message(&mut dlq, WAIT, "the failed event's dead letter").await;
    assert_eq!(header(&letter, "Sluice-Event-Id"), Some("j-77"));
    drained(&js, "BATCHES", "sluice-jsbatch").await;
    sluice.client.flush().await.unwrap();
    assert!(no_message_pending(&mut out), "every output once");
    let largest = seen.iter().map(|output| output.size).max().unwrap();
    assert!(
        (2..=50).contains(&largest),
        "events were pulled and run in batches of up to 50: largest {largest}"
    );
    eventually(WAIT, "every event settled", async || {
        let stats = sluice.host.stats("jsbatch").unwrap();
        stats.succeeded == 199 && stats.dead_lettered == 1
    })
    .await;
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_keys_need_a_batch_component() {
    let sluice = Sluice::builder()
        .add("single", "probe", Manifest::new().max_events(10))
        .add("defaults", "batch-probe", Manifest::new().publish(["batch.out"]))
        .start()
        .await;
    assert_eq!(
        sluice.host.functions(),
        ["defaults"],
        "a batch component needs no [batch]"
    );
    let errors = sluice.load_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("single.toml"), "{}", errors[0]);
    assert!(
        errors[0].contains("`[batch]` is set for function `single`")
            && errors[0].contains("sluice:function/handler"),
        "{}",
        errors[0]
    );

    let mut out = sluice.subscribe("batch.out").await;
    sluice.publish_event("defaults", "d-1", "ok").await;
    let output = outputs(&mut out, 1, "the default batch's output").await;
    assert_eq!((output[0].id.as_str(), output[0].size), ("d-1", 1));
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_list_of_the_wrong_length_fails_the_batch_and_early_publishes_are_refused() {
    let text = Manifest::new()
        .subjects(["raw.in"])
        .max_events(2)
        .max_wait("300ms")
        .max_attempts(1)
        .publish(["raw.out"]);
    let sluice = Sluice::builder().add("raw", "batch-raw", text).start().await;
    assert_eq!(
        sluice.host.functions(),
        ["raw"],
        "{:?}",
        sluice.host.load_errors()
    );
    let mut out = sluice.subscribe("raw.out").await;
    let mut dlq = sluice.subscribe("sluice.dlq.raw").await;

    // A batch of one is well-formed: its one output says the early publish was refused.
    sluice.publish_event("raw.in", "r-0", "x").await;
    let output = next_message(&mut out, WAIT, "the single event's output").await;
    let text = std::str::from_utf8(&output.payload).unwrap();
    assert!(
        text.starts_with("early publish refused") && text.contains("batch.begin"),
        "{text}"
    );

    sluice.publish_event("raw.in", "r-1", "x").await;
    sluice.publish_event("raw.in", "r-2", "x").await;
    for _ in 0..2 {
        let letter = next_message(&mut dlq, WAIT, "a dead letter per event of the malformed batch").await;
        assert_eq!(header(&letter, "Sluice-Dlq-Reason"), Some("trap"));
        let error = header(&letter, "Sluice-Dlq-Error").unwrap();
        assert!(
            error.contains("returned 1 results for a batch of 2 events"),
            "{error}"
        );
    }
    sluice.client.flush().await.unwrap();
    assert!(no_message_pending(&mut out), "the malformed batch sent no output");
    sluice.shutdown().await;
}
