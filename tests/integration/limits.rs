//! Concurrency caps, timeouts, memory limits, traps and payload limits: each violation ends
//! only its own invocation.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use sluice_tests::{Manifest, Sluice, WAIT, eventually, header, next_message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_max_concurrency_instances_run_at_once() {
    const CAP: usize = 4;
    const EVENTS: usize = 24;
    let sluice = Sluice::builder()
        .add(
            "slow",
            "probe",
            Manifest::new()
                .subjects(["in"])
                .max_concurrency(CAP as u64)
                .publish(["probe.out"]),
        )
        .start()
        .await;
    let mut out = sluice.subscribe("probe.out").await;

    for n in 0..EVENTS {
        sluice
            .publish_event(
                "in",
                &format!("s-{n}"),
                json!({"op": "sleep", "ms": 150}).to_string(),
            )
            .await;
    }
    let mut intervals = Vec::new();
    for _ in 0..EVENTS {
        let message = next_message(&mut out, WAIT, "sleep report").await;
        let report: Value = serde_json::from_slice(&message.payload).unwrap();
        intervals.push((
            report["start_ns"].as_u64().unwrap(),
            report["end_ns"].as_u64().unwrap(),
        ));
    }
    // The handlers' own clock readings: how many ran at the same time, at most.
    assert_eq!(max_overlap(&intervals), CAP, "handlers overlapping at once");
    let stats = sluice.host.stats("slow").unwrap();
    assert_eq!(
        stats.peak_in_flight, CAP as u64,
        "instances the host counted at once"
    );
    assert_eq!(stats.succeeded, EVENTS as u64);
    sluice.shutdown().await;
}

