//! Operations: `/metrics` and `/healthz` on the admin endpoint, and `--log-format json`.

use std::net::SocketAddr;

use serde_json::json;
use sluice_tests::process::message;
use sluice_tests::{
    Manifest, Sluice, SluiceProcess, WAIT, eventually, http_get, next_message, publish_js, sluice_command,
};

/// A probe on `in` that retries once, quickly.
fn manifest() -> Manifest {
    Manifest::new()
        .subjects(["in"])
        .retry(2, "10ms", "10ms")
        .publish(["probe.out"])
}

/// The value of `series` (name and labels exactly as exposed) in a Prometheus text body.
fn sample(body: &str, series: &str) -> String {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} is not in the scrape:\n{body}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_every_outcome_and_healthz_follows_nats() {
    let mut sluice = Sluice::builder()
        .add("metered", "probe", manifest())
        .admin()
        .start()
        .await;
    let addr = sluice.host.admin_addr().expect("admin endpoint requested");
    assert_ne!(addr.port(), 0, "the bound port is reported");
    let mut dlq = sluice.subscribe("sluice.dlq.metered").await;

    // 2 successes (1 attempt each), a trap (retried once: 2 attempts), a permanent
    // rejection (1 attempt): 4 events, 5 attempts.
    let events = [
        json!({"op": "echo"}),
        json!({"op": "echo"}),
        json!({"op": "trap"}),
        json!({"op": "fail", "retryable": false}),
    ];
    for (i, event) in events.iter().enumerate() {
        sluice
            .publish_event("in", &format!("e-{i}"), event.to_string())
            .await;
    }
    next_message(&mut dlq, WAIT, "first dead letter").await;
    next_message(&mut dlq, WAIT, "second dead letter").await;
    eventually(WAIT, "both successes published", async || {
        sluice.host.stats("metered").unwrap().published == 2
    })
    .await;

    let scrape = http_get(addr, "/metrics");
    assert_eq!(scrape.status, 200, "{}", scrape.body);
    assert!(
        scrape
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let body = &scrape.body;
    let value = |series: &str| sample(body, &series.replace("FN", r#"function="metered""#));
    assert_eq!(value("sluice_events_received_total{FN}"), "4");
    assert_eq!(value("sluice_events_succeeded_total{FN}"), "2");
    assert_eq!(value("sluice_events_retried_total{FN}"), "1");
    assert_eq!(
        value(r#"sluice_events_dead_lettered_total{FN,reason="trap"}"#),
        "1"
    );
    assert_eq!(
        value(r#"sluice_events_dead_lettered_total{FN,reason="permanent"}"#),
        "1"
    );
    assert_eq!(
        value(r#"sluice_events_dead_lettered_total{FN,reason="exhausted"}"#),
        "0"
    );
    assert_eq!(value("sluice_events_dropped_total{FN}"), "0");
    assert_eq!(value("sluice_events_overflowed_total{FN}"), "0");
    assert_eq!(value(r#"sluice_publishes_total{FN,result="ok"}"#), "2");
    assert_eq!(value(r#"sluice_publishes_total{FN,result="failed"}"#), "0");
    assert_eq!(value("sluice_events_in_flight{FN}"), "0");
    assert_eq!(value("sluice_jetstream_pending{FN}"), "0");
    assert_eq!(
        value("sluice_handler_duration_seconds_count{FN}"),
        "5",
        "one per attempt"
    );
    assert_eq!(
        value(r#"sluice_handler_duration_seconds_bucket{FN,le="+Inf"}"#),
        "5"
    );
    let seconds: f64 = value("sluice_handler_duration_seconds_sum{FN}").parse().unwrap();
    assert!(seconds > 0.0, "{seconds}");

    let health = http_get(addr, "/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    assert_eq!(http_get(addr, "/nope").status, 404);

    sluice.server.kill();
    eventually(WAIT, "/healthz reports the lost NATS connection", async || {
        http_get(addr, "/healthz").status == 503
    })
    .await;
    let health = http_get(addr, "/healthz");
    assert!(health.body.starts_with("NATS connection is "), "{}", health.body);
    // The server is gone, so there is nothing to flush: dropping the host stops it.
    drop(sluice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_up_serves_the_admin_endpoint_and_logs_json_with_event_fields() {
    // The host is a `sluice up` process here.
    let stage = Sluice::builder()
        .add("metered", "probe", manifest())
        .stage()
        .await;
    let state = tempfile::tempdir().unwrap();
    let mut sluice = SluiceProcess::spawn(
        sluice_command()
            .args([
                "--log-format",
                "json",
                "up",
                "--no-watch",
                "--admin",
                "127.0.0.1:0",
            ])
            .args(["--nats", &stage.server.url(), "--functions"])
            .arg(stage.dir.path())
            .arg("--state-dir")
            .arg(state.path()),
    );
    let listening = sluice.line_where("naming the admin address", |l| {
        message(l).starts_with("admin endpoint: ")
    });
    let addr: SocketAddr = listening["fields"]["addr"]
        .as_str()
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {listening}"));
    sluice.line_where("saying the host is up", |l| {
        message(l).starts_with("sluice is up")
    });
    assert_eq!(http_get(addr, "/healthz").status, 200);

    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", "e-json");
    headers.insert("Sluice-Correlation-Id", "c-json");
    let event = json!({"op": "fail", "retryable": false}).to_string();
    stage
        .client
        .publish_with_headers("in", headers, event.into())
        .await
        .unwrap();
    stage.client.flush().await.unwrap();

    let giving_up = sluice.line_where("giving up on the event", |l| message(l).starts_with("giving up"));
    assert_eq!(giving_up["level"], "WARN");
    let span = &giving_up["span"];
    assert_eq!(span["name"], "event", "{giving_up}");
    assert_eq!(span["function"], "metered", "{giving_up}");
    assert_eq!(span["subject"], "in", "{giving_up}");
    assert_eq!(span["event_id"], "e-json", "{giving_up}");
    assert_eq!(span["correlation_id"], "c-json", "{giving_up}");
    assert_eq!(span["attempt"], 1, "{giving_up}");
    let scrape = http_get(addr, "/metrics");
    assert!(
        scrape
            .body
            .contains(r#"sluice_events_received_total{function="metered"} 1"#),
        "{}",
        scrape.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jetstream_retry_in_place_updates_the_attempt_on_the_span() {
    // Per-key ordering retries in place (the span lives across attempts), unlike a NAK.
    let ordered = Manifest::new()
        .subjects(["js.in"])
        .jetstream()
        .per_key("json:/key")
        .max_attempts(3)
        .initial_delay("10ms");
    // The host is a `sluice up` process here.
    let stage = Sluice::builder().add("ordered", "probe", ordered).stage().await;
    let state = tempfile::tempdir().unwrap();
    let mut sluice = SluiceProcess::spawn(
        sluice_command()
            .args(["--log-format", "json", "up", "--no-watch"])
            .args(["--nats", &stage.server.url(), "--functions"])
            .arg(stage.dir.path())
            .arg("--state-dir")
            .arg(state.path()),
    );
    sluice.line_where("saying the host is up", |l| {
        message(l).starts_with("sluice is up")
    });
    let event = json!({"op": "fail", "until": 3, "key": "k"}).to_string();
    publish_js(&stage.js(), "js.in", "e-ordered", event).await;

    for attempt in 1..=2 {
        let failed = sluice.line_where("about a failed attempt", |l| {
            message(l).starts_with("attempt failed") && l["fields"]["attempt"] == attempt
        });
        assert_eq!(failed["span"]["event_id"], "e-ordered", "{failed}");
        assert_eq!(failed["span"]["attempt"], attempt, "{failed}");
    }
}
