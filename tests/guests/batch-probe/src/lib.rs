//! `batch-probe`: a batch handler for the micro-batch tests. Every event publishes
//! `{"id", "size", "attempt"}` to `batch.out` (its batch's size, so tests can count batch
//! sizes), then does what its payload says:
//!
//! - `ok`: succeeds;
//! - `permanent`: fails permanently (its output must not be sent; it is dead-lettered);
//! - `flaky`: fails retryably on its first attempt, succeeds on the next;
//! - `trap`: panics, failing the whole batch;
//! - `sleep:MS`: busy-waits MS milliseconds, then succeeds (to hold batches open).

use sluice_sdk::{Batch, BatchHandler, BatchOutcome, Error, Event};

struct BatchProbe;

impl BatchHandler for BatchProbe {
    fn handle_batch(batch: Batch) -> BatchOutcome {
        let size = batch.len();
        if batch.events().iter().any(|event| event.payload() == b"trap") {
            panic!("batch-probe trap in a batch of {size}");
        }
        batch.each(|event: Event| {
            let output = serde_json::json!({
                "id": event.id(),
                "size": size,
                "attempt": event.attempt(),
            });
            sluice_sdk::publish("batch.out", output.to_string())?;
            match event.text()? {
                "permanent" => Err(Error::permanent("batch-probe rejects this event")),
                "flaky" if event.attempt() == 1 => Err(Error::retryable("batch-probe: not yet")),
                text => {
                    if let Some(ms) = text.strip_prefix("sleep:") {
                        let ms: u64 = ms.parse().map_err(|_| Error::permanent("sleep:MS"))?;
                        let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
                        while std::time::Instant::now() < until {}
                    }
                    Ok(())
                }
            }
        })
    }
}

sluice_sdk::export_batch!(BatchProbe);
