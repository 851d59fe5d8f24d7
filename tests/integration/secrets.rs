//! `[secrets]`: a function reads the secrets its manifest names, from a file, the host's
//! environment or the fleet's sealed bucket, each value read at each use (rotation without a
//! redeploy); other functions and hosts without the fleet's seed cannot; the values never
//! reach the log, `sluice invoke`'s output or a dead letter.

use async_nats::Subscriber;
use serde_json::{Value, json};
use sluice_tests::{
    FunctionsDir, HostOptions, Manifest, Sluice, WAIT, header, next_message, publish_event, sluice_command,
};

/// Publishes a `secret` op for `name` to `subject` and returns the probe's report.
async fn read(
    client: &async_nats::Client,
    out: &mut Subscriber,
    subject: &str,
    id: &str,
    name: &str,
) -> Value {
    publish_event(
        client,
        subject,
        id,
        json!({"op": "secret", "name": name}).to_string(),
    )
    .await;
    let report = next_message(out, WAIT, &format!("the report of {id}")).await;
    serde_json::from_slice(&report.payload).unwrap()
}

fn reader(subject: &str, secrets: &[(&str, String)]) -> Manifest {
    let mut manifest = Manifest::new()
        .subjects([subject])
        .max_attempts(1)
        .publish(["probe.out"]);
    for (name, source) in secrets {
        manifest = manifest.set("secrets", name, source.as_str());
    }
    manifest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_reads_its_file_secret_at_each_use_and_another_function_cannot() {
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("db-password");
    std::fs::write(&file, "hunter2\n").unwrap();
    let source = format!("file:{}", file.display());
    let sluice = Sluice::builder()
        .add("billing", "probe", reader("billing.in", &[("db", source)]))
        .add("other", "probe", reader("other.in", &[]))
        .start()
        .await;
    let mut out = sluice.subscribe("probe.out").await;

    let report = read(&sluice.client, &mut out, "billing.in", "s-1", "db").await;
    assert_eq!(report, json!({"name": "db", "value": "hunter2"}));
    // Rotated: the next read sees the new value, no redeploy.
    std::fs::write(&file, "correct-horse\n").unwrap();
    let report = read(&sluice.client, &mut out, "billing.in", "s-2", "db").await;
    assert_eq!(report["value"], "correct-horse");

    let report = read(&sluice.client, &mut out, "other.in", "s-3", "db").await;
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("secret `db` denied: function `other` may only read [] (secrets)"),
        "{error}"
    );
    assert!(report.get("value").is_none());

    std::fs::remove_file(&file).unwrap();
    let report = read(&sluice.client, &mut out, "billing.in", "s-4", "db").await;
    let error = report["error"].as_str().unwrap();
    assert!(error.starts_with("secret `db`: cannot read"), "{error}");
    sluice.shutdown().await;
}

/// Runs `sluice secret set KEY --to PUBLIC --value VALUE --nats URL`.
fn seal(url: &str, key: &str, public: &str, value: &str) {
    let output = sluice_command()
        .args([
            "secret", "set", key, "--to", public, "--value", value, "--nats", url,
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_secrets_open_only_on_hosts_with_the_fleets_seed() {
    let (seed, public) = sluice_runtime::secrets::new_key();
    let sealed = || reader("pay.in", &[("api", "sealed:api-token".to_owned())]);
    let sluice = Sluice::builder()
        .add("pay", "probe", sealed())
        .host(|host| host.secrets_key(&seed))
        .start()
        .await;
    let url = sluice.server.url();
    let mut out = sluice.subscribe("probe.out").await;
    seal(&url, "api-token", &public, "tok-9");

    // The bucket holds ciphertext only.
    let js = async_nats::jetstream::new(sluice.client.clone());
    let bucket = js.get_key_value("sluice-secrets").await.unwrap();
    let stored = bucket.get("api-token").await.unwrap().unwrap();
    assert!(
        !stored.windows(5).any(|window| window == b"tok-9"),
        "sealed at rest"
    );

    let report = read(&sluice.client, &mut out, "pay.in", "p-1", "api").await;
    assert_eq!(report, json!({"name": "api", "value": "tok-9"}));
    seal(&url, "api-token", &public, "tok-10");
    let report = read(&sluice.client, &mut out, "pay.in", "p-2", "api").await;
    assert_eq!(report["value"], "tok-10", "rotated without a redeploy");

    // A host without the seed, and one with another fleet's seed, cannot open it.
    let dir = FunctionsDir::new();
    dir.add("pay", "probe", sealed().subjects(["keyless.in"]));
    let keyless = HostOptions::default().start(url.clone(), dir.path()).await;
    let report = read(&sluice.client, &mut out, "keyless.in", "p-3", "api").await;
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("this host has no key to open sealed secrets"),
        "{error}"
    );
    keyless.shutdown().await;

    let (other_seed, _) = sluice_runtime::secrets::new_key();
    let dir = FunctionsDir::new();
    dir.add("pay", "probe", sealed().subjects(["stranger.in"]));
    let stranger = HostOptions::default()
        .secrets_key(&other_seed)
        .start(url.clone(), dir.path())
        .await;
    let report = read(&sluice.client, &mut out, "stranger.in", "p-4", "api").await;
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("sealed to another key than this host's"),
        "{error}"
    );
    stranger.shutdown().await;
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_never_reach_the_log_invoke_output_or_a_dead_letter() {
    // `sluice invoke`, the value from the environment: the handler logs it, prints it and
    // fails with it; stderr and stdout show `[redacted]` instead.
    let dir = FunctionsDir::new();
    let manifest = reader("leak.in", &[("token", "env:PROBE_TOKEN".to_owned())]);
    dir.add("leaky", "probe", manifest);
    let output = sluice_command()
        .args([
            "invoke",
            "leaky",
            "--data",
            r#"{"op":"leak-secret","name":"token"}"#,
            "--functions",
        ])
        .arg(dir.path())
        .env("PROBE_TOKEN", "sk_live_5f3a")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        !stdout.contains("sk_live_5f3a") && !stderr.contains("sk_live_5f3a"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("the secret is [redacted]"),
        "the log line: {stderr}"
    );
    assert!(
        stderr.contains("printed: [redacted]"),
        "the printed line: {stderr}"
    );
    assert!(
        stdout.contains("error: handler rejected the event: failed with [redacted]"),
        "{stdout}"
    );

    // A running host: the dead letter's error is redacted too.
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("token");
    std::fs::write(&file, "sk_live_77b1").unwrap();
    let sluice = Sluice::builder()
        .add(
            "leaky",
            "probe",
            reader("leak.in", &[("token", format!("file:{}", file.display()))]),
        )
        .start()
        .await;
    let mut dlq = sluice.subscribe("sluice.dlq.leaky").await;
    sluice
        .publish_event(
            "leak.in",
            "l-1",
            json!({"op": "leak-secret", "name": "token"}).to_string(),
        )
        .await;
    let letter = next_message(&mut dlq, WAIT, "the dead letter").await;
    let error = header(&letter, "Sluice-Dlq-Error").unwrap();
    assert_eq!(error, "handler rejected the event: failed with [redacted]");
    sluice.shutdown().await;
}
