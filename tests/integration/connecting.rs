//! `sluice up` connecting at start: one clear error when no server answers, and a bounded
//! wait (`--nats-wait`) for a broker that starts beside the host.

use std::process::Command;

use serde_json::json;
use sluice_tests::process::message;
use sluice_tests::{
    FunctionsDir, Manifest, Sluice, SluiceProcess, Stage, WAIT, next_message, sluice_command,
};

/// What `sluice up` logs while it waits for a server.
const WAITING: &str = "no NATS server at ";

/// `sluice up` on `dir`, logging JSON; the caller adds where NATS and the state are.
fn up(dir: &FunctionsDir) -> Command {
    let mut command = sluice_command();
    command
        .args(["--log-format", "json", "up", "--no-watch", "--functions"])
        .arg(dir.path());
    command
}

/// A server and a folder with one probe `name` that echoes `in` to `probe.out`.
async fn probe_stage(name: &str) -> Stage {
    Sluice::builder()
        .add(
            name,
            "probe",
            Manifest::new().subjects(["in"]).publish(["probe.out"]),
        )
        .stage()
        .await
}

/// Runs `sluice up --nats-wait WAIT` against a port nothing listens on: its exit code and
/// stderr.
fn up_against_nothing(wait: &str) -> (Option<i32>, String) {
    let dir = FunctionsDir::new();
    let output = sluice_command()
        .args([
            "up",
            "--nats",
            "nats://127.0.0.1:1",
            "--nats-wait",
            wait,
            "--functions",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_unreachable_nats_server_is_one_clear_error() {
    let (code, stderr) = up_against_nothing("0");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("error: cannot connect to NATS at nats://127.0.0.1:1"),
        "{stderr}"
    );
    assert!(!stderr.contains(WAITING), "no wait was asked for: {stderr}");
}

#[test]
fn sluice_up_gives_up_when_the_wait_is_over_and_says_so() {
    let (code, stderr) = up_against_nothing("1");
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr.matches(WAITING).count(),
        1,
        "one line says it waits: {stderr}"
    );
    let error = stderr
        .lines()
        .find(|line| line.starts_with("error: cannot connect to NATS at nats://127.0.0.1:1"))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(error.contains("kept trying for 1."), "{error}");
    assert!(error.ends_with("(--nats-wait)"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_up_waits_for_a_server_that_starts_after_it() {
    let mut stage = probe_stage("late").await;
    // The broker is down when the host starts, as in a `docker compose up` of both.
    stage.server.kill();
    let state = tempfile::tempdir().unwrap();
    let url = stage.server.url();
    let mut sluice = SluiceProcess::spawn(
        up(&stage.dir)
            .args(["--nats", &url, "--nats-wait", "60", "--state-dir"])
            .arg(state.path()),
    );
    let waiting = sluice.line_where("saying it waits for NATS", |l| message(l).starts_with(WAITING));
    assert_eq!(waiting["level"], "WARN", "{waiting}");

    stage.server.restart();
    sluice.line_where("saying it connected", |l| {
        message(l).starts_with("connected to NATS at ")
    });
    sluice.line_where("saying the host is up", |l| {
        message(l).starts_with("sluice is up")
    });
    let client = stage.server.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();
    client
        .publish("in", json!({"op": "echo", "n": 1}).to_string().into())
        .await
        .unwrap();
    let echoed = next_message(&mut out, WAIT, "the echo of the first event").await;
    assert_eq!(echoed.payload, json!({"op": "echo", "n": 1}).to_string());
    let waited = sluice.seen().iter().filter(|line| line.contains(WAITING)).count();
    assert_eq!(waited, 1, "one waiting line: {:#?}", sluice.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_is_configured_from_the_environment() {
    let stage = probe_stage("env").await;
    let state = tempfile::tempdir().unwrap();
    let mut command = up(&stage.dir);
    command
        .env("SLUICE_NATS_URL", stage.server.url())
        .env("SLUICE_STATE_DIR", state.path())
        .env("SLUICE_ADMIN", "127.0.0.1:0");
    let mut sluice = SluiceProcess::spawn(&mut command);
    sluice.line_where("naming the admin address", |l| {
        message(l).starts_with("admin endpoint: ")
    });
    let up = sluice.line_where("saying the host is up", |l| {
        message(l).starts_with("sluice is up")
    });
    let expected = format!("NATS at {}.", stage.server.url());
    assert!(message(&up).contains(&expected), "{up}");
    // The compiled component went to the state folder's cache.
    let cached = std::fs::read_dir(state.path().join("cache")).map(|dir| dir.count());
    assert!(matches!(cached, Ok(n) if n > 0), "{cached:?}");
}
