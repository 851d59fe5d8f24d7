//! `sluice dlq list` and `sluice dlq replay`, run as the real binary against a host's dead
//! letters.

use std::process::Output;

use serde_json::json;
use sluice_tests::{Manifest, Sluice, Stage, WAIT, header, next_message, publish_js, sluice_command};

/// A probe on `in` that never retries.
fn no_retry() -> Manifest {
    Manifest::new().subjects(["in"]).max_attempts(1)
}

/// Runs `sluice dlq ARGS --nats URL --functions DIR` off the async workers.
pub(crate) async fn dlq(stage: &Stage, args: &[&str]) -> Output {
    let mut command = sluice_command();
    command
        .arg("dlq")
        .args(args)
        .args(["--nats", &stage.server.url(), "--functions"])
        .arg(stage.dir.path());
    tokio::task::spawn_blocking(move || command.output().expect("run sluice dlq"))
        .await
        .unwrap()
}

/// The stdout of a run that must have succeeded.
fn stdout(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{:?}\nstdout:\n{text}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_with_reason_error_and_event_id() {
    let stage = Sluice::builder().stage().await;
    let before_deploy = dlq(&stage, &["list", "rejecter"]).await;
    assert_eq!(before_deploy.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&before_deploy.stderr);
    assert!(
        stderr.contains("no stream keeps dead letters for rejecter (subject sluice.dlq.rejecter); deploy the function once"),
        "{stderr}"
    );

    stage.dir.add("rejecter", "probe", no_retry());
    let sluice = stage.start().await;
    let mut dead = sluice.subscribe("sluice.dlq.rejecter").await;
    let reject = json!({"op": "fail", "retryable": false}).to_string();
    sluice.publish_event("in", "e-1", reject.clone()).await;
    sluice.client.publish("in", reject.into()).await.unwrap();
    sluice.client.flush().await.unwrap();
    let mut ids = Vec::new();
    for which in ["one dead letter", "the other dead letter"] {
        let letter = next_message(&mut dead, WAIT, which).await;
        ids.push(
            header(&letter, "Sluice-Event-Id")
                .expect("every dead letter names its event")
                .to_owned(),
        );
    }
    assert!(ids.contains(&"e-1".to_owned()), "{ids:?}");

    let listing = stdout(&dlq(&sluice, &["list", "rejecter"]).await);
    let rows: Vec<&str> = listing.lines().collect();
    assert!(
        rows[0].starts_with("SEQ") && rows[0].contains("ERROR"),
        "{listing}"
    );
    for row in &rows[1..3] {
        for field in ["permanent", " 1 ", " in ", "rejected by probe"] {
            assert!(row.contains(field), "{field:?} missing in {row:?}");
        }
    }
    for id in &ids {
        assert!(
            rows[1..3].iter().any(|row| row.contains(id.as_str())),
            "{id} not listed:\n{listing}"
        );
    }
    assert!(
        rows[3].starts_with("2 dead letters of rejecter in stream SLUICE_DLQ (subject sluice.dlq.rejecter)"),
        "{listing}"
    );
    let limited = stdout(&dlq(&sluice, &["list", "rejecter", "--limit", "1"]).await);
    assert!(
        limited.contains("1 dead letters") && limited.contains("1 more"),
        "{limited}"
    );
    let usage = dlq(&sluice, &["list", "rejecter", "--limit", "many"]).await;
    assert_eq!(usage.status.code(), Some(2));
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_event_keeps_its_id_and_its_dead_letter_is_deleted() {
    let forbidden = no_retry().publish([]);
    let sluice = Sluice::builder().add("gate", "probe", forbidden).start().await;
    let mut dead = sluice.subscribe("sluice.dlq.gate").await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "m-1");
    headers.insert("x-tenant", "acme");
    let payload = json!({"op": "publish", "subject": "gate.out"}).to_string();
    sluice
        .client
        .publish_with_headers("in", headers, payload.clone().into())
        .await
        .unwrap();
    next_message(&mut dead, WAIT, "dead letter: publishing is not allowed yet").await;
    let (stage, _) = sluice.stop().await;

    // The fix: the function may now publish where the event asks it to.
    let allowed = no_retry().publish(["gate.out"]);
    stage.dir.write("gate.toml", allowed.to_string().as_bytes());
    let sluice = stage.start().await;
    let mut original = sluice.subscribe("in").await;
    let mut out = sluice.subscribe("gate.out").await;
    let replay = stdout(&dlq(&sluice, &["replay", "gate"]).await);
    assert!(
        replay.contains("replayed 1 (event m-1) to in (replay 1)"),
        "{replay}"
    );
    assert!(replay.ends_with("1 replayed, 0 refused\n"), "{replay}");

    let again = next_message(&mut original, WAIT, "the event back on its subject").await;
    assert_eq!(again.payload, payload.as_bytes(), "payload byte for byte");
    assert_eq!(header(&again, "Sluice-Event-Id"), Some("m-1"));
    assert_eq!(header(&again, "Sluice-Replays"), Some("1"));
    assert_eq!(header(&again, "x-tenant"), Some("acme"));
    for gone in [
        "Nats-Msg-Id",
        "Sluice-Dlq-Reason",
        "Sluice-Function",
        "Sluice-Attempts",
    ] {
        assert_eq!(header(&again, gone), None, "{gone}");
    }
    let handled = next_message(&mut out, WAIT, "the fixed function handles the replay").await;
    assert_eq!(header(&handled, "probe-event-id"), Some("m-1"));
    let listing = stdout(&dlq(&sluice, &["list", "gate"]).await);
    assert!(listing.contains("\n0 dead letters of gate"), "{listing}");
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_of_an_event_that_keeps_failing_stop_at_max_replays() {
    let manifest = Manifest::new()
        .subjects(["jin"])
        .jetstream()
        .stream("JIN")
        .max_attempts(1);
    let sluice = Sluice::builder().add("stubborn", "probe", manifest).start().await;
    let mut dead = sluice.subscribe("sluice.dlq.stubborn").await;
    // Fails on attempt 1, and every replay starts again at attempt 1.
    let payload = json!({"op": "fail", "until": 2}).to_string();
    publish_js(&sluice.js(), "jin", "j-1", payload).await;
    let first = next_message(&mut dead, WAIT, "first dead letter").await;
    assert_eq!(header(&first, "Sluice-Replays"), None);

    let replay = stdout(&dlq(&sluice, &["replay", "stubborn", "--max-replays", "1"]).await);
    assert!(replay.contains("1 replayed, 0 refused"), "{replay}");
    let second = next_message(&mut dead, WAIT, "dead letter of the replay").await;
    assert_eq!(header(&second, "Sluice-Event-Id"), Some("j-1"));
    assert_eq!(header(&second, "Sluice-Replays"), Some("1"));
    assert_eq!(header(&second, "Sluice-Original-Subject"), Some("jin"));

    let refused = stdout(&dlq(&sluice, &["replay", "stubborn", "--max-replays", "1"]).await);
    assert!(
        refused.contains("(event j-1): replayed 1 times already (--max-replays 1)"),
        "{refused}"
    );
    assert!(refused.contains("0 replayed, 1 refused"), "{refused}");
    let listing = stdout(&dlq(&sluice, &["list", "stubborn"]).await);
    assert!(listing.contains("\n1 dead letters of stubborn"), "{listing}");
    sluice.shutdown().await;
}
