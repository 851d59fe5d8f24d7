//! Application 3, bank accounts (event sourcing + CQRS), from `functions/bank-accounts/`:
//! thousands of concurrent commands over a few accounts, some sent twice; halfway through,
//! every account's running state is deleted, so the accounts rebuild from their snapshots.
//! Then the test replays the whole event stream itself and checks that the read model, the
//! accounts' own state and the query function all match it, that no balance ever went
//! negative, and that every transfer was credited exactly once.

mod replay;
mod saga;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures::StreamExt;
use serde_json::{Value, json};
use sluice_tests::{FunctionsDir, Sluice, until_ok};

use replay::{Replayed, replay, transfers_complete};

const ACCOUNTS: [&str; 4] = ["a-1", "a-2", "a-3", "a-4"];
/// Commands per phase (after the opening deposits).
const PER_PHASE: usize = 1_500;
/// Commands in flight at once.
const IN_FLIGHT: usize = 100;
/// Every this many commands is sent a second time, concurrently, with the same id.
const RESEND_EVERY: usize = 25;
const OPENING: u64 = 20_000;

/// The application's functions: (crate folder, function name).
const FUNCTIONS: [(&str, &str); 4] = [
    ("account", "bank-account"),
    ("transfer", "bank-transfer"),
    ("projection", "bank-projection"),
    ("query", "bank-query"),
];

/// Deploys the application's functions named in `names` with their own manifests.
fn deploy(dir: &FunctionsDir, names: &[&str]) {
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions/bank-accounts");
    for (folder, name) in FUNCTIONS.into_iter().filter(|(_, name)| names.contains(name)) {
        let manifest = std::fs::read_to_string(app.join(folder).join(format!("{name}.toml")))
            .expect("the application's manifest");
        dir.add(name, name, &manifest);
    }
}

/// Command `n` of phase `phase`: a seeded mix of deposits, withdrawals (overdrafts among
/// them) and transfers.
fn command(phase: usize, n: usize) -> (String, String, Value) {
    let mix = (n * 7919 + phase * 104_729) % 1_000;
    let account = ACCOUNTS[mix % ACCOUNTS.len()];
    let amount = 100 + (mix * 37) % 9_000;
    let to = ACCOUNTS[(mix / 4 + 1 + mix % ACCOUNTS.len()) % ACCOUNTS.len()];
    let body = match mix % 10 {
        0..=2 => json!({"type": "Deposit", "amount": amount}),
        3..=5 => json!({"type": "Withdraw", "amount": amount * 3}),
        _ if to == account => json!({"type": "Withdraw", "amount": amount}),
        _ => json!({"type": "Transfer", "to": to, "amount": amount}),
    };
    (format!("p{phase}-{n}"), account.to_owned(), body)
}

/// Sends one command as a request with id `id` and returns the account's reply.
async fn send(client: &async_nats::Client, id: &str, account: &str, body: &Value) -> Value {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", id);
    let request = async_nats::Request::new()
        .payload(body.to_string().into())
        .headers(headers)
        .timeout(Some(Duration::from_secs(20)));
    let reply = client
        .send_request(format!("bank.commands.{account}"), request)
        .await
        .unwrap_or_else(|error| panic!("command {id} to {account}: {error}"));
    serde_json::from_slice(&reply.payload).expect("replies are JSON")
}

/// What the replies said.
#[derive(Default)]
struct Tally {
    accepted: usize,
    overdrafts: usize,
    /// Deposited minus withdrawn, in cents.
    net: i128,
}

/// Sends phase `phase`'s commands, [`IN_FLIGHT`] at a time, every [`RESEND_EVERY`]th twice.
async fn run_phase(client: &async_nats::Client, phase: usize, tally: &mut Tally) {
    let sends = (0..PER_PHASE).flat_map(|n| {
        let copies = if n % RESEND_EVERY == 0 { 2 } else { 1 };
        std::iter::repeat_n(command(phase, n), copies)
    });
    let mut replies = futures::stream::iter(sends)
        .map(|(id, account, body)| async move {
            let reply = send(client, &id, &account, &body).await;
            (id, body, reply)
        })
        .buffer_unordered(IN_FLIGHT);
    let mut seen: BTreeMap<String, Value> = BTreeMap::new();
    while let Some((id, body, reply)) = replies.next().await {
        if let Some(first) = seen.get(&id) {
            assert_eq!(first, &reply, "command {id} sent again got the same reply");
            continue;
        }
        count(tally, &body, &reply);
        seen.insert(id, reply);
    }
    assert_eq!(seen.len(), PER_PHASE);
}

