//! `sluice dev`: crates are built and deployed, a source change is rebuilt and swapped in,
//! and a compile error keeps the last good version serving.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use sluice_tests::{KillOnDrop, NatsServer, scaffold_target_dir, sluice_command, until_ok};

/// Generous: the first build compiles the SDK's dependencies for wasm.
const BUILD: Duration = Duration::from_secs(300);

/// Publishes greeting requests until a greeting satisfying `wanted` comes back.
async fn greeting_matching(
    client: &async_nats::Client,
    out: &mut async_nats::Subscriber,
    wanted: impl Fn(&str) -> bool,
    what: &str,
) -> String {
    // Each try waits up to 500 ms for an answer, so it needs no pause of its own.
    until_ok(BUILD, Duration::ZERO, what, async || {
        client
            .publish("greeter.in", json!({"name": "Ada"}).to_string().into())
            .await
            .unwrap();
        match tokio::time::timeout(Duration::from_millis(500), out.next()).await {
            Ok(Some(message)) => match String::from_utf8_lossy(&message.payload).into_owned() {
                text if wanted(&text) => Ok(text),
                text => Err(format!("the greeting {text:?}")),
            },
            _ => Err("no greeting within 500 ms".to_owned()),
        }
    })
    .await
}

fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", file.display());
    std::fs::write(file, text.replace(from, to)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_builds_rebuilds_on_change_and_survives_a_compile_error() {
    let server = NatsServer::start();
    let parent = tempfile::tempdir().unwrap();
    let created = sluice_command()
        .args(["new", "greeter", "--dir"])
        .arg(parent.path())
        .status()
        .unwrap();
    assert!(created.success());
    let log = parent.path().join("dev.log");
    let target = scaffold_target_dir();
    let _dev = KillOnDrop(
        sluice_command()
            .arg("dev")
            .arg(parent.path())
            .args(["--nats", &server.url(), "--state-dir"])
            .arg(parent.path().join(".state"))
            .env("CARGO_TARGET_DIR", target)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let client = server.client().await;
    let mut out = client.subscribe("greeter.out").await.unwrap();

    let first = greeting_matching(
        &client,
        &mut out,
        |text| text.contains("Hello, Ada!"),
        "the first build",
    )
    .await;
    assert!(first.contains("Hello, Ada!"), "{first}");

    let source = parent.path().join("greeter/src/lib.rs");
    edit(&source, "{greeting}, {}!", "{greeting}, {}!?");
    greeting_matching(
        &client,
        &mut out,
        |text| text.contains("Hello, Ada!?"),
        "the rebuilt version",
    )
    .await;

    edit(
        &source,
        "sluice_sdk::export!",
        "this does not compile; sluice_sdk::export!",
    );
    until_ok(
        BUILD,
        Duration::from_millis(100),
        "a build failure reported",
        async || match std::fs::read_to_string(&log).unwrap() {
            text if text.contains("greeter failed to build") => Ok(()),
            text => Err(format!("the log so far:\n{text}")),
        },
    )
    .await;
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("error"),
        "the compiler's message is shown:\n{log_text}"
    );
    assert!(
        log_text.contains("sluice dev: built greeter in"),
        "build progress is shown:\n{log_text}"
    );
    let still = greeting_matching(&client, &mut out, |_| true, "the last good version").await;
    assert!(
        still.contains("Hello, Ada!?"),
        "the last good version keeps serving: {still}"
    );
}
