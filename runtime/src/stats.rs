//! Per-function counters: what happened to every event, readable while the host runs.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters of one deployed function. Cheap to update from many tasks.
#[derive(Debug, Default)]
pub struct FunctionStats {
    received: AtomicU64,
    succeeded: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    dropped: AtomicU64,
    overflowed: AtomicU64,
    deduplicated: AtomicU64,
    published: AtomicU64,
    publish_failed: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
}

/// A copy of a function's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Events taken from the subscription.
    pub received: u64,
    /// Events whose handler returned ok.
    pub succeeded: u64,
    /// Failed attempts that were retried.
    pub retried: u64,
    /// Events published to the dead-letter subject.
    pub dead_lettered: u64,
    /// Events that failed for good with dead-lettering turned off, or whose dead letter could
    /// not be published.
    pub dropped: u64,
    /// Events dropped because `limits.max_pending` events were already waiting.
    pub overflowed: u64,
    /// Redeliveries of already handled events, acked without running the handler.
    pub deduplicated: u64,
    /// Messages published on behalf of the handler.
    pub published: u64,
    /// Messages the handler published that NATS refused.
    pub publish_failed: u64,
    /// Instances running now.
    pub in_flight: u64,
    /// The most instances that ever ran at once.
    pub peak_in_flight: u64,
}

/// Counts an instance as running until dropped.
pub struct InFlight<'a>(&'a FunctionStats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

impl FunctionStats {
    /// Marks an instance as running; the guard marks it finished.
    pub fn start_instance(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Relaxed);
        InFlight(self)
    }

    /// An event arrived.
    pub fn received(&self) {
        self.received.fetch_add(1, Relaxed);
    }

    /// An event was handled successfully.
    pub fn succeeded(&self) {
        self.succeeded.fetch_add(1, Relaxed);
    }

    /// An attempt failed and will be retried.
    pub fn retried(&self) {
        self.retried.fetch_add(1, Relaxed);
    }

    /// An event went to the dead-letter subject.
    pub fn dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Relaxed);
    }

    /// An event failed for good and was not dead-lettered.
    pub fn dropped(&self) {
        self.dropped.fetch_add(1, Relaxed);
    }

    /// An event was dropped because the pending queue was full; returns the new total.
    pub fn overflowed(&self) -> u64 {
        self.overflowed.fetch_add(1, Relaxed) + 1
    }

    /// Counts a duplicate acked without running the handler.
    pub fn deduplicated(&self) {
        self.deduplicated.fetch_add(1, Relaxed);
    }

    /// Handler messages were published (`ok`) or refused by NATS.
    pub fn published(&self, ok: u64, failed: u64) {
        self.published.fetch_add(ok, Relaxed);
        self.publish_failed.fetch_add(failed, Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            received: self.received.load(Relaxed),
            succeeded: self.succeeded.load(Relaxed),
            retried: self.retried.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            overflowed: self.overflowed.load(Relaxed),
            deduplicated: self.deduplicated.load(Relaxed),
            published: self.published.load(Relaxed),
            publish_failed: self.publish_failed.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            peak_in_flight: self.peak_in_flight.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_in_flight_remembers_the_maximum() {
        let stats = FunctionStats::default();
        let a = stats.start_instance();
        let b = stats.start_instance();
        drop(a);
        let c = stats.start_instance();
        drop((b, c));
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.in_flight, 0);
        assert_eq!(snapshot.peak_in_flight, 2);
    }
}
