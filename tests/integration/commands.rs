//! The client commands a user tries handlers with against a running host: `sluice request`,
//! `sluice publish --reply` and `sluice publish --wait-for`.

use futures::StreamExt;
use serde_json::json;
use sluice_tests::{FunctionsDir, Manifest, Sluice, WAIT, sluice_command};

/// Runs `sluice ARGS` to the end without blocking the host's runtime thread.
async fn run(args: &[&str]) -> (bool, String, String) {
    let mut command = sluice_command();
    command.args(args);
    let output = tokio::process::Command::from(command).output().await.unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        output.status.success(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_prints_the_answer_and_publish_sends_the_answer_to_its_reply_subject() {
    let dir = FunctionsDir::new();
    dir.add("echo", "probe", Manifest::new().subjects(["try.echo"]));
    let stored = Manifest::new()
        .subjects(["try.stored"])
        .jetstream()
        .stream("TRY_STORED");
    dir.add("stored", "probe", stored);
    let sluice = Sluice::in_folder(dir).start().await;
    let url = sluice.server.url();
    let data = json!({"op": "echo", "order": "o-7"}).to_string();

    let (ok, stdout, stderr) = run(&["request", "try.echo", "--data", &data, "--nats", &url]).await;
    assert!(ok, "{stdout}{stderr}");
    let answer = stdout.lines().next().unwrap_or_default();
    let answer: serde_json::Value = serde_json::from_str(answer).expect(&stdout);
    assert_eq!(answer["order"], "o-7", "{stdout}");
    assert!(
        stdout.contains("    Sluice-Correlation-Id: "),
        "the answer's headers: {stdout}"
    );

    let mut answers = sluice.client.subscribe("try.answers").await.unwrap();
    sluice.client.flush().await.unwrap();
    let (ok, stdout, stderr) = run(&[
        "publish",
        "try.echo",
        "--data",
        &data,
        "--reply",
        "try.answers",
        "--nats",
        &url,
    ])
    .await;
    assert!(ok, "{stdout}{stderr}");
    let answer = tokio::time::timeout(WAIT, answers.next()).await.unwrap().unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&answer.payload).unwrap()["order"],
        "o-7"
    );

    // A JetStream function's stream answers first: the requester gets the stream's
    // acknowledgement (README, "Request/reply").
    let (ok, stdout, stderr) = run(&["request", "try.stored", "--data", &data, "--nats", &url]).await;
    assert!(ok, "{stdout}{stderr}");
    let ack: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).expect(&stdout);
    assert_eq!(ack["stream"], "TRY_STORED", "{stdout}");
    assert_eq!(ack["seq"], 1, "{stdout}");

    let (ok, _, stderr) = run(&["request", "try.nobody", "--data", "{}", "--nats", &url]).await;
    assert!(!ok);
    assert!(
        stderr.contains("nobody answers on try.nobody: no function (or other subscriber) listens there"),
        "{stderr}"
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_wait_for_prints_what_the_event_caused_not_the_event_itself() {
    let dir = FunctionsDir::new();
    let manifest = Manifest::new()
        .subjects(["try.in"])
        .publish(["try.out"])
        .config("out", "try.out");
    dir.add("echo", "probe", manifest);
    let sluice = Sluice::in_folder(dir).start().await;
    let url = sluice.server.url();
    let data = json!({"op": "echo"}).to_string();
    let (ok, stdout, stderr) = run(&[
        "publish",
        "try.in",
        "--data",
        &data,
        "--wait-for",
        "try.>",
        "--nats",
        &url,
        "--timeout",
        "10",
    ])
    .await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("received on try.out: "), "{stdout}");
    assert!(!stdout.contains("received on try.in"), "{stdout}");
    sluice.shutdown().await;
}
