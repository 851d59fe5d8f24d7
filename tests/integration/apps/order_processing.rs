//! `functions/order-processing`: 10,000 orders, 10 % of them delivered twice, through an
//! idempotent totaller (cap 50), a worker pool (cap 32) and a micro-batch revenue consumer
//! (100 per batch). Every order must be totalled, packed and counted exactly once, counted by
//! order id on the outputs and in the key-value bucket, not read from the host's statistics.

use std::time::Duration;

use orders_driver::Workload;
use sluice_tests::Sluice;

/// The application's functions: name, guest crate, manifest.
const FUNCTIONS: [(&str, &str, &str); 3] = [
    (
        "idempotent-total",
        "orders-idempotent-total",
        include_str!("../../../functions/order-processing/idempotent-total/idempotent-total.toml"),
    ),
    (
        "fulfilment-worker",
        "orders-fulfilment-worker",
        include_str!("../../../functions/order-processing/fulfilment-worker/fulfilment-worker.toml"),
    ),
    (
        "batch-revenue",
        "orders-batch-revenue",
        include_str!("../../../functions/order-processing/batch-revenue/batch-revenue.toml"),
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_orders_a_tenth_sent_twice_are_each_totalled_exactly_once() {
    let mut app = Sluice::builder();
    for (name, guest, manifest) in FUNCTIONS {
        app = app.add(name, guest, manifest);
    }
    let sluice = app.start().await;
    let host = &sluice.host;
    assert_eq!(host.functions().len(), 3, "{:?}", host.load_errors());
    let workload = Workload {
        timeout: Duration::from_secs(90),
        ..Workload::default()
    };
    let report = orders_driver::run(&sluice.client, &workload)
        .await
        .expect("the workload runs");
    println!("{report}");
    report
        .check()
        .unwrap_or_else(|problem| panic!("{problem}\n{report}"));
    assert_eq!(report.sends, 11_000, "10,000 orders, 1,000 of them twice");

    let worker = host.stats("fulfilment-worker").unwrap();
    assert!(
        (2..=32).contains(&worker.peak_in_flight),
        "the worker pool ran orders in parallel, never more than 32: {}",
        worker.peak_in_flight
    );
    let totaller = host.stats("idempotent-total").unwrap();
    assert!(totaller.peak_in_flight <= 50, "{}", totaller.peak_in_flight);
    assert_eq!(
        totaller.succeeded, 11_000,
        "every delivery, duplicates included, succeeded"
    );
    let sizes = &report.batch_sizes;
    assert!(
        sizes.iter().all(|&size| size <= 100) && sizes.contains(&100),
        "revenue was summed in batches of up to 100: {sizes:?}"
    );
    sluice.shutdown().await;
}
