//! Components from wasmCloud's own repository, built unchanged (`tests/wasmcloud-upstream/`,
//! each folder's `ORIGIN.md` names where it came from): the messaging echo example, which
//! logs through `wasi:logging`, and the NATS key-value messaging example, which reads
//! `wasi:config/runtime`, uses `wasi:keyvalue` store and atomics on two buckets and calls
//! `wasmcloud:bus/lattice`.

use sluice_tests::{
    FunctionsDir, Manifest, Sluice, WAIT, header, next_message, no_message_pending, sluice_command,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasmclouds_echo_example_answers_requests_and_logs_through_wasi_logging() {
    let sluice = Sluice::builder()
        .add("echo", "echo-messaging", Manifest::new().subjects(["wc.echo"]))
        .start()
        .await;
    assert_eq!(sluice.host.functions(), ["echo"], "{:?}", sluice.load_errors());
    let answer = sluice.client.request("wc.echo", "ping".into()).await.unwrap();
    assert_eq!(answer.payload, "ping".as_bytes());

    // Without a reply-to it logs a warning through wasi:logging; `sluice invoke` shows the
    // handler's log on stderr.
    let dir = FunctionsDir::new();
    dir.add("echo", "echo-messaging", Manifest::new().subjects(["wc.echo"]));
    let output = sluice_command()
        .args(["invoke", "echo", "--data", "hello", "--functions"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(
        stderr.contains("No reply_to field in message, ignoring message"),
        "{stderr}"
    );
    assert!(
        stderr.contains("context=\"\""),
        "the component's context: {stderr}"
    );
    sluice.shutdown().await;
}

/// wasmCloud's key-value messaging example on `kv.demo`, its buckets named by the config keys
/// it reads.
fn kv_demo(second_bucket: &str) -> Manifest {
    Manifest::new()
        .subjects(["kv.demo"])
        .publish(["kv.out"])
        .buckets(["demo-a", "demo-b"])
        .config("link_name1", "demo-a")
        .config("link_name2", second_bucket)
        .config("pub_subject", "kv.out")
        .retry(2, "10ms", "10ms")
}

/// What the key-value example publishes for one message, in order: the local value, the
/// counter, the copied value and the key list.
async fn demo_outputs(out: &mut async_nats::Subscriber) -> Vec<String> {
    let mut published = Vec::new();
    for what in [
        "the local value",
        "the counter",
        "the copied value",
        "the key list",
    ] {
        let message = next_message(out, WAIT, what).await;
        published.push(String::from_utf8(message.payload.to_vec()).unwrap());
    }
    published
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasmclouds_key_value_example_counts_copies_and_lists_keys_in_jetstream_buckets() {
    let sluice = Sluice::builder()
        .add("kvdemo", "keyvalue-messaging", kv_demo("demo-b"))
        .start()
        .await;
    assert_eq!(sluice.host.functions(), ["kvdemo"], "{:?}", sluice.load_errors());
    let mut out = sluice.subscribe("kv.out").await;

    sluice.publish_event("kv.demo", "kv-1", "5").await;
    let published = demo_outputs(&mut out).await;
    let local: u64 = published[0].parse().expect("a number below 42");
    assert!(local < 42, "{published:?}");
    assert_eq!(published[1], "5", "incremented from nothing: {published:?}");
    assert_eq!(
        published[2], published[0],
        "copied into the second bucket: {published:?}"
    );
    assert_eq!(published[3], "counter, local_key", "{published:?}");

    sluice.publish_event("kv.demo", "kv-2", "7").await;
    let second = demo_outputs(&mut out).await;
    assert_eq!(second[1], "12", "5 + 7: {second:?}");

    // The buckets are JetStream key-value buckets any NATS client reads.
    let js = async_nats::jetstream::new(sluice.client.clone());
    let first = js.get_key_value("demo-a").await.unwrap();
    let counter = first.get("counter").await.unwrap().expect("the counter");
    assert_eq!(&counter[..], b"12");
    assert_eq!(first.get("local_key").await.unwrap(), None, "deleted at the end");
    let copied = js.get_key_value("demo-b").await.unwrap();
    let imported = copied.get("imported_key").await.unwrap().expect("copied");
    assert_eq!(std::str::from_utf8(&imported).unwrap(), second[0]);
    assert_eq!(sluice.host.stats("kvdemo").unwrap().succeeded, 2);
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_the_manifest_does_not_declare_is_denied_to_a_wasmcloud_component() {
    let sluice = Sluice::builder()
        .add("kvdemo", "keyvalue-messaging", kv_demo("payments"))
        .start()
        .await;
    let mut dlq = sluice.subscribe("sluice.dlq.kvdemo").await;
    let mut out = sluice.subscribe("kv.out").await;
    sluice.publish_event("kv.demo", "kv-denied", "5").await;
    // The example panics when a bucket does not open (`expect("failed to access bucket")`).
    let letter = next_message(&mut dlq, WAIT, "the dead letter").await;
    assert_eq!(header(&letter, "Sluice-Dlq-Reason"), Some("trap"));
    let error = header(&letter, "Sluice-Dlq-Error").unwrap();
    assert!(
        error.contains("failed to access bucket") && error.contains("AccessDenied"),
        "{error}"
    );
    assert!(no_message_pending(&mut out), "nothing published");
    let js = async_nats::jetstream::new(sluice.client.clone());
    assert!(
        js.get_key_value("payments").await.is_err(),
        "no bucket was created"
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasmclouds_template_worker_reads_its_settings_from_wasi_config() {
    let settings = Manifest::new()
        .subjects(["tasks.reverse"])
        .config("reverse.mode", "words")
        .config("reverse.prefix", "reversed: ");
    let sluice = Sluice::builder()
        .add("reverse", "task-reverse", settings)
        .add("plain", "task-reverse", Manifest::new().subjects(["tasks.plain"]))
        .start()
        .await;
    assert_eq!(
        sluice.host.functions(),
        ["plain", "reverse"],
        "{:?}",
        sluice.load_errors()
    );
    let answer = sluice
        .client
        .request("tasks.reverse", "one two three".into())
        .await
        .unwrap();
    assert_eq!(answer.payload, "reversed: three two one".as_bytes());
    let answer = sluice.client.request("tasks.plain", "abc".into()).await.unwrap();
    assert_eq!(answer.payload, "cba".as_bytes(), "without config, its defaults");
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_config_reads_a_secret_the_manifest_names_when_config_lacks_the_key() {
    let files = tempfile::tempdir().unwrap();
    let prefix = files.path().join("prefix");
    std::fs::write(&prefix, "classified: \n").unwrap();
    let settings = Manifest::new().subjects(["tasks.secret"]).set(
        "secrets",
        "reverse.prefix",
        format!("file:{}", prefix.display()),
    );
    let sluice = Sluice::builder()
        .add("reverse", "task-reverse", settings)
        .start()
        .await;
    let answer = sluice.client.request("tasks.secret", "abc".into()).await.unwrap();
    assert_eq!(answer.payload, "classified: cba".as_bytes());
    sluice.shutdown().await;
}
