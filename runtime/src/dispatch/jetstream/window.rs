//! How far a JetStream intake pulls ahead of what its function runs: the window of messages
//! pulled and not yet running, and the most one pull request asks for.

use crate::deployment::Deployment;

/// The most messages one pull request asks for, and the widest pull-ahead window, for a
/// function that handles one event per call.
const MAX_BATCH: usize = 256;

/// The same for a batch function (or one full batch, if larger). It takes its events a batch
/// at a time: a pull of 256 filled two and a half batches of 100, and the next batches waited
/// for a pull round trip. With 1,024 the batch world drained a stream at 1.72–1.90× the
/// single-event world's rate in the same run, against 1.57–1.66× (BENCHMARKS.md, stop 34).
const MAX_BATCH_FUNCTION_PULL: usize = 1024;

/// How many times as many messages as a function runs at once its intake keeps pulled ahead.
///
/// With one times (stop 31), a function at the shipped `max_concurrency = 16` pulled 8 to 16
/// messages per request and often ran dry while the next request was out: the shipped host
/// drained a stream at 19–23k events/s, and at 35–39k with four times (BENCHMARKS.md, stop
/// 33). Waiting messages are kept alive with progress acks, so a wider window costs other
/// hosts of a fleet the chance to take them sooner, never an ack wait.
const AHEAD: usize = 4;

/// How many messages a function's intake keeps pulled ahead of its free permits.
pub(super) fn window(deployment: &Deployment) -> usize {
    let (max_concurrency, max_events) = shape(deployment);
    window_of(max_concurrency, max_events)
}

/// The most messages one pull request asks for.
pub(super) fn most_per_request(deployment: &Deployment) -> usize {
    most_per_request_of(shape(deployment).1)
}

/// The pull-ahead level at which the next pull request goes out.
pub(super) fn low_water(deployment: &Deployment) -> usize {
    window(deployment) / 2
}

/// `limits.max_concurrency`, and `batch.max_events` for a batch function.
fn shape(deployment: &Deployment) -> (usize, Option<usize>) {
    let function = deployment.function();
    let max_concurrency = function.manifest().limits.max_concurrency.get() as usize;
    (
        max_concurrency,
        function.batch().map(|batch| batch.max_events as usize),
    )
}

/// [`AHEAD`] times as many messages as the function runs at once (`max_concurrency`, times
/// `max_events` for a batch function), at most what one request asks for.
fn window_of(max_concurrency: usize, max_events: Option<usize>) -> usize {
    let running = max_concurrency * max_events.unwrap_or(1);
    (AHEAD * running).clamp(1, most_per_request_of(max_events))
}

/// [`MAX_BATCH`]; for a batch function [`MAX_BATCH_FUNCTION_PULL`], or its `max_events` if
/// larger, so one pull can fill a batch.
fn most_per_request_of(max_events: Option<usize>) -> usize {
    max_events.map_or(MAX_BATCH, |max_events| MAX_BATCH_FUNCTION_PULL.max(max_events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_event_function_pulls_four_times_what_it_runs_up_to_256() {
        assert_eq!(window_of(16, None), 64);
        assert_eq!(window_of(1, None), 4);
        assert_eq!(window_of(100, None), 256);
        assert_eq!(most_per_request_of(None), 256);
    }

    #[test]
    fn a_batch_function_pulls_four_times_its_batches_up_to_1024_or_one_batch() {
        assert_eq!(window_of(1, Some(10)), 40);
        // The benchmark's batch world: 4 batches of 100.
        assert_eq!(window_of(4, Some(100)), 1024);
        assert_eq!(most_per_request_of(Some(100)), 1024);
        // A batch larger than the cap is still pulled whole.
        assert_eq!(window_of(2, Some(5000)), 5000);
        assert_eq!(most_per_request_of(Some(5000)), 5000);
    }
}