/// The most of `intervals` (start, end) that overlap at any one time.
pub(crate) fn max_overlap(intervals: &[(u64, u64)]) -> usize {
    let mut edges: Vec<(u64, i32)> = intervals
        .iter()
        .flat_map(|&(start, end)| [(start, 1), (end, -1)])
        .collect();
    // At equal times, an end comes before a start: touching intervals do not overlap.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in edges {
        now += delta;
        most = most.max(now);
    }
    most as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_endless_loops_and_memory_hogs_are_contained() {
    let hostile = Manifest::new()
        .subjects(["hostile"])
        .timeout("300ms")
        .memory("16MiB")
        .max_attempts(1)
        .dead_letter("dead");
    let sluice = Sluice::builder()
        .add("hostile", "probe", hostile)
        .add("healthy", "probe", Manifest::new().subjects(["healthy"]))
        .start()
        .await;
    let mut dead = sluice.subscribe("dead").await;

    let mut expected = Vec::new();
    for (op, reason, error) in [
        ("trap", "trap", "probe trap"),
        ("spin", "timeout", "timed out after 300ms"),
        ("hog", "out_of_memory", "limits.memory = 16777216 bytes"),
    ] {
        sluice
            .publish_event("hostile", op, json!({"op": op}).to_string())
            .await;
        expected.push((op, reason, error));
        // While the hostile handler misbehaves, the healthy function keeps answering.
        let answer = sluice
            .client
            .request("healthy", json!({"op": "echo", "during": op}).to_string().into());
        let answer = tokio::time::timeout(WAIT, answer)
            .await
            .expect("healthy function answers")
            .unwrap();
        assert!(String::from_utf8_lossy(&answer.payload).contains(op));
    }
    let mut seen = Vec::new();
    for _ in 0..expected.len() {
        let message = next_message(&mut dead, WAIT, "hostile event dead-lettered").await;
        seen.push((
            header(&message, "Sluice-Event-Id").unwrap().to_owned(),
            header(&message, "Sluice-Dlq-Reason").unwrap().to_owned(),
            header(&message, "Sluice-Dlq-Error").unwrap().to_owned(),
        ));
    }
    for (op, reason, error) in expected {
        let (_, got_reason, got_error) = seen
            .iter()
            .find(|(id, ..)| id == op)
            .unwrap_or_else(|| panic!("{op} not dead-lettered"));
        assert_eq!(got_reason, reason, "{op}");
        assert!(got_error.contains(error), "{op}: {got_error}");
    }
    assert_eq!(sluice.host.stats("healthy").unwrap().succeeded, 3);
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_payloads_are_dead_lettered_unprocessed() {
    let sluice = Sluice::builder()
        .add(
            "small",
            "probe",
            Manifest::new()
                .subjects(["in"])
                .max_payload("1KiB")
                .publish(["probe.out"]),
        )
        .start()
        .await;
    let mut dead = sluice.subscribe("sluice.dlq.small").await;
    let mut out = sluice.subscribe("probe.out").await;

    let big = json!({"op": "echo", "pad": "x".repeat(2000)}).to_string();
    sluice.publish_event("in", "big", big.clone()).await;
    sluice
        .publish_event("in", "ok", json!({"op": "echo"}).to_string())
        .await;
    let message = next_message(&mut dead, WAIT, "oversized event").await;
    assert_eq!(message.payload, big.as_bytes());
    assert_eq!(header(&message, "Sluice-Dlq-Reason"), Some("payload_too_large"));
    assert_eq!(header(&message, "Sluice-Attempts"), Some("0"));
    let echoed = next_message(&mut out, WAIT, "small event still handled").await;
    assert_eq!(header(&echoed, "probe-event-id"), Some("ok"));
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_beyond_max_pending_are_counted_not_lost_silently() {
    const EVENTS: u64 = 20;
    let sluice = Sluice::builder()
        .add(
            "narrow",
            "probe",
            Manifest::new()
                .subjects(["in"])
                .max_concurrency(1)
                .max_pending(2)
                .publish(["probe.out"]),
        )
        .start()
        .await;
    for n in 0..EVENTS {
        sluice
            .publish_event(
                "in",
                &format!("n-{n}"),
                json!({"op": "sleep", "ms": 100}).to_string(),
            )
            .await;
    }
    eventually(WAIT, "every event accounted for", async || {
        let stats = sluice.host.stats("narrow").unwrap();
        stats.succeeded + stats.overflowed == EVENTS
    })
    .await;
    let stats = sluice.host.stats("narrow").unwrap();
    assert!(
        stats.overflowed >= EVENTS - 4,
        "most of the burst overflowed: {stats:?}"
    );
    assert_eq!(stats.received, stats.succeeded);
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pending_queue_is_bounded_in_bytes_and_an_empty_one_takes_any_event() {
    const EVENTS: u64 = 20;
    let sluice = Sluice::builder()
        .add(
            "narrow",
            "probe",
            Manifest::new()
                .subjects(["in"])
                .max_concurrency(1)
                .max_pending_bytes("100B")
                .publish(["probe.out"]),
        )
        .start()
        .await;
    // Every event is larger than the bound: one runs, one waits (the queue was empty), the
    // rest find it full until the running one ends.
    let event = json!({"op": "sleep", "ms": 200, "pad": "x".repeat(300)}).to_string();
    for n in 0..EVENTS {
        sluice.publish_event("in", &format!("n-{n}"), event.clone()).await;
    }
    eventually(WAIT, "every event accounted for", async || {
        let stats = sluice.host.stats("narrow").unwrap();
        stats.succeeded + stats.overflowed == EVENTS
    })
    .await;
    let stats = sluice.host.stats("narrow").unwrap();
    assert!(
        stats.succeeded >= 2,
        "the running event and one waiting: {stats:?}"
    );
    assert!(
        stats.overflowed >= EVENTS - 4,
        "most of the burst overflowed: {stats:?}"
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_pending_queue_holds_a_burst_that_arrives_while_every_instance_is_busy() {
    // More than the 10,000 events the queue held by default before.
    const BURST: u64 = 15_000;
    const CAP: u64 = 4;
    let sluice = Sluice::builder()
        .add(
            "busy",
            "probe",
            Manifest::new()
                .subjects(["in"])
                .max_concurrency(CAP)
                .publish(["probe.out"]),
        )
        .start()
        .await;
    let mut out = sluice.subscribe("probe.out").await;
    for n in 0..CAP {
        let sleep = json!({"op": "sleep", "ms": 1000}).to_string();
        sluice.publish_event("in", &format!("sleep-{n}"), sleep).await;
    }
    let echo = bytes::Bytes::from(json!({"op": "echo"}).to_string());
    for _ in 0..BURST {
        sluice.client.publish("in", echo.clone()).await.unwrap();
    }
    sluice.client.flush().await.unwrap();
    eventually(WAIT, "every event accounted for", async || {
        let stats = sluice.host.stats("busy").unwrap();
        stats.succeeded + stats.overflowed == BURST + CAP
    })
    .await;
    let stats = sluice.host.stats("busy").unwrap();
    assert_eq!(stats.overflowed, 0, "none of the burst dropped: {stats:?}");
    for _ in 0..BURST + CAP {
        next_message(&mut out, WAIT, "an output per event").await;
    }
    sluice.shutdown().await;
}

/// Publishes `{"op":"log"}` events to `chatty.in` as event `id`, with `message` as the line.
async fn publish_log(client: &async_nats::Client, id: &str, message: &str) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", id);
    let payload = json!({"op": "log", "message": message}).to_string();
    client
        .publish_with_headers("chatty.in", headers, payload.into())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_log_lines_over_the_budget_are_left_out_and_counted() {
    // The shipped `sluice up` with its own log: every event's line (the log call, and what
    // the handler prints to stdout and stderr) is either written or counted in the warning
    // that comes before the next line written.
    const BUDGET: usize = 5;
    const BURST: usize = 40;
    let server = sluice_tests::NatsServer::start();
    let dir = sluice_tests::FunctionsDir::new();
    let manifest = Manifest::new()
        .subjects(["chatty.in"])
        .publish(["probe.out"])
        .log_lines_per_second(BUDGET as u64);
    dir.add("chatty", "probe", manifest);
    let state = tempfile::tempdir().unwrap();
    let log = state.path().join("sluice.log");
    let _host = sluice_tests::KillOnDrop(
        sluice_tests::sluice_command()
            .args(["up", "--no-watch", "--functions"])
            .arg(dir.path())
            .args(["--nats", &server.url(), "--state-dir"])
            .arg(state.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let client = server.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();
    // Core NATS drops events sent before the host subscribed: send until one is answered.
    let mut answered = 0;
    for n in 0..100 {
        publish_log(&client, &format!("warm-{n}"), "line from warm-up").await;
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), out.next()).await {
            answered += 1;
            break;
        }
    }
    assert_eq!(answered, 1, "the host answers within 20 s");
    // A new second, then a burst: at most the budget of each second it spans is written.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = Instant::now();
    for n in 0..BURST {
        publish_log(&client, &format!("burst-{n}"), "line from the burst").await;
    }
    // Every handled event answers once (a late warm-up event too): count them all.
    let mut handled = answered;
    let mut burst_answered = 0;
    while burst_answered < BURST {
        let answer = next_message(&mut out, WAIT, "the burst's answers").await;
        handled += 1;
        if String::from_utf8_lossy(&answer.payload).contains("line from the burst") {
            burst_answered += 1;
        }
    }
    let seconds = started.elapsed().as_secs() as usize + 1;
    // The next second's line is written, after the warning that counts what was left out.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    publish_log(&client, "last", "line from the last event").await;
    while !String::from_utf8_lossy(
        &next_message(&mut out, WAIT, "the last event's answer")
            .await
            .payload,
    )
    .contains("line from the last event")
    {
        handled += 1;
    }
    let text = sluice_tests::until_ok(
        WAIT,
        Duration::from_millis(50),
        "the last event's lines in the log",
        async || {
            let text = std::fs::read_to_string(&log).unwrap();
            match text.matches("line from the last event").count() {
                3 => Ok(text),
                _ => Err("not all three written yet"),
            }
        },
    )
    .await;

    let lines = |marker: &str| text.lines().filter(|line| line.contains(marker)).count();
    let left_out: usize = text
        .lines()
        .filter(|line| line.contains("handler log lines were left out"))
        .map(|line| {
            let count = line.split(" handler log lines").next().unwrap();
            count.rsplit(' ').next().unwrap().parse::<usize>().unwrap()
        })
        .sum();
    // Three lines per event: the log call, stdout, stderr.
    let burst_written = lines("line from the burst");
    assert!(
        burst_written <= BUDGET * (seconds + 1),
        "{burst_written} burst lines written in {seconds} s at {BUDGET} a second:\n{text}"
    );
    assert_eq!(
        lines("line from warm-up") + burst_written + left_out,
        3 * handled,
        "every line before the last event is written or counted:\n{text}"
    );
    assert_eq!(lines("line from the last event"), 3, "{text}");
    assert!(text.contains("over limits.log_lines_per_second = 5"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_lines_the_log_filter_hides_take_nothing_from_the_budget() {
    // `SLUICE_LOG` silences handlers' info lines: a burst over the budget is then not
    // "left out", there is nothing to count.
    let server = sluice_tests::NatsServer::start();
    let dir = sluice_tests::FunctionsDir::new();
    let manifest = Manifest::new()
        .subjects(["chatty.in"])
        .publish(["probe.out"])
        .log_lines_per_second(2);
    dir.add("chatty", "probe", manifest);
    let state = tempfile::tempdir().unwrap();
    let log = state.path().join("sluice.log");
    let mut host = sluice_tests::KillOnDrop(
        sluice_tests::sluice_command()
            .args(["up", "--no-watch", "--functions"])
            .arg(dir.path())
            .args(["--nats", &server.url(), "--state-dir"])
            .arg(state.path())
            .env("SLUICE_LOG", "info,sluice::handler=warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let client = server.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();
    let mut answered = false;
    for n in 0..100 {
        publish_log(&client, &format!("warm-{n}"), "line from warm-up").await;
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), out.next()).await {
            answered = true;
            break;
        }
    }
    assert!(answered, "the host answers within 20 s");
    for n in 0..20 {
        publish_log(&client, &format!("burst-{n}"), "line from the burst").await;
    }
    for _ in 0..20 {
        next_message(&mut out, WAIT, "the burst's answers").await;
    }
    // A line in the next second would carry the count, if anything had been counted.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    publish_log(&client, "last", "line from the last event").await;
    next_message(&mut out, WAIT, "the last event's answer").await;
    // A graceful stop writes out the whole log.
    let stopped = std::process::Command::new("kill")
        .args(["-INT", &host.0.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = tokio::task::spawn_blocking(move || host.0.wait()).await.unwrap();
    assert!(status.is_ok());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("sluice is up"), "{text}");
    assert!(
        !text.contains("line from"),
        "handler info lines are filtered:\n{text}"
    );
    assert!(!text.contains("left out"), "{text}");
}
