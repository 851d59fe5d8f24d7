//! Key-value state (`[state] buckets`) and request/reply (`permissions.request`) over a
//! real nats-server: the probe's `kv-*` and `request` ops report what the host answered.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use sluice_tests::{
    FunctionsDir, Manifest, Sluice, WAIT, header, next_message, publish_event, sluice_command,
};

/// A probe on `in` that may use bucket `orders-read-model` and report to `probe.out`.
fn stateful() -> Manifest {
    Manifest::new()
        .subjects(["in"])
        .max_attempts(1)
        .buckets([BUCKET])
        .publish(["probe.out"])
}

const BUCKET: &str = "orders-read-model";

/// Publishes `op` to `in` as a new event and returns what the probe reported to `out`.
async fn ask(client: &async_nats::Client, out: &mut async_nats::Subscriber, op: Value) -> Value {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let id = format!("s-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    publish_event(client, "in", &id, op.to_string()).await;
    let message = next_message(out, WAIT, &format!("the probe's report of {op}")).await;
    serde_json::from_slice(&message.payload).expect("the probe reports JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_value_round_trip_with_revisions_shared_with_other_clients() {
    let sluice = Sluice::builder().add("state", "probe", stateful()).start().await;
    let mut out = sluice.subscribe("probe.out").await;

    let set = |key: &str, value: &str| json!({"op": "kv-set", "bucket": BUCKET, "key": key, "value": value});
    let get = |key: &str| json!({"op": "kv-get", "bucket": BUCKET, "key": key});
    let first = ask(&sluice.client, &mut out, set("order.1", "placed")).await["revision"]
        .as_u64()
        .unwrap();
    let read = ask(&sluice.client, &mut out, get("order.1")).await;
    assert_eq!(read, json!({"value": "placed", "revision": first}));
    let second = ask(&sluice.client, &mut out, set("order.1", "paid")).await["revision"]
        .as_u64()
        .unwrap();
    assert!(second > first, "revisions grow: {first} then {second}");

    // The deploy created the bucket; any NATS client sees the function's writes, and the
    // function sees theirs.
    let store = async_nats::jetstream::new(sluice.client.clone())
        .get_key_value(BUCKET)
        .await
        .expect("the bucket exists");
    let entry = store.entry("order.1").await.unwrap().expect("written");
    assert_eq!((&entry.value[..], entry.revision), (&b"paid"[..], second));
    let outside = store.put("order.2", "from outside".into()).await.unwrap();
    let read = ask(&sluice.client, &mut out, get("order.2")).await;
    assert_eq!(read, json!({"value": "from outside", "revision": outside}));

    let deleted = json!({"op": "kv-delete", "bucket": BUCKET, "key": "order.1"});
    assert_eq!(
        ask(&sluice.client, &mut out, deleted).await,
        json!({"deleted": "order.1"})
    );
    assert_eq!(
        ask(&sluice.client, &mut out, get("order.1")).await,
        json!({"value": null})
    );
    assert_eq!(
        ask(&sluice.client, &mut out, get("never.set")).await,
        json!({"value": null})
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_swap_detects_conflicts_and_keys_list_by_prefix() {
    let sluice = Sluice::builder().add("state", "probe", stateful()).start().await;
    let mut out = sluice.subscribe("probe.out").await;

    let cas = |value: &str, revision: u64| json!({"op": "kv-cas", "bucket": BUCKET, "key": "saga.7", "value": value, "revision": revision});
    let created = ask(&sluice.client, &mut out, cas("started", 0)).await["revision"]
        .as_u64()
        .unwrap();
    let again = ask(&sluice.client, &mut out, cas("started", 0)).await;
    assert_eq!(
        again["error"], "conflict",
        "0 means only if the key has no value: {again}"
    );
    let updated = ask(&sluice.client, &mut out, cas("reserved", created)).await["revision"]
        .as_u64()
        .unwrap();
    let stale = ask(&sluice.client, &mut out, cas("cancelled", created)).await;
    assert_eq!(stale["error"], "conflict", "{stale}");
    assert!(stale["message"].as_str().unwrap().contains("saga.7"), "{stale}");
    let read = ask(
        &sluice.client,
        &mut out,
        json!({"op": "kv-get", "bucket": BUCKET, "key": "saga.7"}),
    )
    .await;
    assert_eq!(read, json!({"value": "reserved", "revision": updated}));

    for key in ["orders.2", "orders.1", "users.1", "orders.3"] {
        ask(
            &sluice.client,
            &mut out,
            json!({"op": "kv-set", "bucket": BUCKET, "key": key, "value": "x"}),
        )
        .await;
    }
    ask(
        &sluice.client,
        &mut out,
        json!({"op": "kv-delete", "bucket": BUCKET, "key": "orders.3"}),
    )
    .await;
    let keys = ask(
        &sluice.client,
        &mut out,
        json!({"op": "kv-keys", "bucket": BUCKET, "prefix": "orders."}),
    )
    .await;
    assert_eq!(
        keys,
        json!({"keys": ["orders.1", "orders.2"]}),
        "sorted, deleted keys left out"
    );
    let all = ask(
        &sluice.client,
        &mut out,
        json!({"op": "kv-keys", "bucket": BUCKET}),
    )
    .await;
    assert_eq!(
        all,
        json!({"keys": ["orders.1", "orders.2", "saga.7", "users.1"]})
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_the_manifest_does_not_declare_is_denied() {
    let sluice = Sluice::builder().add("state", "probe", stateful()).start().await;
    let mut dlq = sluice.subscribe("sluice.dlq.state").await;

    // Deny by default: `payments` exists and holds a value, but the manifest only names
    // `orders-read-model`, so the function can neither read nor write it.
    let js = async_nats::jetstream::new(sluice.client.clone());
    let stream = async_nats::jetstream::stream::Config {
        name: "KV_payments".into(),
        subjects: vec!["$KV.payments.>".into()],
        max_messages_per_subject: 1,
        allow_direct: true,
        ..Default::default()
    };
    js.get_or_create_stream(stream).await.unwrap();
    let payments = js.get_key_value("payments").await.unwrap();
    payments.put("card.1", "secret".into()).await.unwrap();
    for (id, op) in [
        (
            "d-1",
            json!({"op": "kv-get", "bucket": "payments", "key": "card.1"}),
        ),
        (
            "d-2",
            json!({"op": "kv-set", "bucket": "payments", "key": "card.1", "value": "stolen"}),
        ),
    ] {
        sluice.publish_event("in", id, op.to_string()).await;
        let dead = next_message(&mut dlq, WAIT, "the denied call dead-lettered").await;
        assert_eq!(
            header(&dead, "Sluice-Dlq-Reason"),
            Some("permanent"),
            "denied is permanent"
        );
        let error = header(&dead, "Sluice-Dlq-Error").unwrap();
        assert!(
            error.contains("bucket `payments` denied") && error.contains("state.buckets"),
            "{error}"
        );
    }
    let value = payments.get("card.1").await.unwrap().unwrap();
    assert_eq!(&value[..], b"secret", "the write was refused");

    // An invalid key is permanent too, with the host's reason.
    let op = json!({"op": "kv-set", "bucket": BUCKET, "key": "has space", "value": "x"});
    sluice.publish_event("in", "d-3", op.to_string()).await;
    let dead = next_message(&mut dlq, WAIT, "the invalid key dead-lettered").await;
    assert_eq!(header(&dead, "Sluice-Dlq-Reason"), Some("permanent"));
    assert!(
        header(&dead, "Sluice-Dlq-Error")
            .unwrap()
            .contains("invalid key \"has space\"")
    );
    sluice.shutdown().await;
}

/// A probe on `in` that may send requests to `inventory.>`.
fn requester() -> Manifest {
    Manifest::new()
        .subjects(["in"])
        .retry(2, "10ms", "20ms")
        .publish(["probe.out"])
        .request(["inventory.>"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_requests_another_function_and_gets_its_answer() {
    let sluice = Sluice::builder()
        .add("orders", "probe", requester())
        // The answering function publishes nothing but its reply (reply-to is always allowed).
        .add(
            "inventory",
            "probe",
            Manifest::new().subjects(["inventory.reserve"]),
        )
        .start()
        .await;
    let mut out = sluice.subscribe("probe.out").await;

    let op = json!({
        "op": "request",
        "subject": "inventory.reserve",
        "payload": json!({"op": "echo", "sku": "A"}).to_string(),
        "timeout_ms": 10_000,
    });
    sluice.publish_event("in", "q-1", op.to_string()).await;
    let message = next_message(&mut out, WAIT, "the requester's report").await;
    let report: Value = serde_json::from_slice(&message.payload).unwrap();
    let answer: Value = serde_json::from_str(report["reply"].as_str().unwrap()).unwrap();
    assert_eq!(answer, json!({"op": "echo", "sku": "A"}), "{report}");
    assert_eq!(
        report["correlation"], "q-1",
        "the correlation id made the round trip"
    );
    assert_eq!(sluice.host.stats("inventory").unwrap().succeeded, 1);
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_outside_permissions_are_denied_and_timeouts_retry() {
    let sluice = Sluice::builder()
        .add("orders", "probe", requester())
        .start()
        .await;
    let mut dlq = sluice.subscribe("sluice.dlq.orders").await;

    // `billing.charge` is not in permissions.request: denied, whoever listens there.
    let _billing = sluice.subscribe("billing.charge").await;
    let op = json!({"op": "request", "subject": "billing.charge", "payload": "x", "timeout_ms": 1000});
    sluice.publish_event("in", "r-1", op.to_string()).await;
    let dead = next_message(&mut dlq, WAIT, "denied request dead-lettered").await;
    assert_eq!(header(&dead, "Sluice-Dlq-Reason"), Some("permanent"));
    assert_eq!(header(&dead, "Sluice-Attempts"), Some("1"));
    let error = header(&dead, "Sluice-Dlq-Error").unwrap();
    assert!(
        error.contains("request to `billing.charge` denied") && error.contains("permissions.request"),
        "{error}"
    );

    // Someone listens on `inventory.slow` but never answers: each attempt times out, the
    // event is retried, then dead-lettered with the timeout message.
    let mut slow = sluice.subscribe("inventory.slow").await;
    sluice.client.flush().await.unwrap();
    let op = json!({"op": "request", "subject": "inventory.slow", "payload": "q", "timeout_ms": 200});
    sluice.publish_event("in", "r-2", op.to_string()).await;
    let request = next_message(&mut slow, WAIT, "the request").await;
    assert_eq!(header(&request, "Sluice-Correlation-Id"), Some("r-2"));
    assert_eq!(header(&request, "Sluice-Causation-Id"), Some("r-2"));
    next_message(&mut slow, WAIT, "the request again, on the retry").await;
    let dead = next_message(&mut dlq, WAIT, "timed-out request dead-lettered").await;
    assert_eq!(header(&dead, "Sluice-Dlq-Reason"), Some("exhausted"));
    assert_eq!(header(&dead, "Sluice-Attempts"), Some("2"));
    assert_eq!(
        header(&dead, "Sluice-Dlq-Error"),
        Some("handler failed (retryable): request to `inventory.slow` timed out: no answer within 200ms")
    );
    assert_eq!(sluice.host.stats("orders").unwrap().retried, 1);
    sluice.shutdown().await;
}

#[test]
fn invoke_runs_key_value_handlers_in_memory_and_refuses_requests() {
    let dir = FunctionsDir::new();
    dir.add("state", "probe", stateful());
    dir.add("asker", "probe", requester());
    let invoke = |name: &str, op: Value| {
        let output = sluice_command()
            .args(["invoke", name, "--functions"])
            .arg(dir.path())
            .args(["--data", &op.to_string()])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.code(), stdout)
    };
    let (code, stdout) = invoke(
        "state",
        json!({"op": "kv-set", "bucket": BUCKET, "key": "k", "value": "v"}),
    );
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("outcome: ok"), "{stdout}");
    assert!(stdout.contains(r#"probe.out {"revision":1}"#), "{stdout}");
    // Each invoke starts with empty buckets.
    let (_, stdout) = invoke("state", json!({"op": "kv-get", "bucket": BUCKET, "key": "k"}));
    assert!(stdout.contains(r#"probe.out {"value":null}"#), "{stdout}");
    // Deny by default holds here too.
    let (code, stdout) = invoke("state", json!({"op": "kv-get", "bucket": "other", "key": "k"}));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("bucket `other` denied"), "{stdout}");
    let (code, stdout) = invoke(
        "state",
        json!({"op": "request", "subject": "inventory.x", "payload": "q"}),
    );
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("request to `inventory.x` denied"), "{stdout}");
    let (code, stdout) = invoke(
        "asker",
        json!({"op": "request", "subject": "inventory.x", "payload": "q"}),
    );
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("sluice invoke has no NATS connection"),
        "{stdout}"
    );
}
