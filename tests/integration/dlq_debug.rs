//! `sluice dlq debug` and `sluice dlq replay --verify`, run as the real binary: a hidden bug
//! that depends on a key-value value, the wall clock and a random seed dead-letters an event
//! on a host; the debugger replays that exact failure offline, a fixed version handles the
//! same transcript, and a version that calls another URL is reported as diverged.

use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use sluice_tests::{
    Manifest, Sluice, Stage, WAIT, guest, header, next_message, publish_js, sluice_command, until_ok,
};

use super::dlq::dlq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A rates service: answers every request with `1.08`, and counts them.
async fn rates_server() -> (
    u16,
    tokio::task::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = served.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = [0; 4096];
                let _ = stream.read(&mut request).await;
                let body = "1.08";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, task, served)
}

fn text(output: &Output) -> String {
    format!(
        "{:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `sluice dlq debug --json` with `args`, and its report.
async fn debug_json(stage: &Stage, args: &[&str]) -> (Output, Value) {
    let mut all = vec!["debug"];
    all.extend_from_slice(args);
    all.push("--json");
    let output = dlq(stage, &all).await;
    let report =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {}", text(&output)));
    (output, report)
}

/// The stream sequence of `function`'s dead letter for event `event_id` (first failure),
/// once the dead-letter stream holds it: a subscriber can see the letter before the stream
/// has stored it.
async fn stored_letter(stage: &Stage, function: &str, event_id: &str) -> u64 {
    let stream = stage.js().get_stream("SLUICE_DLQ").await.unwrap();
    let subject = format!("sluice.dlq.{function}");
    let letter_id = format!("dlq:{function}:{event_id}:0");
    let what = format!("the dead letter of {event_id} in SLUICE_DLQ");
    until_ok(WAIT, Duration::from_millis(10), &what, async || {
        let newest = stream
            .get_last_raw_message_by_subject(&subject)
            .await
            .map_err(|error| error.to_string())?;
        let id = newest.headers.get("Nats-Msg-Id").map(|id| id.to_string());
        match id.as_deref() == Some(letter_id.as_str()) {
            true => Ok(newest.sequence),
            false => Err(format!("the newest letter is {id:?}")),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_replays_its_exact_failure_offline_and_tells_which_new_version_handles_it() {
    let (port, rates, served) = rates_server().await;
    let rates_url = format!("http://127.0.0.1:{port}");
    let authority = format!("127.0.0.1:{port}");
    let manifest = Manifest::new()
        .subjects(["credit.requested"])
        .jetstream()
        .buckets(["limits"])
        .publish(["credit.checked"])
        .http([authority.as_str()])
        .config("rates_url", &rates_url)
        .max_attempts(1);
    let sluice = Sluice::builder()
        .add("credit-check", "credit-check", manifest)
        .start()
        .await;
    let limits = sluice.js().get_key_value("limits").await.unwrap();
    limits.put("acme", "1500.50".into()).await.unwrap();
    let mut dead = sluice.subscribe("sluice.dlq.credit-check").await;
    let request = json!({"customer": "acme", "amount": 1200}).to_string();
    publish_js(&sluice.js(), "credit.requested", "c-1", request).await;
    let letter = next_message(&mut dead, WAIT, "the dead letter").await;
    let error = header(&letter, "Sluice-Dlq-Error").unwrap().to_owned();
    assert!(
        error.starts_with("handler rejected the event: credit check for acme at ")
            && error.ends_with("limit \"1500.50\" is not a whole number"),
        "{error}"
    );
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
    let sequence = stored_letter(&sluice, "credit-check", "c-1").await.to_string();

    // `--live` makes the calls the transcript lacks for real: the diverged version's new URL.
    let diverged = guest("credit-check-diverged");
    let diverged = diverged.to_str().unwrap();
    let (output, report) = debug_json(
        &sluice,
        &["credit-check", &sequence, "--with", diverged, "--live"],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(report["replay"]["handled"], true, "{report:#}");
    assert_eq!(
        served.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one live call"
    );

    // Offline: no host, no rates service, and the key's value has changed since.
    let (stage, _) = sluice.stop().await;
    rates.abort();
    limits.put("acme", "9000".into()).await.unwrap();

    let text_report = dlq(&stage, &["debug", "credit-check", &sequence]).await;
    assert!(text_report.status.success(), "{}", text(&text_report));
    let shown = String::from_utf8_lossy(&text_report.stdout);
    for expected in [
        format!("1. config.get rates_url -> \"{rates_url}\""),
        format!("2. http GET {rates_url}/rates/EUR -> 200 (4 bytes) 1.08"),
        "3. kv.get limits/acme -> {\"Ok\":{\"revision\":1,\"value\":\"1500.50\"}}".to_owned(),
        "log info: checking acme: rate 1.08".to_owned(),
        format!("failed the same way: {error}"),
    ] {
        assert!(shown.contains(&expected), "{expected:?} missing in:\n{shown}");
    }
    // The message carries the clock and a random nonce: the same text ten times over means
    // both came back from the transcript.
    for run in 0..10 {
        let (output, report) = debug_json(&stage, &["credit-check", &sequence]).await;
        assert!(output.status.success(), "run {run}: {}", text(&output));
        assert_eq!(report["replay"]["reproduced"], true, "run {run}: {report:#}");
        assert_eq!(report["replay"]["error"], error.as_str(), "run {run}");
        assert_eq!(report["replay"]["diverged"], Value::Null);
    }
    assert_eq!(
        served.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the replays called nobody"
    );

    let fixed = guest("credit-check-fixed");
    let fixed = fixed.to_str().unwrap();
    let (output, report) = debug_json(&stage, &["credit-check", &sequence, "--with", fixed]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(report["replay"]["handled"], true, "{report:#}");
    let messages = report["replay"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{report:#}");
    assert_eq!(messages[0]["subject"], "credit.checked");
    let checked: Value = serde_json::from_str(messages[0]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(checked["limit"], 1500.5, "the recorded value, not today's 9000");
    assert_eq!(checked["rate"], 1.08);

    let (output, report) = debug_json(&stage, &["credit-check", &sequence, "--with", diverged]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let why = report["replay"]["diverged"].as_str().unwrap_or_default();
    assert!(
        why.contains(&format!("`http GET {rates_url}/v2/rates/EUR`"))
            && why.contains(&format!("`http GET {rates_url}/rates/EUR`")),
        "{report:#}"
    );

    // Saved to a file, the transcript debugs with no NATS at all.
    let saved = stage.dir.path().join("letter.json");
    let saved = saved.to_str().unwrap();
    let output = dlq(&stage, &["debug", "credit-check", &sequence, "--save", saved]).await;
    assert!(output.status.success(), "{}", text(&output));
    let mut offline = sluice_command();
    offline
        .args(["dlq", "debug", "credit-check", "--transcript", saved, "--json"])
        .args(["--nats", "nats://127.0.0.1:1", "--functions"])
        .arg(stage.dir.path());
    let output = tokio::task::spawn_blocking(move || offline.output().unwrap())
        .await
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["replay"]["error"], error.as_str());
    assert_eq!(report["sequence"].to_string(), sequence);

    let kept = dlq(&stage, &["replay", "credit-check", "--verify", diverged]).await;
    let kept_text = String::from_utf8_lossy(&kept.stdout);
    assert!(
        kept.status.success() && kept_text.contains(&format!("refused {sequence} (event c-1): --verify: ")),
        "{}",
        text(&kept)
    );
    assert!(kept_text.contains("0 replayed, 1 refused"), "{kept_text}");
    let mut requests = stage.subscribe("credit.requested").await;
    let replayed = dlq(&stage, &["replay", "credit-check", "--verify", fixed]).await;
    assert!(
        String::from_utf8_lossy(&replayed.stdout).contains(&format!("replayed {sequence} (event c-1)")),
        "{}",
        text(&replayed)
    );
    let again = next_message(&mut requests, WAIT, "the replayed event").await;
    assert_eq!(header(&again, "Sluice-Event-Id"), Some("c-1"));
    let gone = dlq(&stage, &["debug", "credit-check", &sequence]).await;
    assert!(
        String::from_utf8_lossy(&gone.stderr)
            .contains(&format!("no dead letter of credit-check at sequence {sequence}")),
        "{}",
        text(&gone)
    );
    let transcripts = stage.js().get_stream("SLUICE_TRANSCRIPTS").await.unwrap();
    let left = transcripts.get_info().await.unwrap().state.messages;
    assert_eq!(left, 0, "the replayed letter's transcript is deleted with it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_functions_keep_transcripts_only_when_asked_and_never_a_secret_value() {
    let files = tempfile::tempdir().unwrap();
    let secret = files.path().join("token");
    std::fs::write(&secret, "sk_live_5ec2e7").unwrap();
    let stage = Sluice::builder()
        .add(
            "plain",
            "probe",
            Manifest::new().subjects(["plain.in"]).max_attempts(1),
        )
        .add(
            "recorded",
            "probe",
            Manifest::new()
                .subjects(["recorded.in"])
                .max_attempts(1)
                .publish(["probe.out"])
                .set("secrets", "token", format!("file:{}", secret.display()))
                .set("dead_letter", "transcript", true),
        )
        .start()
        .await;
    let mut dead = stage.subscribe("sluice.dlq.>").await;
    let reject = json!({"op": "fail", "retryable": false}).to_string();
    stage.publish_event("plain.in", "p-1", reject).await;
    let leak = json!({"op": "leak-secret", "name": "token"}).to_string();
    stage.publish_event("recorded.in", "r-1", leak).await;
    next_message(&mut dead, WAIT, "one dead letter").await;
    next_message(&mut dead, WAIT, "the other").await;
    let plain = stored_letter(&stage, "plain", "p-1").await.to_string();
    let recorded = stored_letter(&stage, "recorded", "r-1").await.to_string();

    let output = dlq(&stage, &["debug", "plain", &plain]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains(&format!("dead letter {plain} of plain has no transcript")),
        "{}",
        text(&output)
    );
    let (output, report) = debug_json(&stage, &["recorded", &recorded]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(report["replay"]["reproduced"], true, "{report:#}");
    assert_eq!(
        report["replay"]["error"],
        "handler rejected the event: failed with [redacted]"
    );
    assert_eq!(report["recorded"]["event"]["id"], "r-1");
    let calls = &report["recorded"]["calls"];
    assert_eq!(calls[0]["op"], "secret.get", "{report:#}");
    assert_eq!(calls[0]["target"], "token");
    assert!(
        !report.to_string().contains("sk_live_5ec2e7"),
        "a transcript never holds a secret's value: {report:#}"
    );
    let stored = stage.js().get_stream("SLUICE_TRANSCRIPTS").await.unwrap();
    let subject = sluice_runtime::transcript::store::subject("recorded", "dlq:recorded:r-1:0");
    let raw = stored.get_last_raw_message_by_subject(&subject).await.unwrap();
    let stored_text = String::from_utf8_lossy(&raw.payload);
    assert!(stored_text.contains("[redacted]") && !stored_text.contains("sk_live_5ec2e7"));
    stage.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_javascript_failures_made_of_the_clock_and_random_bytes_replay_exactly() {
    let dir = sluice_tests::FunctionsDir::new();
    for lang in ["py", "js"] {
        let name = format!("{lang}-clock-check");
        let (wasm, _) = sluice_tests::polyglot(&name);
        std::fs::copy(wasm, dir.path().join(format!("{name}.wasm"))).unwrap();
        let manifest = Manifest::new()
            .subjects([format!("clock.{lang}").as_str()])
            .timeout("10s")
            .memory("128MiB")
            .max_attempts(1)
            .set("dead_letter", "transcript", true);
        std::fs::write(dir.path().join(format!("{name}.toml")), manifest.to_string()).unwrap();
    }
    let sluice = Sluice::in_folder(dir).start().await;
    for lang in ["py", "js"] {
        let name = format!("{lang}-clock-check");
        let mut dead = sluice.subscribe(&format!("sluice.dlq.{name}")).await;
        let mut letters = Vec::new();
        for n in 1..=2 {
            let id = format!("{lang}-{n}");
            sluice.publish_event(&format!("clock.{lang}"), &id, "{}").await;
            let letter = next_message(&mut dead, WAIT, &format!("dead letter {id}")).await;
            let error = header(&letter, "Sluice-Dlq-Error").unwrap().to_owned();
            assert!(error.contains(&format!("{lang} event {id} at ")), "{error}");
            let sequence = stored_letter(&sluice, &name, &id).await;
            letters.push((sequence.to_string(), error));
        }
        let nonce = |error: &str| error.rsplit(' ').next().unwrap().to_owned();
        assert_ne!(
            nonce(&letters[0].1),
            nonce(&letters[1].1),
            "{lang}: each attempt draws anew"
        );
        for (sequence, error) in &letters {
            let (output, report) = debug_json(&sluice, &[&name, sequence]).await;
            assert!(output.status.success(), "{lang}: {}", text(&output));
            assert_eq!(report["replay"]["error"], error.as_str(), "{lang}");
            assert_eq!(report["replay"]["reproduced"], true);
            let recorded = &report["recorded"];
            assert!(
                !recorded["wall_clock"].as_array().unwrap().is_empty(),
                "{lang}: {recorded:#}"
            );
            assert!(
                !recorded["random"].as_str().unwrap().is_empty(),
                "{lang}: {recorded:#}"
            );
        }
    }
    sluice.shutdown().await;
}
