//! Per-function counters: what happened to every event, readable while the host runs.
//!
//! Updating a counter is one relaxed atomic operation, so the event path never waits on
//! metrics; the admin endpoint reads [`FunctionStats::snapshot`] when it is scraped.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use sluice_protocol::DeadLetterReason;

/// Upper bounds, in seconds, of the handler-duration histogram's buckets.
pub const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Live counters of one deployed function. Cheap to update from many tasks.
#[derive(Debug, Default)]
pub struct FunctionStats {
    received: AtomicU64,
    succeeded: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    dead_lettered_by_reason: [AtomicU64; DeadLetterReason::ALL.len()],
    dropped: AtomicU64,
    overflowed: AtomicU64,
    deduplicated: AtomicU64,
    published: AtomicU64,
    publish_failed: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    jetstream_pending: AtomicU64,
    circuit_opened: AtomicU64,
    circuit_closed: AtomicU64,
    durations: DurationHistogram,
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
    /// Dead-lettered events by reason, in the order of [`DeadLetterReason::ALL`].
    pub dead_lettered_by_reason: [u64; DeadLetterReason::ALL.len()],
    /// Events that failed for good with dead-lettering turned off, or whose dead letter could
    /// not be published.
    pub dropped: u64,
    /// Events dropped because the pending queue was full (`limits.max_pending` events or
    /// `limits.max_pending_bytes` bytes already waiting).
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
    /// Messages of the function's JetStream consumer not yet delivered (0 without JetStream).
    pub jetstream_pending: u64,
    /// Times the circuit breaker opened after consecutive retryable failures (a failed probe
    /// reopening it is not counted again).
    pub circuit_opened: u64,
    /// Times a successful probe closed the circuit.
    pub circuit_closed: u64,
    /// 1 while the circuit is open or half-open, 0 while it is closed (set by the registry
    /// from the deployed version's breaker; `FunctionStats::snapshot` leaves it 0).
    pub circuit_open: u64,
    /// How long attempts took.
    pub durations: DurationSnapshot,
}

impl StatsSnapshot {
    /// Events dead-lettered for `reason`.
    pub fn dead_lettered_for(&self, reason: DeadLetterReason) -> u64 {
        self.dead_lettered_by_reason[reason.index()]
    }
}

/// A histogram of attempt durations: atomics per bucket, a count and a sum.
#[derive(Debug, Default)]
struct DurationHistogram {
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl DurationHistogram {
    fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        if let Some(i) = DURATION_BUCKETS.iter().position(|&bound| seconds <= bound) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    fn snapshot(&self) -> DurationSnapshot {
        DurationSnapshot {
            buckets: self.buckets.each_ref().map(|bucket| bucket.load(Relaxed)),
            count: self.count.load(Relaxed),
            sum_nanos: self.sum_nanos.load(Relaxed),
        }
    }
}

/// Attempt durations at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DurationSnapshot {
    /// Attempts per bucket of [`DURATION_BUCKETS`] (each counted once, in the first bucket
    /// whose bound it does not exceed; longer attempts are only in `count`).
    pub buckets: [u64; DURATION_BUCKETS.len()],
    /// Attempts timed.
    pub count: u64,
    /// Their total duration in nanoseconds.
    pub sum_nanos: u64,
}

impl DurationSnapshot {
    /// The total duration in seconds.
    pub fn sum_seconds(&self) -> f64 {
        Duration::from_nanos(self.sum_nanos).as_secs_f64()
    }
}

/// Counts an instance as running until dropped, and then records how long it ran (one
/// attempt) in the duration histogram.
pub struct InFlight<'a> {
    stats: &'a FunctionStats,
    started: Instant,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.stats.in_flight.fetch_sub(1, Relaxed);
        self.stats.durations.observe(self.started.elapsed());
    }
}

impl FunctionStats {
    /// Marks an instance as running; the guard marks it finished.
    pub fn start_instance(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Relaxed);
        InFlight {
            stats: self,
            started: Instant::now(),
        }
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

    /// An event went to the dead-letter subject for `reason`.
    pub fn dead_lettered(&self, reason: DeadLetterReason) {
        self.dead_lettered.fetch_add(1, Relaxed);
        self.dead_lettered_by_reason[reason.index()].fetch_add(1, Relaxed);
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

    /// The circuit breaker opened.
    pub fn circuit_opened(&self) {
        self.circuit_opened.fetch_add(1, Relaxed);
    }

    /// A successful probe closed the circuit.
    pub fn circuit_closed(&self) {
        self.circuit_closed.fetch_add(1, Relaxed);
    }

    /// The function's JetStream consumer has `pending` messages not yet delivered.
    pub fn set_jetstream_pending(&self, pending: u64) {
        self.jetstream_pending.store(pending, Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            received: self.received.load(Relaxed),
            succeeded: self.succeeded.load(Relaxed),
            retried: self.retried.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            dead_lettered_by_reason: self
                .dead_lettered_by_reason
                .each_ref()
                .map(|count| count.load(Relaxed)),
            dropped: self.dropped.load(Relaxed),
            overflowed: self.overflowed.load(Relaxed),
            deduplicated: self.deduplicated.load(Relaxed),
            published: self.published.load(Relaxed),
            publish_failed: self.publish_failed.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            peak_in_flight: self.peak_in_flight.load(Relaxed),
            jetstream_pending: self.jetstream_pending.load(Relaxed),
            circuit_opened: self.circuit_opened.load(Relaxed),
            circuit_closed: self.circuit_closed.load(Relaxed),
            circuit_open: 0,
            durations: self.durations.snapshot(),
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
        assert_eq!(snapshot.durations.count, 3, "one observation per instance");
    }

    #[test]
    fn dead_letters_are_counted_in_total_and_by_reason() {
        let stats = FunctionStats::default();
        stats.dead_lettered(DeadLetterReason::Trap);
        stats.dead_lettered(DeadLetterReason::Trap);
        stats.dead_lettered(DeadLetterReason::Timeout);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.dead_lettered, 3);
        assert_eq!(snapshot.dead_lettered_for(DeadLetterReason::Trap), 2);
        assert_eq!(snapshot.dead_lettered_for(DeadLetterReason::Timeout), 1);
        assert_eq!(snapshot.dead_lettered_for(DeadLetterReason::Permanent), 0);
    }

    #[test]
    fn durations_land_in_the_first_bucket_that_holds_them() {
        let histogram = DurationHistogram::default();
        histogram.observe(Duration::from_micros(100));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(60));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.buckets[0], 1, "100 µs is within the 0.1 ms bound");
        assert_eq!(snapshot.buckets[5], 1, "3 ms is within the 5 ms bound");
        assert_eq!(
            snapshot.buckets.iter().sum::<u64>(),
            2,
            "60 s is beyond every bound"
        );
        assert_eq!(snapshot.count, 3);
        assert_eq!(snapshot.sum_nanos, 60_003_100_000);
    }

    #[test]
    fn jetstream_pending_is_a_gauge() {
        let stats = FunctionStats::default();
        stats.set_jetstream_pending(7);
        stats.set_jetstream_pending(2);
        assert_eq!(stats.snapshot().jetstream_pending, 2);
    }
}
