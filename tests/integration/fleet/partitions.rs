//! Per-key order across hosts (`trigger.partitions`): every key's events handled in publish
//! order by whichever host holds its partition, keys spread over all hosts, and nothing lost
//! or reordered while a host is killed with SIGKILL and another is drained and restarted.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_nats::jetstream;
use futures::{FutureExt, StreamExt};
use serde_json::{Value, json};
use sluice_tests::{
    FleetHost, Manifest, NatsCluster, bundle, deployer, eventually, spawn_fleet_process_with_admin,
    succeeded_on,
};

use super::{CONVERGE, converged, reported_serving, sluice};

const KEYS: usize = 50;

/// What the probe's `ordered` op reported, by key: `(seq, start_ns)` per handling.
#[derive(Default)]
struct Reports {
    by_key: HashMap<String, Vec<(u64, u64)>>,
}

impl Reports {
    /// Takes every report already received on `out`.
    fn take(&mut self, out: &mut async_nats::Subscriber) {
        while let Some(Some(message)) = out.next().now_or_never() {
            let report: Value = serde_json::from_slice(&message.payload).unwrap();
            let key = report["key"].as_str().unwrap().to_owned();
            let handling = (
                report["seq"].as_u64().unwrap(),
                report["start_ns"].as_u64().unwrap(),
            );
            self.by_key.entry(key).or_default().push(handling);
        }
    }

    /// Distinct events reported so far.
    fn distinct(&self) -> usize {
        self.by_key
            .values()
            .map(|handlings| {
                let mut seqs: Vec<u64> = handlings.iter().map(|(seq, _)| *seq).collect();
                seqs.sort_unstable();
                seqs.dedup();
                seqs.len()
            })
            .sum()
    }

    /// Waits until `count` distinct events were reported.
    async fn until(&mut self, out: &mut async_nats::Subscriber, count: usize, timeout: Duration) {
        let what = format!("{count} events handled");
        eventually(timeout, &what, async || {
            self.take(out);
            self.distinct() >= count
        })
        .await;
    }

    /// Asserts that every key's `per_key` events were all handled, in publish order (a
    /// repeat only right after itself), and returns how many handlings were repeats.
    fn assert_in_order(&self, per_key: u64) -> usize {
        assert_eq!(self.by_key.len(), KEYS, "every key was handled");
        let mut repeats = 0;
        for (key, handlings) in &self.by_key {
            let mut by_start = handlings.clone();
            by_start.sort_by_key(|(_, start)| *start);
            let seqs: Vec<u64> = by_start.iter().map(|(seq, _)| *seq).collect();
            assert!(
                seqs.windows(2).all(|pair| pair[0] <= pair[1]),
                "key {key}'s events ran out of publish order: {seqs:?}"
            );
            let mut distinct = seqs.clone();
            distinct.dedup();
            assert_eq!(
                distinct,
                (0..per_key).collect::<Vec<_>>(),
                "key {key} lost events"
            );
            repeats += seqs.len() - distinct.len();
        }
        repeats
    }
}

/// A probe ordered by `key`, over 16 partitions, reporting to `probe.out`.
fn partitioned(subjects: &str, key: &str) -> Manifest {
    Manifest::new()
        .subjects([subjects])
        .jetstream()
        .per_key(key)
        .partitions(16)
        .ack_wait("3s")
        .publish(["probe.out"])
}

/// Event `seq` of key `k{key}`, asking the probe to take `ms`.
fn ordered(key: usize, seq: usize, ms: u64) -> String {
    json!({"op": "ordered", "key": format!("k{key}"), "seq": seq, "ms": ms}).to_string()
}

/// How keys travel: in a header, or as a subject token.
#[derive(Clone, Copy)]
enum KeyIn {
    Header,
    Subject,
}

impl KeyIn {
    fn manifest(self) -> Manifest {
        match self {
            Self::Header => partitioned("parts.in", "header:Order-Key"),
            Self::Subject => partitioned("parts.*", "subject:2"),
        }
    }

