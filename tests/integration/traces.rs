//! `sluice up --otlp-endpoint`: the shipped host exports a span per attempt to a real OTLP
//! receiver, continues the trace an event's `traceparent` names (and its sampling decision),
//! passes its own span on in what the handler publishes and in its HTTP requests, and writes
//! the attempt's trace and span ids in the handler's log lines; an event dead-lettered before
//! its handler ran is a failed span too.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use sluice_tests::{
    FunctionsDir, KillOnDrop, Manifest, NatsServer, OtlpReceiver, ReceivedSpan, WAIT, header, next_message,
    sluice_command,
};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
const UNSAMPLED_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// Publishes `payload` to `traced.in` with `traceparent` (when given) as event `id`.
async fn publish(
    client: &async_nats::Client,
    id: &str,
    payload: serde_json::Value,
    traceparent: Option<String>,
) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", id);
    if let Some(traceparent) = traceparent {
        headers.insert("traceparent", traceparent.as_str());
    }
    client
        .publish_with_headers("traced.in", headers, payload.to_string().into())
        .await
        .unwrap();
    client.flush().await.unwrap();
}

/// `(trace id, span id, sampled)` of a `traceparent` value.
fn parts(traceparent: &str) -> (String, String, bool) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent}");
    (fields[1].to_owned(), fields[2].to_owned(), fields[3] == "01")
}

