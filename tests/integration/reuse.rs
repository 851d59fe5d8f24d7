//! `limits.events_per_instance`: an instance serves up to N events, then a fresh one takes
//! over; a failure always discards the instance.

use std::sync::Arc;

use serde_json::{Value, json};
use sluice_runtime::{Event, Function, Runner, SluiceEngine};
use sluice_tests::{FunctionsDir, Manifest};

async fn counts(events_per_instance: u32, ops: &[&str]) -> Vec<Option<u64>> {
    let dir = FunctionsDir::new();
    let manifest = Manifest::new()
        .events_per_instance(events_per_instance.into())
        .publish(["probe.out"]);
    dir.add("counter", "probe", manifest);
    let engine = SluiceEngine::new().unwrap();
    let function = Function::load(&engine, &dir.path().join("counter.wasm")).unwrap();
    let runner = Runner::offline(Arc::new(engine), function);
    let mut seen = Vec::new();
    for op in ops {
        let event = Arc::new(Event::new(
            "counter".into(),
            json!({"op": op}).to_string().into(),
            vec![],
            None,
        ));
        let count = runner.invoke(&event, 1).await.ok().map(|published| {
            let body: Value = serde_json::from_slice(&published[0].payload).unwrap();
            body["count"].as_u64().unwrap()
        });
        seen.push(count);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_instances_share_nothing() {
    assert_eq!(counts(1, &["count"; 4]).await, [Some(1); 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_instance_serves_n_events_then_is_replaced() {
    assert_eq!(counts(3, &["count"; 7]).await, [1, 2, 3, 1, 2, 3, 1].map(Some));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_discards_the_instance() {
    let seen = counts(10, &["count", "count", "trap", "count", "count"]).await;
    assert_eq!(seen, [Some(1), Some(2), None, Some(1), Some(2)]);
}
