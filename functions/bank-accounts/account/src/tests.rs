//! The aggregate against the SDK's test host: in-memory buckets, a canned event store.

use bank_ledger::{AccountEvent, Balance, Change, CommandReply};
use sluice_sdk::Event;
use sluice_sdk::testing::{Outcome, TestHost};

use crate::Account;
use crate::event_store::MESSAGE_GET;
use crate::repository::{ACCOUNTS, COMMANDS, SNAPSHOTS, Snapshot};

/// An empty event store: every message get finds nothing.
fn host() -> TestHost {
    TestHost::new()
        .allow_bucket(ACCOUNTS)
        .allow_bucket(SNAPSHOTS)
        .allow_bucket(COMMANDS)
        .allow_publish("bank.events.*")
        .answer(
            MESSAGE_GET,
            r#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","error":{"code":404,"err_code":10037,"description":"no message found"}}"#,
        )
}

fn send(host: &TestHost, id: &str, account: &str, command: &str) -> (Outcome, CommandReply) {
    let event = Event::new(id, format!("bank.commands.{account}"), command).with_reply_to("_INBOX.r");
    let outcome = host.run::<Account>(event);
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    let reply = outcome.published.last().expect("a reply").json();
    (outcome, reply)
}

#[test]
fn deposits_and_withdrawals_append_numbered_events_and_overdrafts_are_refused() {
    let host = host();
    let (outcome, reply) = send(&host, "c-1", "a-1", r#"{"type":"Deposit","amount":100}"#);
    assert_eq!((reply.accepted, reply.version, reply.balance), (true, 1, 100));
    let event: AccountEvent = outcome.published[0].json();
    assert_eq!(outcome.published[0].subject, "bank.events.a-1");
    assert_eq!((event.seq, event.change), (1, Change::Deposited { amount: 100 }));

    let (outcome, reply) = send(&host, "c-2", "a-1", r#"{"type":"Withdraw","amount":101}"#);
    assert!(!reply.accepted);
    assert_eq!(
        reply.reason.as_deref(),
        Some("insufficient funds: balance 100, 101 requested")
    );
    assert_eq!(
        outcome.published.len(),
        1,
        "a refusal appends no event, only the reply"
    );

    let (_, reply) = send(
        &host,
        "c-3",
        "a-1",
        r#"{"type":"Transfer","to":"a-2","amount":60}"#,
    );
    assert_eq!((reply.accepted, reply.version, reply.balance), (true, 2, 40));
    let (_, reply) = send(&host, "c-4", "a-1", r#"{"type":"Deposit","amount":"lots"}"#);
    assert!(!reply.accepted && reply.reason.unwrap().contains("lots"));
}

#[test]
fn a_command_sent_again_gets_the_same_reply_and_the_same_event() {
    let host = host();
    let (first, reply) = send(&host, "c-1", "a-1", r#"{"type":"Deposit","amount":5}"#);
    let (again, same) = send(&host, "c-1", "a-1", r#"{"type":"Deposit","amount":5}"#);
    assert_eq!(reply, same);
    assert_eq!(
        first.published, again.published,
        "same event, same order: same Nats-Msg-Ids"
    );
    let state: serde_json::Value =
        serde_json::from_slice(&host.kv_entry(ACCOUNTS, "a-1").unwrap().value).unwrap();
    assert_eq!(state["version"], 1);
}

#[test]
fn a_command_that_committed_but_was_not_recorded_is_not_applied_twice() {
    let host = host();
    send(&host, "c-1", "a-1", r#"{"type":"Deposit","amount":5}"#);
    // As if the first attempt failed between committing the state and recording the command.
    let host = host_without_record(host, "a-1.c-1");
    let (_, reply) = send(&host, "c-1", "a-1", r#"{"type":"Deposit","amount":5}"#);
    assert_eq!((reply.version, reply.balance), (1, 5));
}

/// `host` with the outcome of `key` forgotten, deleted by a one-line handler.
fn host_without_record(host: TestHost, key: &str) -> TestHost {
    struct Forget;
    impl sluice_sdk::Handler for Forget {
        fn handle(event: Event) -> Result<(), sluice_sdk::Error> {
            Ok(sluice_sdk::kv::delete(COMMANDS, event.text()?)?)
        }
    }
    assert!(host.run::<Forget>(Event::new("f", "x", key)).result.is_ok());
    host
}

#[test]
fn every_hundredth_event_takes_a_snapshot_that_a_rebuild_starts_from() {
    let host = host();
    for n in 1..=100 {
        send(
            &host,
            &format!("c-{n}"),
            "a-1",
            r#"{"type":"Deposit","amount":2}"#,
        );
    }
    let stored = host
        .kv_entry(SNAPSHOTS, "a-1")
        .expect("a snapshot at version 100");
    let snapshot: Snapshot = serde_json::from_slice(&stored.value).unwrap();
    assert_eq!(
        snapshot.balance,
        Balance {
            version: 100,
            balance: 200
        }
    );

    // Lose the running state: the account comes back from the snapshot (the canned event
    // store has no later events).
    struct Lose;
    impl sluice_sdk::Handler for Lose {
        fn handle(_: Event) -> Result<(), sluice_sdk::Error> {
            Ok(sluice_sdk::kv::delete(ACCOUNTS, "a-1")?)
        }
    }
    assert!(host.run::<Lose>(Event::new("l", "x", "")).result.is_ok());
    let (_, reply) = send(&host, "c-101", "a-1", r#"{"type":"Withdraw","amount":50}"#);
    assert_eq!((reply.accepted, reply.version, reply.balance), (true, 101, 150));
    let state: serde_json::Value =
        serde_json::from_slice(&host.kv_entry(ACCOUNTS, "a-1").unwrap().value).unwrap();
    assert_eq!(state["rebuilt_from"]["snapshot_version"], 100);
}
