//! Undeploying a JetStream function by removing its `.wasm` while events stream in: it stops
//! pulling, lets in-flight events finish within the grace period, and hands back (NAK) what
//! it had received but not started, so a redeploy gets those at once, not after the ack wait.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use serde_json::json;
use sluice_runtime::ReloadEvent;
use sluice_tests::{Manifest, Sluice, WAIT, drained, guest, next_message, publish_js, publish_many};

/// Long enough that an event the undeployed host kept without NAK would show.
const ACK_WAIT: Duration = Duration::from_secs(30);
const GRACE: Duration = Duration::from_secs(1);
/// Sleeps well past the grace period: it must be abandoned by the undeployed version.
const LONG_MS: u64 = 4000;
const MAX_CONCURRENCY: usize = 8;

/// Version `version` of the function, reporting to `probe.v{version}`. Per-key ordering over
/// four keys keeps some received events waiting for their key (holding permits): exactly the
/// events an undeploy must hand back.
fn versioned(version: u32) -> Manifest {
    Manifest::new()
        .subjects(["js.in"])
        .jetstream()
        .per_key("json:/key")
        .max_concurrency(MAX_CONCURRENCY as u64)
        .ack_wait(&format!("{}s", ACK_WAIT.as_secs()))
        .publish(["probe.>"])
        .config("out", format!("probe.v{version}"))
}

async fn next_reload(events: &mut tokio::sync::broadcast::Receiver<ReloadEvent>) -> ReloadEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("a reload event")
        .expect("reload events keep coming")
}

/// One handled event as the probe reported it.
struct Report {
    version: String,
    id: String,
    start: SystemTime,
}

fn report(message: &async_nats::Message) -> Report {
    let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
    let nanos = body["start_ns"].as_u64().expect("start_ns");
    Report {
        version: message.subject.to_string(),
        id: body["id"].as_str().unwrap().to_owned(),
        start: SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeploying_mid_stream_hands_back_what_it_did_not_start() {
    const EVENTS: usize = 300;
    let sluice = Sluice::builder()
        .add("orders", "probe", versioned(1))
        .watch()
        .host(|host| host.grace(GRACE))
        .start()
        .await;
    let mut reloads = sluice.host.reload_events();
    let js = sluice.js();
    let mut out = sluice.subscribe("probe.*").await;

    let long = json!({"op": "sleep", "ms": LONG_MS, "key": "long"}).to_string();
    publish_js(&js, "js.in", "long", long).await;
    publish_many(&js, "js.in", "u", EVENTS, |n| {
        json!({"op": "sleep", "ms": 50, "key": format!("k{}", n % 4)}).to_string()
    })
    .await;

    let mut reports = Vec::new();
    while reports.len() < 30 {
        let message = next_message(&mut out, WAIT, "events handled before the undeploy").await;
        reports.push(report(&message));
    }
    std::fs::remove_file(sluice.dir.path().join("orders.wasm")).unwrap();
    assert_eq!(
        next_reload(&mut reloads).await,
        ReloadEvent::Undeployed {
            name: "orders".into()
        }
    );
    let undeployed_at = SystemTime::now();

    // Deployed again at once, as version 2: it takes what version 1 handed back, and the
    // long event once version 1's grace period is over.
    sluice
        .dir
        .write("orders.toml", versioned(2).to_string().as_bytes());
    std::fs::copy(guest("probe"), sluice.dir.path().join("orders.wasm")).unwrap();
    loop {
        match next_reload(&mut reloads).await {
            ReloadEvent::Deployed { .. } => break,
            ReloadEvent::Unchanged { .. } | ReloadEvent::Failed { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    let redeployed = Instant::now();

    let mut handled: HashMap<String, HashMap<String, u32>> = HashMap::new();
    for r in &reports {
        *handled
            .entry(r.version.clone())
            .or_default()
            .entry(r.id.clone())
            .or_default() += 1;
    }
    let distinct = |handled: &HashMap<String, HashMap<String, u32>>| {
        handled
            .values()
            .flat_map(HashMap::keys)
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    // Events version 1 started after the undeploy: only ones it had admitted just before
    // (their instance was still starting), never more than its cap; one that kept pulling
    // would start dozens in the grace period.
    let mut started_after = Vec::new();
    let deadline = tokio::time::Instant::now() + ACK_WAIT / 2;
    while distinct(&handled) < EVENTS + 1 {
        let message = match tokio::time::timeout_at(deadline, out.next()).await {
            Ok(Some(message)) => message,
            _ => panic!(
                "not every event handled within half the ack wait of the redeploy: {} of {}",
                distinct(&handled),
                EVENTS + 1
            ),
        };
        let r = report(&message);
        if r.version == "probe.v1" && r.start >= undeployed_at {
            started_after.push(r.id.clone());
        }
        *handled.entry(r.version).or_default().entry(r.id).or_default() += 1;
    }
    let caught_up = redeployed.elapsed();
    drained(&js, "SLUICE_ORDERS", "sluice-orders").await;

    assert!(
        started_after.len() <= MAX_CONCURRENCY,
        "the undeployed version started {} events after the undeploy: {started_after:?}",
        started_after.len()
    );
    let (v1, v2) = (&handled["probe.v1"], &handled["probe.v2"]);
    let twice: Vec<_> = v1.iter().chain(v2).filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "handled twice by one version: {twice:?}");
    let both: Vec<_> = v1.keys().filter(|id| v2.contains_key(*id)).collect();
    assert!(both.is_empty(), "handled by both versions: {both:?}");
    assert!(
        !v1.contains_key("long") && v2.contains_key("long"),
        "the event still running when the grace period ended was handed back, not finished"
    );
    assert!(v2.len() > EVENTS / 2, "the redeploy took the rest: {}", v2.len());
    eprintln!(
        "undeploy: version 1 handled {} ({} started after the undeploy), version 2 {}; all handled {caught_up:?} after the redeploy",
        v1.len(),
        started_after.len(),
        v2.len()
    );
    sluice.shutdown().await;
}
