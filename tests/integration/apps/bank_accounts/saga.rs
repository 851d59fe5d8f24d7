//! The transfer saga is at least once, and a credit lands once: debits appended while
//! `bank-transfer` is not running are credited when it starts, and a saga that reads the
//! whole event store again (its consumer deleted) asks for every credit again and gets
//! nothing credited twice.

use async_nats::jetstream;
use serde_json::json;
use sluice_tests::{FunctionsDir, Sluice, drained};

use super::replay::{replay, transfers_complete};
use super::{ACCOUNTS, deploy, send, settled};

const TRANSFERS: u64 = 40;
const AMOUNT: u64 = 100;
const OPENING: u64 = 10_000;

/// How many messages the event store holds.
async fn stored(js: &jetstream::Context) -> u64 {
    let mut stream = js.get_stream("BANK_EVENTS").await.expect("the event store");
    stream.info().await.expect("stream info").state.messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_transfers_debited_while_the_saga_is_down_are_credited_once_when_it_runs() {
    let dir = FunctionsDir::new();
    deploy(&dir, &["bank-account", "bank-projection", "bank-query"]);
    let sluice = Sluice::in_folder(dir).start().await;
    let (client, js) = (sluice.client.clone(), sluice.js());
    for account in ACCOUNTS {
        let body = json!({"type": "Deposit", "amount": OPENING});
        send(&client, &format!("open-{account}"), account, &body).await;
    }
    for n in 0..TRANSFERS as usize {
        let (from, to) = (ACCOUNTS[n % 4], ACCOUNTS[(n + 1) % 4]);
        let body = json!({"type": "Transfer", "to": to, "amount": AMOUNT});
        let reply = send(&client, &format!("t-{n}"), from, &body).await;
        assert_eq!(reply["accepted"], true, "{reply}");
    }
    let total = i128::from(4 * OPENING);
    let held = settled(&js, None).await;
    assert_eq!(
        held,
        total - i128::from(TRANSFERS * AMOUNT),
        "debited, not yet credited: the money is in flight"
    );
    let (stage, _) = sluice.stop().await;

    // The saga starts and reads the event store from the beginning.
    deploy(&stage.dir, &["bank-transfer"]);
    let sluice = stage.start().await;
    settled(&js, Some(total)).await;
    drained(&js, "BANK_EVENTS", "bank-transfer").await;
    assert_eq!(stored(&js).await, 4 + 2 * TRANSFERS);
    let (stage, _) = sluice.stop().await;

    // It forgets how far it read and reads everything again: every credit is asked for again
    // with the same command id, answered from the recorded outcome, and appends nothing.
    js.delete_consumer_from_stream("bank-transfer", "BANK_EVENTS")
        .await
        .expect("delete the saga's consumer");
    let sluice = stage.start().await;
    drained(&js, "BANK_EVENTS", "bank-transfer").await;
    let account = sluice.host.stats("bank-account").expect("deployed");
    assert_eq!(account.succeeded, TRANSFERS, "every credit was asked for again");
    assert_eq!(
        stored(&js).await,
        4 + 2 * TRANSFERS,
        "and none was appended twice"
    );
    let replayed = replay(&js).await;
    assert_eq!(transfers_complete(&replayed), TRANSFERS as usize);
    assert_eq!(settled(&js, Some(total)).await, total);
    sluice.shutdown().await;
}
