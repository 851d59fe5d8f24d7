//! Hot reload: functions deployed, swapped and removed by changing files while the host runs.

mod core_only;

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sluice_runtime::ReloadEvent;
use sluice_tests::{Manifest, Sluice, WAIT, WildcardSubscriber, guest, header, next_message};
use tokio::sync::broadcast;

/// A probe on `in` reporting to `probe.out` whose `[config] version` is `version`.
fn versioned(version: u32) -> Manifest {
    probe_on(["in"]).config("version", version)
}

/// A probe on `subjects` that may publish to `probe.out`.
fn probe_on<'a>(subjects: impl IntoIterator<Item = &'a str>) -> Manifest {
    Manifest::new().subjects(subjects).publish(["probe.out"])
}

/// The next reload event about `name`.
async fn reload_of(events: &mut broadcast::Receiver<ReloadEvent>, name: &str) -> ReloadEvent {
    let wait = async {
        loop {
            let event = events.recv().await.expect("reload events keep coming");
            let about = match &event {
                ReloadEvent::Deployed { name, .. }
                | ReloadEvent::Unchanged { name }
                | ReloadEvent::Failed { name, .. }
                | ReloadEvent::Undeployed { name } => name,
            };
            if about == name {
                return event;
            }
        }
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .unwrap_or_else(|_| panic!("no reload of {name}"))
}

/// Writes `contents` to `file` the way editors and deploy scripts do: into a temporary file,
/// then renamed into place.
fn write_then_rename(file: &std::path::Path, contents: &[u8]) {
    let temporary = file.with_extension("tmp");
    std::fs::write(&temporary, contents).unwrap();
    std::fs::rename(&temporary, file).unwrap();
}

/// Publishes a steady stream of events (`{"op": "config", "key": "version"}`, ids counting
/// from 0) to `in` until `swapping` is false, then 20 more, which must all run the last
/// version. Returns how many it sent.
fn steady_stream(client: async_nats::Client, swapping: Arc<AtomicBool>) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let (mut sent, mut after) = (0u32, 0);
        while (swapping.load(Ordering::Relaxed) || after < 20) && sent < 20_000 {
            if !swapping.load(Ordering::Relaxed) {
                after += 1;
            }
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Sluice-Event-Id", sent.to_string().as_str());
            let payload = json!({"op": "config", "key": "version"}).to_string();
            client
                .publish_with_headers("in", headers, payload.into())
                .await
                .unwrap();
            sent += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        client.flush().await.unwrap();
        sent
    })
}

