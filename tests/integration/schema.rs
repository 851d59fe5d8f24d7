//! `[schema]`: payloads checked against JSON Schema before the handler runs, by version while
//! producers migrate; broken schema files fail the load of their function only.

use serde_json::json;
use sluice_tests::{
    FunctionsDir, Manifest, Sluice, WAIT, drained, header, next_message, no_message_pending, publish_js,
    sluice_command,
};

/// Version 1 of an order event: the probe's `op` plus an order id and a numeric amount.
const ORDER_V1: &str = r#"{
    "type": "object",
    "required": ["op", "order_id", "amount"],
    "properties": {
        "op": { "type": "string" },
        "order_id": { "type": "string" },
        "amount": { "type": "number" }
    }
}"#;

/// Version 2: the amount became a money object.
const ORDER_V2: &str = r#"{
    "type": "object",
    "required": ["op", "order_id", "total"],
    "properties": {
        "op": { "type": "string" },
        "order_id": { "type": "string" },
        "total": {
            "type": "object",
            "required": ["amount", "currency"],
            "properties": { "amount": { "type": "number" }, "currency": { "type": "string" } }
        }
    }
}"#;

/// A probe on `subject` that echoes to `probe.out`; the test adds its `[schema]`.
fn probe_on(subject: &str) -> Manifest {
    Manifest::new().subjects([subject]).publish(["probe.out"])
}

/// Both order schemas and function `orders` on `orders.placed` with `[schema]` `schema`.
async fn orders_with(schema: impl FnOnce(Manifest) -> Manifest) -> Sluice {
    Sluice::builder()
        .write("order-placed.v1.schema.json", ORDER_V1)
        .write("order-placed.v2.schema.json", ORDER_V2)
        .add("orders", "probe", schema(probe_on("orders.placed")))
        .start()
        .await
}

/// Versions 1 and 2 of the order schema, as `schema.versions`.
const VERSIONS: [(&str, &str); 2] = [
    ("1", "order-placed.v1.schema.json"),
    ("2", "order-placed.v2.schema.json"),
];

