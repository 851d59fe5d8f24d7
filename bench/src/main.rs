//! `sluice-bench`: per-event host cost first; more scenarios follow.

use std::sync::Arc;
use std::time::Instant;

use sluice_runtime::{Event, Function, SluiceEngine, invoke};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let dir = sluice_tests::FunctionsDir::new();
    dir.add(
        "order-total",
        "order-total",
        "[permissions]\npublish = [\"orders.totalled\"]\n",
    );
    let engine = SluiceEngine::new()?;
    let function = Function::load(&engine, &dir.path().join("order-total.wasm"))?;
    let order = serde_json::json!({"id": "o-1", "customer": "c-1", "items": [{"sku": "A", "qty": 2, "price": 1999}, {"sku": "B", "qty": 1, "price": 500}]});
    let event = Arc::new(Event::new(
        "orders.placed".into(),
        order.to_string().into(),
        vec![],
        None,
    ));
    for _ in 0..1000 {
        invoke(&engine, &function, &event, 1).await.unwrap();
    }
    let mut samples = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        invoke(&engine, &function, &event, 1).await.unwrap();
        samples.push(t.elapsed().as_nanos() as u64);
    }
    let total = started.elapsed();
    samples.sort_unstable();
    println!(
        "fresh instance + call + drop: mean {:.1} µs, median {:.1} µs, p99 {:.1} µs ({n} events)",
        total.as_secs_f64() * 1e6 / n as f64,
        samples[n / 2] as f64 / 1e3,
        samples[n * 99 / 100] as f64 / 1e3
    );
    Ok(())
}