/// Reads the answers to the `sent` events of [`steady_stream`] from `out` and returns the
/// version each event ran on, by event id, after checking that every event was handled
/// exactly once and that the versions never went back (events arrive in publish order and
/// are admitted in that order).
async fn versions_by_event(out: &mut async_nats::Subscriber, sent: u32) -> Vec<u32> {
    let mut handled: HashMap<u32, Vec<u32>> = HashMap::new();
    for _ in 0..sent {
        let message = next_message(out, WAIT, "every event handled").await;
        let id: u32 = header(&message, "Sluice-Causation-Id").unwrap().parse().unwrap();
        let body: Value = serde_json::from_slice(&message.payload).unwrap();
        let version: u32 = body["value"].as_str().unwrap().parse().unwrap();
        handled.entry(id).or_default().push(version);
    }
    assert_eq!(handled.len() as u32, sent, "every event handled");
    assert!(
        handled.values().all(|versions| versions.len() == 1),
        "an event was handled twice"
    );
    let by_id: Vec<u32> = (0..sent).map(|id| handled[&id][0]).collect();
    assert!(
        by_id.windows(2).all(|pair| pair[0] <= pair[1]),
        "versions went backwards: {by_id:?}"
    );
    by_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_swaps_under_a_steady_stream_lose_and_duplicate_nothing() {
    const SWAPS: u32 = 20;
    let sluice = Sluice::builder()
        .add("live", "probe", versioned(0))
        .watch()
        .start()
        .await;
    // A developer watching everything (`nats sub '>'`) changes nothing.
    let wildcard = WildcardSubscriber::connect(&sluice.server.url()).await;
    let mut reloads = sluice.host.reload_events();
    let mut out = sluice.subscribe("probe.out").await;

    // A publisher sends a steady stream until the swaps are done.
    let swapping = Arc::new(AtomicBool::new(true));
    let publisher = steady_stream(sluice.client.clone(), swapping.clone());
    let manifest = sluice.dir.path().join("live.toml");
    for version in 1..=SWAPS {
        if version % 2 == 0 {
            write_then_rename(&manifest, versioned(version).to_string().as_bytes());
        } else {
            std::fs::write(&manifest, versioned(version).to_string()).unwrap();
        }
        match reload_of(&mut reloads, "live").await {
            ReloadEvent::Deployed { .. } => {}
            other => panic!("swap {version}: {other:?}"),
        }
    }
    swapping.store(false, Ordering::Relaxed);
    let sent = publisher.await.unwrap();

    let by_id = versions_by_event(&mut out, sent).await;
    assert_eq!(
        *by_id.last().unwrap(),
        SWAPS,
        "the last events ran the last version"
    );
    let distinct: std::collections::BTreeSet<u32> = by_id.iter().copied().collect();
    assert!(
        distinct.len() >= 10,
        "swaps happened while events flowed: {distinct:?}"
    );
    assert!(
        wildcard.seen() >= u64::from(sent),
        "the wildcard subscriber saw the events"
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_replacement_keeps_the_old_version_serving_until_fixed() {
    let sluice = Sluice::builder()
        .add("live", "probe", Manifest::new().subjects(["in"]))
        .watch()
        .start()
        .await;
    let _wildcard = WildcardSubscriber::connect(&sluice.server.url()).await;
    let mut reloads = sluice.host.reload_events();
    let good = sluice.host.version("live").unwrap();
    let wasm = sluice.dir.path().join("live.wasm");

    write_then_rename(&wasm, b"\0asm\x0d\0\x01\0 truncated");
    match reload_of(&mut reloads, "live").await {
        ReloadEvent::Failed { error, .. } => {
            assert!(error.contains("live.wasm: invalid component"), "{error}")
        }
        other => panic!("expected a failure: {other:?}"),
    }
    assert_eq!(
        sluice.host.version("live").unwrap(),
        good,
        "the old version is still deployed"
    );
    let answer = sluice
        .client
        .request("in", json!({"op": "echo"}).to_string().into())
        .await;
    assert!(answer.is_ok(), "the old version still serves");

    // A broken manifest is no different.
    std::fs::write(sluice.dir.path().join("live.toml"), "[limits]\ntimeout = 5\n").unwrap();
    match reload_of(&mut reloads, "live").await {
        ReloadEvent::Failed { error, .. } => assert!(error.contains("live.toml"), "{error}"),
        other => panic!("expected a failure: {other:?}"),
    }
    let fixed = Manifest::new().subjects(["in"]).to_string();
    std::fs::write(sluice.dir.path().join("live.toml"), fixed).unwrap();
    write_then_rename(&wasm, &std::fs::read(guest("probe")).unwrap());
    match reload_of(&mut reloads, "live").await {
        ReloadEvent::Deployed { .. } | ReloadEvent::Unchanged { .. } => {}
        other => panic!("expected the fix to deploy: {other:?}"),
    }
    let answer = sluice
        .client
        .request("in", json!({"op": "echo"}).to_string().into())
        .await;
    assert!(answer.is_ok(), "serving after the fix");
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_deploys_and_deleting_undeploys() {
    let sluice = Sluice::builder().watch().start().await;
    let mut reloads = sluice.host.reload_events();
    assert!(sluice.host.functions().is_empty());

    let fresh = Manifest::new().subjects(["fresh"]);
    sluice.dir.write("fresh.toml", fresh.to_string().as_bytes());
    sluice.dir.add("fresh", "probe", "");
    loop {
        match reload_of(&mut reloads, "fresh").await {
            ReloadEvent::Deployed { .. } => break,
            // The manifest alone, before the component arrived, deploys nothing.
            ReloadEvent::Failed { .. } | ReloadEvent::Unchanged { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    let answer = sluice
        .client
        .request("fresh", json!({"op": "echo"}).to_string().into())
        .await;
    assert!(answer.is_ok(), "a new function serves: {answer:?}");

    std::fs::remove_file(sluice.dir.path().join("fresh.wasm")).unwrap();
    assert_eq!(
        reload_of(&mut reloads, "fresh").await,
        ReloadEvent::Undeployed { name: "fresh".into() }
    );
    assert!(sluice.host.functions().is_empty());
    let answer = sluice
        .client
        .request("fresh", json!({"op": "echo"}).to_string().into())
        .await;
    assert!(answer.is_err(), "an undeployed function does not answer");
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_copy_is_never_loaded_half_written() {
    let sluice = Sluice::builder().watch().start().await;
    let mut reloads = sluice.host.reload_events();
    let bytes = std::fs::read(guest("probe")).unwrap();
    let (first, rest) = bytes.split_at(bytes.len() / 2);

    // Like a slow `cp`: half the file, a pause with the file still open, then the rest.
    let mut file = std::fs::File::create(sluice.dir.path().join("slow.wasm")).unwrap();
    file.write_all(first).unwrap();
    file.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    file.write_all(rest).unwrap();
    drop(file);

    match reload_of(&mut reloads, "slow").await {
        ReloadEvent::Deployed { .. } => {}
        other => panic!("the first load of a slow copy must be the complete file: {other:?}"),
    }
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redeploy_resubscribes_only_changed_subjects_and_applies_the_new_cap() {
    let sluice = Sluice::builder()
        .add("router", "probe", Manifest::new().subjects(["kept", "dropped"]))
        .watch()
        .start()
        .await;
    let mut reloads = sluice.host.reload_events();
    let ask = |subject: &'static str| {
        let client = sluice.client.clone();
        async move {
            let request = client.request(subject, json!({"op": "echo"}).to_string().into());
            matches!(
                tokio::time::timeout(Duration::from_secs(2), request).await,
                Ok(Ok(_))
            )
        }
    };
    assert!(ask("kept").await && ask("dropped").await);

    let manifest = probe_on(["kept", "added"]).max_concurrency(2).to_string();
    write_then_rename(&sluice.dir.path().join("router.toml"), manifest.as_bytes());
    assert!(matches!(
        reload_of(&mut reloads, "router").await,
        ReloadEvent::Deployed { .. }
    ));
    assert!(ask("kept").await, "an unchanged subject keeps serving");
    assert!(ask("added").await, "an added subject is subscribed");
    assert!(!ask("dropped").await, "a removed subject is unsubscribed");

    // The new cap: a burst of slow events never runs more than 2 at once.
    let mut out = sluice.subscribe("probe.out").await;
    for _ in 0..6 {
        sluice
            .client
            .publish("added", json!({"op": "sleep", "ms": 100}).to_string().into())
            .await
            .unwrap();
    }
    for _ in 0..6 {
        next_message(&mut out, WAIT, "slow event done").await;
    }
    let stats = sluice.host.stats("router").unwrap();
    assert_eq!(stats.peak_in_flight, 2, "{stats:?}");
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_lowered_while_events_run_holds_for_every_event_admitted_after_it() {
    // A task that finishes an event takes the next waiting one with the permit it holds.
    // After the cap changes, a permit of the old cap must not run events of the new version:
    // four long events hold the old cap's permits across the change, short events published
    // after it (more than the long ones take, one at a time) are still waiting when those
    // finish, and must still run one at a time.
    const LONG: usize = 4;
    const SHORT: usize = 12;
    let manifest = |cap: usize| probe_on(["in"]).max_concurrency(cap as u64);
    let sluice = Sluice::builder()
        .add("slow", "probe", manifest(LONG))
        .watch()
        .start()
        .await;
    let mut reloads = sluice.host.reload_events();
    let mut out = sluice.subscribe("probe.out").await;
    for n in 0..LONG {
        let sleep = json!({"op": "sleep", "ms": 2000}).to_string();
        sluice.publish_event("in", &format!("long-{n}"), sleep).await;
    }
    write_then_rename(
        &sluice.dir.path().join("slow.toml"),
        manifest(1).to_string().as_bytes(),
    );
    assert!(matches!(
        reload_of(&mut reloads, "slow").await,
        ReloadEvent::Deployed { .. }
    ));
    let switched = unix_nanos();
    for n in 0..SHORT {
        let sleep = json!({"op": "sleep", "ms": 300}).to_string();
        sluice.publish_event("in", &format!("short-{n}"), sleep).await;
    }
    let (mut long, mut short) = (Vec::new(), Vec::new());
    for _ in 0..LONG + SHORT {
        let message = next_message(&mut out, WAIT, "sleep report").await;
        let report: Value = serde_json::from_slice(&message.payload).unwrap();
        let interval = (
            report["start_ns"].as_u64().unwrap(),
            report["end_ns"].as_u64().unwrap(),
        );
        match report["id"].as_str().unwrap().starts_with("long-") {
            true => long.push(interval),
            false => short.push(interval),
        }
    }
    assert_eq!((long.len(), short.len()), (LONG, SHORT));
    assert_eq!(
        crate::limits::max_overlap(&long),
        LONG,
        "long events at once under the old cap"
    );
    let first_long_end = long.iter().map(|&(_, end)| end).min().unwrap();
    assert!(
        switched < first_long_end,
        "the redeploy took longer than the long events ran: nothing was left to prove"
    );
    assert_eq!(
        crate::limits::max_overlap(&short),
        1,
        "short events at once under the new cap of 1"
    );
    assert_eq!(
        sluice.host.stats("slow").unwrap().succeeded,
        (LONG + SHORT) as u64
    );
    sluice.shutdown().await;
}

/// Now, in nanoseconds since the Unix epoch (the probe's clock).
fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}
