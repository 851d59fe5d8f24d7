//! `[schema]`: payloads checked against JSON Schema before the handler runs, by version while
//! producers migrate; broken schema files fail the load of their function only.

use serde_json::json;
use sluice_tests::{FunctionsDir, NatsServer, next_message, no_message_pending, sluice_command};

use crate::jetstream::{drained, publish_js};
use crate::{WAIT, header, publish_event, start_host};

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

/// A probe on `orders.placed` that echoes to `probe.out`, with `schema` as its `[schema]`.
fn manifest(schema: &str) -> String {
    format!(
        "[trigger]\nsubjects = [\"orders.placed\"]\n[permissions]\npublish = [\"probe.out\"]\n[schema]\n{schema}\n"
    )
}

/// A folder with both order schemas and function `orders` using `schema`.
fn orders_dir(schema: &str) -> FunctionsDir {
    let dir = FunctionsDir::new();
    dir.write("order-placed.v1.schema.json", ORDER_V1.as_bytes());
    dir.write("order-placed.v2.schema.json", ORDER_V2.as_bytes());
    dir.add("orders", "probe", &manifest(schema));
    dir
}

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
    let server = NatsServer::start();
    let dir = orders_dir("file = \"order-placed.v1.schema.json\"");
    let host = start_host(&server, &dir).await;
    let client = server.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();
    let mut dlq = client.subscribe("sluice.dlq.orders").await.unwrap();

    let valid = json!({"op": "echo", "order_id": "o-1", "amount": 12.5});
    publish_event(&client, "orders.placed", "ok-1", valid.to_string()).await;
    let handled = next_message(&mut out, WAIT, "the valid order handled").await;
    assert_eq!(header(&handled, "probe-event-id"), Some("ok-1"));

    let invalid = json!({"op": "echo", "order_id": "o-2", "amount": "twelve"}).to_string();
    publish_event(&client, "orders.placed", "bad-1", invalid.clone()).await;
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

    publish_event(&client, "orders.placed", "bad-2", "not json").await;
    let dead = next_message(&mut dlq, WAIT, "a payload that is not JSON dead-lettered").await;
    assert_eq!(header(&dead, "Sluice-Dlq-Reason"), Some("schema_mismatch"));
    assert!(
        header(&dead, "Sluice-Dlq-Error")
            .unwrap()
            .starts_with("payload is not JSON: ")
    );
    assert!(no_message_pending(&mut out), "no mismatch reached the handler");
    let stats = host.stats("orders").unwrap();
    assert_eq!((stats.succeeded, stats.dead_lettered), (1, 2));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_and_v2_are_both_accepted_while_an_unknown_version_is_rejected() {
    let server = NatsServer::start();
    let dir = orders_dir(
        r#"versions = { "1" = "order-placed.v1.schema.json", "2" = "order-placed.v2.schema.json" }
version_from = "header:Schema-Version""#,
    );
    let host = start_host(&server, &dir).await;
    let client = server.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();
    let mut dlq = client.subscribe("sluice.dlq.orders").await.unwrap();

    let v1 = json!({"op": "echo", "order_id": "o-1", "amount": 5});
    let v2 = json!({"op": "echo", "order_id": "o-2", "total": {"amount": 5, "currency": "EUR"}});
    publish(&client, "v1", Some("1"), v1.clone()).await;
    let handled = next_message(&mut out, WAIT, "the v1 event handled").await;
    assert_eq!(header(&handled, "probe-event-id"), Some("v1"));
    publish(&client, "v2", Some("2"), v2.clone()).await;
    let handled = next_message(&mut out, WAIT, "the v2 event handled").await;
    assert_eq!(header(&handled, "probe-event-id"), Some("v2"));

    publish(&client, "v1-as-v2", Some("2"), v1.clone()).await;
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

    publish(&client, "v3", Some("3"), v2.clone()).await;
    let dead = next_message(&mut dlq, WAIT, "an unknown version dead-lettered").await;
    assert_eq!(header(&dead, "Sluice-Event-Id"), Some("v3"));
    assert_eq!(
        header(&dead, "Sluice-Dlq-Error"),
        Some("unknown schema version \"3\" (from header Schema-Version); known versions: \"1\", \"2\"")
    );
    publish(&client, "none", None, v1).await;
    let dead = next_message(&mut dlq, WAIT, "an event naming no version dead-lettered").await;
    assert_eq!(header(&dead, "Sluice-Event-Id"), Some("none"));
    assert!(
        header(&dead, "Sluice-Dlq-Error")
            .unwrap()
            .starts_with("the event names no schema version (header Schema-Version)")
    );
    assert!(no_message_pending(&mut out));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_version_covers_events_that_name_none() {
    let server = NatsServer::start();
    let dir = orders_dir(
        r#"versions = { "1" = "order-placed.v1.schema.json", "2" = "order-placed.v2.schema.json" }
default_version = "1""#,
    );
    let host = start_host(&server, &dir).await;
    let client = server.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();
    let mut dlq = client.subscribe("sluice.dlq.orders").await.unwrap();

    // No version: v1 by default. The payload field `schema_version` names v2.
    let v1 = json!({"op": "echo", "order_id": "o-1", "amount": 5});
    publish_event(&client, "orders.placed", "legacy", v1.to_string()).await;
    let handled = next_message(&mut out, WAIT, "an unversioned v1 event handled").await;
    assert_eq!(header(&handled, "probe-event-id"), Some("legacy"));
    let v2 = json!({"op": "echo", "schema_version": 2, "order_id": "o-2", "total": {"amount": 5, "currency": "EUR"}});
    publish_event(&client, "orders.placed", "field-v2", v2.to_string()).await;
    let handled = next_message(&mut out, WAIT, "a v2 event named by its field handled").await;
    assert_eq!(header(&handled, "probe-event-id"), Some("field-v2"));
    assert!(no_message_pending(&mut dlq));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jetstream_mismatch_is_dead_lettered_once_and_settled() {
    let server = NatsServer::start();
    let dir = FunctionsDir::new();
    dir.write("order.schema.json", ORDER_V1.as_bytes());
    dir.add(
        "orders",
        "probe",
        "[trigger]\nsubjects = [\"js.orders\"]\nmode = \"jetstream\"\n[permissions]\npublish = [\"probe.out\"]\n[schema]\nfile = \"order.schema.json\"\n",
    );
    let host = start_host(&server, &dir).await;
    let client = server.client().await;
    let js = async_nats::jetstream::new(client.clone());
    let mut out = client.subscribe("probe.out").await.unwrap();
    let mut dlq = client.subscribe("sluice.dlq.orders").await.unwrap();
    client.flush().await.unwrap();

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
    host.shutdown().await;
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
    dir.add(
        "good",
        "probe",
        &manifest("file = \"order.schema.json\"").replace("orders.placed", "good"),
    );
    dir.add("broken", "probe", &manifest("file = \"broken.schema.json\""));
    dir.add(
        "garbled",
        "probe",
        &manifest("versions = { \"1\" = \"garbled.schema.json\" }"),
    );
    dir.add("missing", "probe", &manifest("file = \"nowhere.schema.json\""));
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_schema_fails_its_function_and_the_rest_keep_serving() {
    let server = NatsServer::start();
    let dir = broken_schemas();
    let host = start_host(&server, &dir).await;
    assert_eq!(host.functions(), ["good"]);
    let errors: Vec<String> = host.load_errors().iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    let path = |file: &str| dir.path().join(file).display().to_string();
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

    let client = server.client().await;
    let answer = client
        .request(
            "good",
            json!({"op": "echo", "order_id": "o-1", "amount": 1})
                .to_string()
                .into(),
        )
        .await
        .unwrap();
    assert!(!answer.payload.is_empty(), "the good function serves");
    host.shutdown().await;
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
        stdout.contains("outcome: schema_mismatch (would dead-letter; the handler did not run)"),
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