/// Publishes `payload` with an event id and, when given, a `Schema-Version` header.
async fn publish(client: &async_nats::Client, id: &str, version: Option<&str>, payload: serde_json::Value) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", id);
    if let Some(version) = version {
        headers.insert("Schema-Version", version);
    }
    client
        .publish_with_headers("orders.placed", headers, payload.to_string().into())
        .await
        .unwrap();
    client.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_event_is_handled_and_a_mismatch_is_dead_lettered_naming_the_path() {
    let sluice = orders_with(|m| m.schema_file("order-placed.v1.schema.json")).await;
    let mut out = sluice.subscribe("probe.out").await;
    let mut dlq = sluice.subscribe("sluice.dlq.orders").await;

    let valid = json!({"op": "echo", "order_id": "o-1", "amount": 12.5});
    sluice
        .publish_event("orders.placed", "ok-1", valid.to_string())
        .await;
    let handled = next_message(&mut out, WAIT, "the valid order handled").await;
    assert_eq!(header(&handled, "probe-event-id"), Some("ok-1"));

    let invalid = json!({"op": "echo", "order_id": "o-2", "amount": "twelve"}).to_string();
    sluice
        .publish_event("orders.placed", "bad-1", invalid.clone())
        .await;
    let dead = next_message(&mut dlq, WAIT, "the invalid order dead-lettered").await;
    assert_eq!(dead.payload, invalid.as_bytes(), "payload kept byte for byte");
    assert_eq!(header(&dead, "Sluice-Dlq-Reason"), Some("schema_mismatch"));
    assert_eq!(
        header(&dead, "Sluice-Dlq-Error"),
        Some(
            "payload does not match order-placed.v1.schema.json: /amount: \"twelve\" is not of type \"number\""
        )
    );
    assert_eq!(
        header(&dead, "Sluice-Attempts"),
        Some("0"),
        "the handler never ran"
    );

    sluice.publish_event("orders.placed", "bad-2", "not json").await;
    let dead = next_message(&mut dlq, WAIT, "a payload that is not JSON dead-lettered").await;
    assert_eq!(header(&dead, "Sluice-Dlq-Reason"), Some("schema_mismatch"));
    assert!(
        header(&dead, "Sluice-Dlq-Error")
            .unwrap()
            .starts_with("payload is not JSON: ")
    );
    assert!(no_message_pending(&mut out), "no mismatch reached the handler");
    let stats = sluice.host.stats("orders").unwrap();
    assert_eq!((stats.succeeded, stats.dead_lettered), (1, 2));
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_and_v2_are_both_accepted_while_an_unknown_version_is_rejected() {
    let sluice = orders_with(|m| m.schema_versions(VERSIONS).version_from("header:Schema-Version")).await;
    let mut out = sluice.subscribe("probe.out").await;
    let mut dlq = sluice.subscribe("sluice.dlq.orders").await;

    let v1 = json!({"op": "echo", "order_id": "o-1", "amount": 5});
    let v2 = json!({"op": "echo", "order_id": "o-2", "total": {"amount": 5, "currency": "EUR"}});
    publish(&sluice.client, "v1", Some("1"), v1.clone()).await;
    let handled = next_message(&mut out, WAIT, "the v1 event handled").await;
    assert_eq!(header(&handled, "probe-event-id"), Some("v1"));
    publish(&sluice.client, "v2", Some("2"), v2.clone()).await;
    let handled = next_message(&mut out, WAIT, "the v2 event handled").await;
    assert_eq!(header(&handled, "probe-event-id"), Some("v2"));

    publish(&sluice.client, "v1-as-v2", Some("2"), v1.clone()).await;
    let dead = next_message(&mut dlq, WAIT, "a v1 payload claiming v2 dead-lettered").await;
    assert_eq!(header(&dead, "Sluice-Event-Id"), Some("v1-as-v2"));
    assert_eq!(header(&dead, "Sluice-Dlq-Reason"), Some("schema_mismatch"));
    let error = header(&dead, "Sluice-Dlq-Error").unwrap();
    assert!(
        error.starts_with("payload does not match order-placed.v2.schema.json (version \"2\"): "),
        "{error}"
    );
    assert!(
        error.contains("(root): \"total\" is a required property"),
        "{error}"
    );

    publish(&sluice.client, "v3", Some("3"), v2.clone()).await;
    let dead = next_message(&mut dlq, WAIT, "an unknown version dead-lettered").await;
    assert_eq!(header(&dead, "Sluice-Event-Id"), Some("v3"));
    assert_eq!(
        header(&dead, "Sluice-Dlq-Error"),
        Some("unknown schema version \"3\" (from header Schema-Version); known versions: \"1\", \"2\"")
    );
    publish(&sluice.client, "none", None, v1).await;
    let dead = next_message(&mut dlq, WAIT, "an event naming no version dead-lettered").await;
    assert_eq!(header(&dead, "Sluice-Event-Id"), Some("none"));
    assert!(
        header(&dead, "Sluice-Dlq-Error")
            .unwrap()
            .starts_with("the event names no schema version (header Schema-Version)")
    );
    assert!(no_message_pending(&mut out));
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_version_covers_events_that_name_none() {
    let sluice = orders_with(|m| m.schema_versions(VERSIONS).default_version("1")).await;
    let mut out = sluice.subscribe("probe.out").await;
    let mut dlq = sluice.subscribe("sluice.dlq.orders").await;

    // No version: v1 by default. The payload field `schema_version` names v2.
    let v1 = json!({"op": "echo", "order_id": "o-1", "amount": 5});
    sluice
        .publish_event("orders.placed", "legacy", v1.to_string())
        .await;
    let handled = next_message(&mut out, WAIT, "an unversioned v1 event handled").await;
    assert_eq!(header(&handled, "probe-event-id"), Some("legacy"));
    let v2 = json!({"op": "echo", "schema_version": 2, "order_id": "o-2", "total": {"amount": 5, "currency": "EUR"}});
    sluice
        .publish_event("orders.placed", "field-v2", v2.to_string())
        .await;
    let handled = next_message(&mut out, WAIT, "a v2 event named by its field handled").await;
    assert_eq!(header(&handled, "probe-event-id"), Some("field-v2"));
    assert!(no_message_pending(&mut dlq));
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jetstream_mismatch_is_dead_lettered_once_and_settled() {
    let orders = probe_on("js.orders").jetstream().schema_file("order.schema.json");
    let sluice = Sluice::builder()
        .write("order.schema.json", ORDER_V1)
        .add("orders", "probe", orders)
        .start()
        .await;
    let js = sluice.js();
    let mut out = sluice.subscribe("probe.out").await;
    let mut dlq = sluice.subscribe("sluice.dlq.orders").await;

    publish_js(
        &js,
        "js.orders",
        "bad",
        json!({"op": "echo", "order_id": 7}).to_string(),
    )
    .await;
    let good = json!({"op": "echo", "order_id": "o-1", "amount": 1});
    publish_js(&js, "js.orders", "good", good.to_string()).await;
    let dead = next_message(&mut dlq, WAIT, "the mismatch dead-lettered").await;
    assert_eq!(header(&dead, "Sluice-Event-Id"), Some("bad"));
    assert_eq!(header(&dead, "Sluice-Dlq-Reason"), Some("schema_mismatch"));
    let error = header(&dead, "Sluice-Dlq-Error").unwrap();
    assert!(
        error.contains("/order_id: 7 is not of type \"string\""),
        "{error}"
    );
    let handled = next_message(&mut out, WAIT, "the matching event handled").await;
    assert_eq!(header(&handled, "probe-event-id"), Some("good"));
    drained(&js, "SLUICE_ORDERS", "sluice-orders").await;
    assert!(
        no_message_pending(&mut dlq),
        "dead-lettered once, not redelivered"
    );
    sluice.shutdown().await;
}

/// A folder where `broken` names a schema that is not valid JSON Schema, `missing` one that
/// does not exist, and `good` a valid one.
fn broken_schemas() -> FunctionsDir {
    let dir = FunctionsDir::new();
    dir.write("order.schema.json", ORDER_V1.as_bytes());
    dir.write(
        "broken.schema.json",
        br#"{ "type": "object", "properties": { "amount": { "type": "numbr" } } }"#,
    );
    dir.write("garbled.schema.json", br#"{ "type": "object", "#);
    let orders = || probe_on("orders.placed");
    dir.add("good", "probe", probe_on("good").schema_file("order.schema.json"));
    dir.add("broken", "probe", orders().schema_file("broken.schema.json"));
    dir.add(
        "garbled",
        "probe",
        orders().schema_versions([("1", "garbled.schema.json")]),
    );
    dir.add("missing", "probe", orders().schema_file("nowhere.schema.json"));
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_schema_fails_its_function_and_the_rest_keep_serving() {
    let sluice = Sluice::in_folder(broken_schemas()).start().await;
    assert_eq!(sluice.host.functions(), ["good"]);
    let errors = sluice.load_errors();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    let path = |file: &str| sluice.dir.path().join(file).display().to_string();
    let expected = [
        format!(
            "{}: schema of function `broken`: not a valid JSON Schema: /properties/amount/type: ",
            path("broken.schema.json")
        ),
        format!(
            "{}: schema of function `garbled`: not valid JSON: EOF while parsing a value at line 1 column 20",
            path("garbled.schema.json")
        ),
        format!(
            "{}: schema of function `missing`: cannot read: No such file or directory",
            path("nowhere.schema.json")
        ),
    ];
    for expected in expected {
        assert!(
            errors.iter().any(|error| error.starts_with(&expected)),
            "no error starts with {expected:?}: {errors:#?}"
        );
    }

    let answer = sluice
        .client
        .request(
            "good",
            json!({"op": "echo", "order_id": "o-1", "amount": 1})
                .to_string()
                .into(),
        )
        .await
        .unwrap();
    assert!(!answer.payload.is_empty(), "the good function serves");
    sluice.shutdown().await;
}

#[test]
fn check_reports_a_broken_schema_and_invoke_prints_a_mismatch() {
    let dir = broken_schemas();
    let output = sluice_command().arg("check").arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("good: ok"), "{stdout}");
    assert!(
        stdout.contains("broken: error: ")
            && stdout.contains("schema of function `broken`: not a valid JSON Schema"),
        "{stdout}"
    );
    assert!(stdout.contains("4 functions checked, 3 with errors"), "{stdout}");

    let invoke = |data: &str| {
        let output = sluice_command()
            .args(["invoke", "good", "--functions"])
            .arg(dir.path())
            .args(["--data", data])
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, stdout) = invoke(r#"{"op":"echo","order_id":"o-1"}"#);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("outcome: schema_mismatch (a host would dead-letter it; the handler did not run)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "error: payload does not match order.schema.json: (root): \"amount\" is a required property"
        ),
        "{stdout}"
    );
    let (code, stdout) = invoke(r#"{"op":"echo","order_id":"o-1","amount":3}"#);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("outcome: ok"), "{stdout}");
}
