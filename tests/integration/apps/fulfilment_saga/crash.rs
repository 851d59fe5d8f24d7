//! A `sluice up` host killed with SIGKILL in the middle of the sagas, and another taking
//! over: redelivered events, attempts cut short after their first key-value writes, outputs
//! sent twice. The promises hold all the same.

use std::time::Duration;

use saga_driver::shop::DEAD_LETTERS;
use saga_driver::{Report, Shop, catalogue, observe};
use sluice_runtime::dlq::DeadLetterQueue;
use sluice_tests::{Sluice, spawn_host, until_ok};

use super::{ORDERS, deploy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_mid_saga_leaves_stock_consistent_and_one_email_per_order() {
    let stage = Sluice::in_folder(deploy()).stage().await;
    let state = tempfile::tempdir().unwrap();
    // The first host is a `sluice up` process, to be killed with SIGKILL.
    let mut first = spawn_host(&stage.server, &stage.dir, state.path());
    let mut shop = Shop::new(stage.client.clone());
    shop.wait_until_deployed(Duration::from_secs(30)).await.unwrap();
    shop.open().await.unwrap();
    let orders = catalogue::orders("k", ORDERS);
    shop.place(&orders).await.unwrap();

    // Kill it once a third of the orders have ended: the others are at every step.
    let what = "a third of the orders e-mailed by the first host";
    until_ok(
        Duration::from_secs(60),
        Duration::from_millis(20),
        what,
        async || match shop.progress().await.unwrap().emailed {
            emailed if emailed >= ORDERS as u64 / 3 => Ok(()),
            emailed => Err(format!("{emailed} e-mailed")),
        },
    )
    .await;
    first.kill().expect("SIGKILL the first host");
    first.wait().unwrap();
    let emailed_before = shop.progress().await.unwrap().emailed;
    assert!(emailed_before < ORDERS as u64, "killed before the end");

    let second = stage.start().await;
    let mut progress = shop
        .wait_until_ended(ORDERS, Duration::from_secs(90))
        .await
        .unwrap();
    for _ in 0..3 {
        if progress.dead_lettered == 0 {
            break;
        }
        let queue = DeadLetterQueue::open(second.host.client().clone(), "saga-payment", DEAD_LETTERS.1)
            .await
            .unwrap();
        queue.replay(None, 3, |_| None).await.unwrap();
        progress = shop
            .wait_until_ended(ORDERS, Duration::from_secs(60))
            .await
            .unwrap();
    }
    assert_eq!(
        progress.dead_lettered, 0,
        "every dead-lettered payment went through on replay"
    );
    shop.wait_until_idle(Duration::from_secs(30)).await.unwrap();

    let observed = observe(shop.jetstream(), "k").await.unwrap();
    let report = Report::new(&orders, &observed);
    println!("after a SIGKILL at {emailed_before} of {ORDERS} orders:\n{report}");
    assert!(report.violations.is_empty(), "{report}");
    assert!(
        second.host.stats("saga-inventory").unwrap().succeeded > 0,
        "the second host took over"
    );
    second.shutdown().await;
}
