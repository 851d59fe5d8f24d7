//! Instances kept warm for their next event (`limits.events_per_instance` > 1).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use wasmtime::Store;

use super::instance::Instance;
use crate::imports::{CapturedOutput, State};

/// A live instance kept for its next event (`limits.events_per_instance` > 1).
pub(super) struct WarmInstance {
    pub(super) store: Store<State>,
    pub(super) handler: Instance,
    pub(super) output: CapturedOutput,
    pub(super) served: u32,
    pub(super) idle_since: Instant,
}

/// Instances of one function waiting for their next event.
#[derive(Default)]
pub struct InstancePool {
    idle: Mutex<Vec<WarmInstance>>,
}

/// An idle instance older than this is dropped rather than reused.
const MAX_IDLE: Duration = Duration::from_secs(10);

impl InstancePool {
    pub(super) fn take(&self) -> Option<WarmInstance> {
        // One clock read for the whole pool, not one per idle instance.
        let now = Instant::now();
        let mut idle = self.idle.lock().expect("instance pool lock poisoned");
        idle.retain(|warm| now.saturating_duration_since(warm.idle_since) < MAX_IDLE);
        idle.pop()
    }

    pub(super) fn put(&self, warm: WarmInstance, keep_at_most: usize) {
        let mut idle = self.idle.lock().expect("instance pool lock poisoned");
        if idle.len() < keep_at_most {
            idle.push(warm);
        }
    }
}
