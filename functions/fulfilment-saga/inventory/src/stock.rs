//! Stock levels in key-value state, changed only by compare-and-swap.
//!
//! Each product has one key, `stock.SKU`, holding its [`StockLevel`]: what is available,
//! what was sold, and the **holds**, one per order that has units reserved. Keeping the
//! holds inside the value makes every change idempotent per order, so a retried event,
//! whose earlier attempt may have written before it failed, can never reserve twice or sell
//! twice. Many orders change the same product at once; a change that loses the race reads
//! the level again and retries here, in the handler, rather than failing the event.

pub use saga_events::stock::{Effect, StockLevel, key};
use sluice_sdk::Error;
use sluice_sdk::kv::{self, KvError};

/// The key-value bucket of stock levels and of this function's claims.
pub const BUCKET: &str = "saga-inventory";

/// How often one change re-reads a stock level that another event changed meanwhile, before
/// the event is retried as a whole.
const SWAP_ROUNDS: u32 = 200;

/// Applies `change` to `sku`'s stock level: reads it, changes it and writes it back only if
/// nobody wrote it meanwhile, else reads again. An unknown product has nothing available.
pub fn update(sku: &str, mut change: impl FnMut(&mut StockLevel) -> Effect) -> Result<Effect, Error> {
    let key = key(sku);
    for _ in 0..SWAP_ROUNDS {
        let (mut level, revision) = match kv::get(BUCKET, &key)? {
            Some(entry) => (entry.json::<StockLevel>()?, entry.revision),
            None => (StockLevel::default(), 0),
        };
        let effect = change(&mut level);
        if effect != Effect::Changed {
            return Ok(effect);
        }
        let value = serde_json::to_vec(&level).map_err(|e| Error::permanent(format!("{key}: {e}")))?;
        match kv::compare_and_swap(BUCKET, &key, value, revision) {
            Ok(_) => return Ok(effect),
            Err(KvError::Conflict(_)) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(Error::retryable(format!(
        "{key} changed under us {SWAP_ROUNDS} times in a row"
    )))
}