fn count(tally: &mut Tally, body: &Value, reply: &Value) {
    if reply["accepted"] != true {
        let reason = reply["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("insufficient funds"),
            "only overdrafts are refused: {reply}"
        );
        tally.overdrafts += 1;
        return;
    }
    tally.accepted += 1;
    let amount = i128::from(body["amount"].as_u64().unwrap());
    tally.net += match body["type"].as_str().unwrap() {
        "Deposit" => amount,
        "Withdraw" => -amount,
        _ => 0,
    };
}

/// A JSON value of `bucket` under `key`.
async fn kv_json(js: &jetstream::Context, bucket: &str, key: &str) -> Option<Value> {
    let store = js.get_key_value(bucket).await.expect("the bucket exists");
    let value = store.get(key).await.expect("kv get")?;
    Some(serde_json::from_slice(&value).expect("JSON values"))
}

/// The sum of the read model's balances, once every view is at its account's version.
async fn read_model_total(js: &jetstream::Context) -> Option<i128> {
    let mut sum = 0;
    for account in ACCOUNTS {
        let view = kv_json(js, "bank-read-model", account).await.unwrap_or_default();
        let state = kv_json(js, "bank-accounts", account).await.unwrap_or_default();
        if view["version"] != state["version"] {
            return None;
        }
        sum += i128::from(view["balance"].as_u64().unwrap_or(0));
    }
    Some(sum)
}

