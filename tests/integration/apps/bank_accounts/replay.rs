//! The test's own replay of the event store: reads every message of `BANK_EVENTS` and folds
//! each account's events, independently of the application's code, checking as it goes that
//! sequence numbers have no gap or repeat and that no balance ever goes below zero.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use serde_json::Value;

/// One account as the replay saw it.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Every event, in order.
    pub events: Vec<Value>,
    /// The balance after each event: `balances[n]` after event `n + 1`.
    pub balances: Vec<i128>,
}

impl Replayed {
    /// The balance now.
    pub fn balance(&self) -> i128 {
        self.balances.last().copied().unwrap_or(0)
    }

    /// The version now (the number of events).
    pub fn version(&self) -> u64 {
        self.events.len() as u64
    }
}

/// Reads the whole stream and replays it per account.
pub async fn replay(js: &jetstream::Context) -> BTreeMap<String, Replayed> {
    let mut stream = js
        .get_stream("BANK_EVENTS")
        .await
        .expect("the event store exists");
    let count = stream.info().await.expect("stream info").state.messages as usize;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("read the stream");
    let mut accounts: BTreeMap<String, Replayed> = BTreeMap::new();
    for n in 0..count {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .unwrap_or_else(|_| panic!("stream message {} of {count} did not come", n + 1))
            .expect("the stream ends only when dropped")
            .expect("a stream message");
        let event: Value = serde_json::from_slice(&message.payload).expect("events are JSON");
        let account = event["account"].as_str().expect("an account").to_owned();
        assert_eq!(message.subject.as_str(), format!("bank.events.{account}"));
        fold(accounts.entry(account).or_default(), event);
    }
    accounts
}

/// Applies `event` to `account`, asserting it is the next one and leaves a balance of zero
/// or more equal to the one it records.
fn fold(account: &mut Replayed, event: Value) {
    let seq = event["seq"].as_u64().expect("a seq");
    assert_eq!(
        seq,
        account.version() + 1,
        "events of one account are numbered without gaps or repeats: {event}"
    );
    let amount = i128::from(event["amount"].as_u64().expect("an amount"));
    let delta = match event["type"].as_str().expect("a type") {
        "Deposited" | "TransferCredited" => amount,
        "Withdrawn" | "TransferDebited" => -amount,
        other => panic!("unknown event type {other}: {event}"),
    };
    let balance = account.balance() + delta;
    assert!(balance >= 0, "a balance went negative at {event}");
    assert_eq!(
        i128::from(event["balance"].as_u64().expect("a balance")),
        balance,
        "the event records the balance its history adds up to: {event}"
    );
    account.balances.push(balance);
    account.events.push(event);
}

/// Every `TransferDebited` has exactly one `TransferCredited` with the same id and amount on
/// the target account, and every credit has its debit. Returns the number of transfers.
pub fn transfers_complete(accounts: &BTreeMap<String, Replayed>) -> usize {
    let mut debits: HashMap<String, (String, String, u64)> = HashMap::new();
    let mut credits: HashMap<String, (String, String, u64)> = HashMap::new();
    for (account, replayed) in accounts {
        for event in &replayed.events {
            let id = event["transfer_id"].as_str().map(str::to_owned);
            let amount = event["amount"].as_u64().unwrap();
            match (event["type"].as_str().unwrap(), id) {
                ("TransferDebited", Some(id)) => {
                    let to = event["to"].as_str().unwrap().to_owned();
                    let earlier = debits.insert(id.clone(), (account.clone(), to, amount));
                    assert!(earlier.is_none(), "transfer {id} debited twice");
                }
                ("TransferCredited", Some(id)) => {
                    let from = event["from"].as_str().unwrap().to_owned();
                    let earlier = credits.insert(id.clone(), (from, account.clone(), amount));
                    assert!(earlier.is_none(), "transfer {id} credited twice");
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        debits, credits,
        "every debited transfer was credited once, and only those"
    );
    debits.len()
}