fn attempt_of<'a>(spans: &'a [ReceivedSpan], event: &str) -> Option<&'a ReceivedSpan> {
    spans
        .iter()
        .find(|span| span.attribute("messaging.message.id").as_deref() == Some(event))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_up_exports_attempts_continues_traces_and_names_them_in_its_log() {
    let server = NatsServer::start();
    let receiver = OtlpReceiver::start().await;
    let receiver_host = receiver.addr().to_string();
    let dir = FunctionsDir::new();
    let manifest = Manifest::new()
        .subjects(["traced.in"])
        .publish(["probe.out"])
        .http([receiver_host.as_str()])
        .max_payload("1KiB");
    dir.add("traced", "probe", manifest);
    let state = tempfile::tempdir().unwrap();
    let log = state.path().join("sluice.log");
    let _host = KillOnDrop(
        sluice_command()
            .args(["up", "--no-watch", "--functions"])
            .arg(dir.path())
            .args(["--nats", &server.url(), "--state-dir"])
            .arg(state.path())
            .args(["--otlp-endpoint", &receiver.endpoint()])
            .env("OTEL_SERVICE_NAME", "traced-probe")
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let client = server.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();

    // A sampled parent: the attempt continues its trace. Core NATS drops events sent before
    // the host subscribed, so the first is sent until one is answered.
    let sampled = format!("00-{TRACE}-{PARENT}-01");
    let mut answered = None;
    for n in 0..100 {
        let id = format!("logged-{n}");
        let event = json!({"op": "log", "message": format!("hello from {id}")});
        publish(&client, &id, event, Some(sampled.clone())).await;
        if let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_millis(200), futures::StreamExt::next(&mut out)).await
        {
            answered = Some((id, message));
            break;
        }
    }
    let (logged, echo) = answered.expect("the host answers within 20 s");
    let spans = receiver
        .wait_for("the logged event's attempt", WAIT, |spans| {
            attempt_of(spans, &logged).is_some()
        })
        .await;
    let attempt = attempt_of(&spans, &logged).unwrap();
    assert_eq!(attempt.trace_id(), TRACE);
    assert_eq!(attempt.parent_id().as_deref(), Some(PARENT));
    assert_eq!(attempt.span.name, "traced");
    assert_eq!(attempt.service, "traced-probe");
    assert_eq!(attempt.attribute("sluice.outcome").as_deref(), Some("ok"));
    assert_eq!(
        attempt.attribute("messaging.destination.name").as_deref(),
        Some("traced.in")
    );
    // The echo carries its publish span, a child of the attempt.
    let (trace, publish_span, flag) = parts(header(&echo, "traceparent").expect("the echo's traceparent"));
    assert_eq!((trace.as_str(), flag), (TRACE, true));
    let spans = receiver
        .wait_for("the echo's publish span", WAIT, |spans| {
            spans.iter().any(|s| s.span_id() == publish_span)
        })
        .await;
    let producer = spans.iter().find(|s| s.span_id() == publish_span).unwrap();
    assert_eq!(producer.span.name, "publish probe.out");
    assert_eq!(producer.parent_id(), Some(attempt.span_id()));
    // The handler's log line names the attempt's trace and span.
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .find(|line| line.contains(&format!("hello from {logged}")) && !line.contains("printed"))
        .unwrap_or_else(|| panic!("the handler's log line:\n{text}"));
    assert!(line.contains(&format!("trace_id={TRACE}")), "{line}");
    assert!(line.contains(&format!("span_id={}", attempt.span_id())), "{line}");

    // An unsampled parent: nothing is exported, and the decision travels on.
    publish(
        &client,
        "unsampled",
        json!({"op": "echo"}),
        Some(format!("00-{UNSAMPLED_TRACE}-{PARENT}-00")),
    )
    .await;
    let echo = next_message(&mut out, WAIT, "the unsampled event's echo").await;
    let (trace, span, flag) = parts(header(&echo, "traceparent").unwrap());
    assert_eq!((trace.as_str(), flag), (UNSAMPLED_TRACE, false));
    assert_ne!(span, PARENT, "the host's own span id");

    // No traceparent: a new trace, which the output carries; an HTTP call is a client span
    // whose context the request carries.
    let url = format!("http://{receiver_host}/hook");
    publish(
        &client,
        "fresh",
        json!({"op": "http", "url": url, "body": "hi"}),
        None,
    )
    .await;
    let report = next_message(&mut out, WAIT, "the HTTP call's report").await;
    let spans = receiver
        .wait_for("the fresh event's attempt", WAIT, |spans| {
            attempt_of(spans, "fresh").is_some()
        })
        .await;
    let fresh = attempt_of(&spans, "fresh").unwrap();
    assert_eq!(fresh.parent_id(), None, "a new trace starts at the attempt");
    let (trace, _, _) = parts(header(&report, "traceparent").unwrap());
    assert_eq!(trace, fresh.trace_id());
    let sent = receiver.other_requests();
    let carried = sent
        .iter()
        .flat_map(|headers| headers.iter())
        .find(|(name, _)| name == "traceparent")
        .map(|(_, value)| parts(value))
        .expect("the HTTP request carries a traceparent");
    let spans = receiver
        .wait_for("the HTTP call's span", WAIT, |spans| {
            spans.iter().any(|s| s.span_id() == carried.1)
        })
        .await;
    let call = spans.iter().find(|s| s.span_id() == carried.1).unwrap();
    assert_eq!(call.span.name, "POST");
    assert_eq!(call.parent_id(), Some(fresh.span_id()));
    assert_eq!(
        call.attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(call.attribute("server.address").as_deref(), Some("127.0.0.1"));

    // Dead-lettered before the handler ran: one failed span says why.
    let big = json!({"op": "echo", "pad": "x".repeat(2000)});
    publish(&client, "too-large", big, None).await;
    let spans = receiver
        .wait_for("the oversized event's span", WAIT, |spans| {
            attempt_of(spans, "too-large").is_some()
        })
        .await;
    let rejected = attempt_of(&spans, "too-large").unwrap();
    assert!(rejected.is_error());
    assert_eq!(
        rejected.attribute("sluice.outcome").as_deref(),
        Some("dead_letter")
    );
    assert_eq!(
        rejected.attribute("sluice.dead_letter.reason").as_deref(),
        Some("payload_too_large")
    );
    assert_eq!(rejected.attribute("sluice.handler_ran").as_deref(), Some("false"));

    assert!(
        spans.iter().all(|span| span.trace_id() != UNSAMPLED_TRACE),
        "the unsampled trace exported nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_collector_gone_events_flow_and_json_log_lines_still_name_the_trace() {
    let server = NatsServer::start();
    // A port nothing listens on: every export fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = FunctionsDir::new();
    dir.add(
        "traced",
        "probe",
        Manifest::new().subjects(["traced.in"]).publish(["probe.out"]),
    );
    let state = tempfile::tempdir().unwrap();
    let log = state.path().join("sluice.log");
    let _host = KillOnDrop(
        sluice_command()
            .args(["--log-format", "json", "up", "--no-watch", "--functions"])
            .arg(dir.path())
            .args(["--nats", &server.url(), "--state-dir"])
            .arg(state.path())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let client = server.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();
    let sampled = format!("00-{TRACE}-{PARENT}-01");
    let mut answered = 0;
    for n in 0..200 {
        let event = json!({"op": "log", "message": format!("json line {n}")});
        publish(&client, &format!("j-{n}"), event, Some(sampled.clone())).await;
        if tokio::time::timeout(Duration::from_millis(100), futures::StreamExt::next(&mut out))
            .await
            .is_ok_and(|message| message.is_some())
        {
            answered += 1;
            if answered == 20 {
                break;
            }
        }
    }
    assert_eq!(answered, 20, "events are handled while no collector answers");
    let warned = sluice_tests::until_ok(
        WAIT,
        Duration::from_millis(100),
        "the export failure said",
        async || {
            let text = std::fs::read_to_string(&log).unwrap();
            let warnings = text
                .lines()
                .filter(|line| line.contains("trace export failed"))
                .count();
            match warnings {
                0 => Err(format!("no warning yet:\n{text}")),
                n => Ok(n),
            }
        },
    )
    .await;
    assert_eq!(warned, 1);
    // More spans, more failed exports (one every 100 ms): still the one warning.
    for n in 0..10 {
        publish(
            &client,
            &format!("k-{n}"),
            json!({"op": "echo"}),
            Some(sampled.clone()),
        )
        .await;
        next_message(&mut out, WAIT, "an echo").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let warnings = text
        .lines()
        .filter(|line| line.contains("trace export failed"))
        .count();
    assert_eq!(warnings, 1, "one warning while exports keep failing:\n{text}");
    let handler_line = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| {
            line["target"] == "sluice::handler"
                && line["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("json line"))
        })
        .unwrap_or_else(|| panic!("a handler line in JSON:\n{text}"));
    assert_eq!(handler_line["span"]["trace_id"], TRACE, "{handler_line}");
    let span_id = handler_line["span"]["span_id"].as_str().unwrap_or_default();
    assert!(span_id.len() == 16 && span_id != PARENT, "{handler_line}");
}