/// Waits until the read model has caught up and holds `total` cents (every transfer
/// credited), or, with `total` `None`, has caught up; returns what it holds.
async fn settled(js: &jetstream::Context, total: Option<i128>) -> i128 {
    let what = "the read model settling";
    until_ok(
        Duration::from_secs(60),
        Duration::from_millis(50),
        what,
        async || match (read_model_total(js).await, total) {
            (Some(held), None) => Ok(held),
            (Some(held), Some(total)) if held == total => Ok(held),
            (held, total) => Err(format!("it holds {held:?}, expected {total:?}")),
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_read_model_matches_a_replay_of_the_event_store_and_no_balance_goes_negative() {
    let dir = FunctionsDir::new();
    deploy(&dir, &FUNCTIONS.map(|(_, name)| name));
    let sluice = Sluice::in_folder(dir).start().await;
    let (client, js) = (sluice.client.clone(), sluice.js());

    let started = Instant::now();
    let mut tally = Tally::default();
    for account in ACCOUNTS {
        let body = json!({"type": "Deposit", "amount": OPENING});
        let reply = send(&client, &format!("open-{account}"), account, &body).await;
        count(&mut tally, &body, &reply);
    }
    run_phase(&client, 1, &mut tally).await;
    settled(&js, Some(tally.net)).await;

    // Lose every account's running state: the next command of each account rebuilds it
    // from its latest snapshot and the events after it in the stream.
    let accounts = js.get_key_value("bank-accounts").await.unwrap();
    let mut snapshots_before = BTreeMap::new();
    for account in ACCOUNTS {
        let snapshot = kv_json(&js, "bank-snapshots", account).await.expect("a snapshot");
        snapshots_before.insert(account, snapshot);
        accounts.delete(account).await.unwrap();
    }
    run_phase(&client, 2, &mut tally).await;
    settled(&js, Some(tally.net)).await;
    let elapsed = started.elapsed();

    let replayed = replay(&js).await;
    check_views(&js, &replayed).await;
    check_snapshots(&js, &replayed, &snapshots_before).await;
    check_queries(&client, &replayed).await;
    let transfers = transfers_complete(&replayed);
    let events: u64 = replayed.values().map(Replayed::version).sum();
    assert_eq!(
        events as usize,
        tally.accepted + transfers,
        "one event per accepted command, plus one credit per transfer; none for a refusal or a repeat"
    );
    assert!(
        tally.overdrafts > 100,
        "overdrafts were tried and refused: {}",
        tally.overdrafts
    );
    let total: i128 = replayed.values().map(Replayed::balance).sum();
    assert_eq!(total, tally.net, "money is conserved: deposits minus withdrawals");
    println!(
        "bank accounts: {} commands ({} refused, {} transfers) -> {events} events in {:.2} s: {:.0} events/s, {:.0} commands/s",
        2 * PER_PHASE + ACCOUNTS.len(),
        tally.overdrafts,
        transfers,
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        (2 * PER_PHASE + ACCOUNTS.len()) as f64 / elapsed.as_secs_f64(),
    );
    sluice.shutdown().await;
}

/// The read model and each account's own state are the replay's.
async fn check_views(js: &jetstream::Context, replayed: &BTreeMap<String, Replayed>) {
    assert_eq!(replayed.len(), ACCOUNTS.len());
    for (account, history) in replayed {
        let view = kv_json(js, "bank-read-model", account).await.expect("a view");
        assert_eq!(
            view["version"],
            history.version(),
            "{account}: read model version"
        );
        assert_eq!(
            i128::from(view["balance"].as_u64().unwrap()),
            history.balance(),
            "{account}"
        );
        let recent: Vec<(u64, u64)> = view["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tx| (tx["seq"].as_u64().unwrap(), tx["balance"].as_u64().unwrap()))
            .collect();
        let tail = &history.events[history.events.len() - recent.len()..];
        let expected: Vec<(u64, u64)> = tail
            .iter()
            .map(|event| (event["seq"].as_u64().unwrap(), event["balance"].as_u64().unwrap()))
            .collect();
        assert_eq!(
            (recent.len(), recent),
            (20, expected),
            "{account}: recent transactions"
        );
        let state = kv_json(js, "bank-accounts", account)
            .await
            .expect("a running state");
        assert_eq!(
            state["version"],
            history.version(),
            "{account}: the aggregate's version"
        );
        assert_eq!(i128::from(state["balance"].as_u64().unwrap()), history.balance());
    }
}

/// Snapshots were taken every 100 events with the balance the replay had there, and the
/// accounts whose state was deleted came back from them, not from the whole stream.
async fn check_snapshots(
    js: &jetstream::Context,
    replayed: &BTreeMap<String, Replayed>,
    before: &BTreeMap<&str, Value>,
) {
    for (account, history) in replayed {
        let snapshot = kv_json(js, "bank-snapshots", account).await.expect("a snapshot");
        let version = snapshot["version"].as_u64().unwrap();
        assert_eq!(
            version,
            history.version() / 100 * 100,
            "{account}: the latest snapshot"
        );
        let at = history.balances[version as usize - 1];
        assert_eq!(i128::from(snapshot["balance"].as_u64().unwrap()), at, "{account}");

        let state = kv_json(js, "bank-accounts", account).await.unwrap();
        let rebuilt = &state["rebuilt_from"];
        let from = before[account.as_str()]["version"].as_u64().unwrap();
        assert_eq!(
            rebuilt["snapshot_version"], from,
            "{account} rebuilt from its snapshot: {state}"
        );
        assert!(
            rebuilt["events_replayed"].as_u64().unwrap() < 100,
            "{account}: {rebuilt}"
        );
    }
}

/// `GetBalance` and `ListTransactions` answer what the replay says.
async fn check_queries(client: &async_nats::Client, replayed: &BTreeMap<String, Replayed>) {
    for (account, history) in replayed {
        let balance = client
            .request(format!("bank.query.balance.{account}"), "".into())
            .await
            .unwrap();
        let balance: Value = serde_json::from_slice(&balance.payload).unwrap();
        assert_eq!(balance["version"], history.version());
        assert_eq!(
            i128::from(balance["balance"].as_u64().unwrap()),
            history.balance()
        );
        let listed = client
            .request(
                format!("bank.query.transactions.{account}"),
                r#"{"limit":5}"#.into(),
            )
            .await
            .unwrap();
        let listed: Value = serde_json::from_slice(&listed.payload).unwrap();
        let seqs: Vec<u64> = listed["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tx| tx["seq"].as_u64().unwrap())
            .collect();
        let newest = history.version();
        assert_eq!(seqs, (newest - 4..=newest).rev().collect::<Vec<_>>(), "{account}");
    }
}