    /// Publishes events `seqs` of every key, round-robin over the keys, each awaited in
    /// batches of a thousand.
    async fn publish(self, js: &jetstream::Context, seqs: std::ops::Range<usize>, ms: u64) {
        let mut acks = Vec::new();
        for seq in seqs {
            for key in 0..KEYS {
                let payload = ordered(key, seq, ms).into();
                let ack = match self {
                    Self::Header => {
                        let mut headers = async_nats::HeaderMap::new();
                        headers.insert("Order-Key", format!("k{key}").as_str());
                        js.publish_with_headers("parts.in", headers, payload).await
                    }
                    Self::Subject => js.publish(format!("parts.k{key}"), payload).await,
                };
                acks.push(ack.expect("publish to the stream"));
                if acks.len() == 1000 {
                    for ack in acks.drain(..) {
                        ack.await.expect("stream acked the event");
                    }
                }
            }
        }
        for ack in acks {
            ack.await.expect("stream acked the event");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_keep_each_keys_order_across_three_hosts_and_share_the_work() {
    const PER_KEY: usize = 40;
    let cluster = NatsCluster::start(3).await;
    let cache = tempfile::tempdir().unwrap();
    let urls = cluster.urls(0..3);
    let hosts = FleetHost::start_all(&urls, &["part-a", "part-b", "part-c"], cache.path()).await;
    let client = cluster.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();
    let fleet = deployer(&client).await;
    let lines = bundle("lines", "probe", KeyIn::Header.manifest());
    fleet.deploy(&lines, None).await.unwrap();
    converged(&hosts.iter().collect::<Vec<_>>(), "lines", Some(&lines.version)).await;

    let js = jetstream::new(client.clone());
    KeyIn::Header.publish(&js, 0..PER_KEY, 1).await;
    let mut reports = Reports::default();
    reports.until(&mut out, KEYS * PER_KEY, CONVERGE * 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    reports.take(&mut out);
    assert_eq!(reports.assert_in_order(PER_KEY as u64), 0, "nothing ran twice");
    let handled: Vec<u64> = hosts
        .iter()
        .map(|host| host.runtime.stats("lines").unwrap().succeeded)
        .collect();
    eprintln!("events handled per host: {handled:?}");
    assert_eq!(handled.iter().sum::<u64>(), (KEYS * PER_KEY) as u64);
    assert!(
        handled.iter().all(|&n| n > 0),
        "every host handled some partitions: {handled:?}"
    );
    for host in hosts {
        host.runtime.shutdown().await;
    }
}

/// 50 keys × 200 events on 3 `sluice up --fleet` processes: one SIGKILLed, another drained and
/// restarted, mid-stream.
async fn order_survives_a_killed_and_a_drained_host(keys: KeyIn) {
    const PER_KEY: usize = 200;
    let cluster = NatsCluster::start(3).await;
    let urls = cluster.urls(0..3);
    let client = cluster.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();
    let fleet = deployer(&client).await;
    let lines = bundle("lines", "probe", keys.manifest());
    fleet.deploy(&lines, None).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let ids = ["ord-a", "ord-b", "ord-c"];
    let mut hosts: BTreeMap<&str, _> = ids
        .iter()
        .map(|id| (*id, spawn_fleet_process_with_admin(&urls, id, state.path())))
        .collect();
    reported_serving(&fleet, &ids, "lines", &lines.version).await;

    let js = jetstream::new(client.clone());
    let publisher = {
        let js = js.clone();
        tokio::spawn(async move {
            // 1,000 events a second for 10 s.
            for seq in 0..PER_KEY {
                keys.publish(&js, seq..seq + 1, 1).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let total = KEYS * PER_KEY;
    let mut reports = Reports::default();
    reports.until(&mut out, total / 5, CONVERGE * 2).await;
    let (killed, admin) = hosts.remove("ord-a").unwrap();
    // Once it has its share of the partitions (hosts learn each other from their reports).
    let handled_by = async |admin| {
        tokio::task::spawn_blocking(move || succeeded_on(admin, "lines"))
            .await
            .unwrap()
    };
    eventually(CONVERGE, "ord-a handles some keys", async || {
        handled_by(admin).await > 0
    })
    .await;
    let handled_by_killed = handled_by(admin).await;
    let mut killed = killed;
    killed.0.kill().expect("SIGKILL ord-a");
    let _ = killed.0.wait();

    reports.until(&mut out, total / 2, CONVERGE * 3).await;
    let (drained, _) = hosts.remove("ord-b").unwrap();
    let said = sluice(&["drain", "ord-b"], &urls).await;
    assert!(said.contains("drained ord-b"), "{said}");
    drop(drained);
    hosts.insert(
        "ord-b",
        spawn_fleet_process_with_admin(&urls, "ord-b", state.path()),
    );
    publisher.await.unwrap();

    reports.until(&mut out, total, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    reports.take(&mut out);
    let repeats = reports.assert_in_order(PER_KEY as u64);
    eprintln!("handled before its SIGKILL by ord-a: {handled_by_killed}; repeats: {repeats}");
    assert!(handled_by_killed > 0, "the killed host had handled some keys");
    let mut survivors = Vec::new();
    for (id, (_, admin)) in &hosts {
        survivors.push((*id, handled_by(*admin).await));
    }
    eprintln!("handled by the other hosts (ord-b since its restart): {survivors:?}");
    assert!(
        survivors.iter().all(|(_, handled)| *handled > 0),
        "every host handled some: {survivors:?}"
    );
    // Only events in flight on the killed host may run twice: one per partition at most.
    assert!(repeats <= 16, "{repeats} repeats");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_in_a_header_stay_in_order_while_a_host_is_killed_and_another_drained() {
    order_survives_a_killed_and_a_drained_host(KeyIn::Header).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_in_the_subject_stay_in_order_while_a_host_is_killed_and_another_drained() {
    order_survives_a_killed_and_a_drained_host(KeyIn::Subject).await;
}
