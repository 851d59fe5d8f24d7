//! A per-function circuit breaker: after `failures` consecutive retryable failures the
//! function's intake stops taking events for a cool-down, then lets one event through as a
//! probe. A probe that succeeds closes the circuit; one that fails opens it again for twice as
//! long, up to `max_cool_down`. Events are not lost meanwhile: in JetStream mode they stay in
//! the stream, in core mode they wait in the pending queue. Every opening and closing is
//! counted in the function's [`FunctionStats`], so `/metrics` shows what the logs tell.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::manifest::BreakerPolicy;
use crate::stats::FunctionStats;

/// What an attempt's outcome means to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The handler returned ok, or failed in a way that says nothing about its health
    /// (a permanent error for one bad event).
    Healthy,
    /// A failure worth retrying: the function or what it depends on is struggling.
    Failing,
}

/// How the intake may take events right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// As many as there are permits.
    Open,
    /// Exactly one, as a probe; report it with [`Breaker::record`] or give it back with
    /// [`Breaker::cancel_probe`].
    Probe,
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant, cool_down: Duration },
    HalfOpen { cool_down: Duration, probing: bool },
}

/// One function's circuit breaker. Without a policy it never opens.
#[derive(Debug)]
pub struct Breaker {
    function: String,
    policy: Option<BreakerPolicy>,
    state: Mutex<State>,
    changed: Notify,
    stats: Arc<FunctionStats>,
}

impl Breaker {
    /// A closed breaker for `function`, counting its openings and closings in `stats`.
    pub fn new(function: &str, policy: Option<BreakerPolicy>, stats: Arc<FunctionStats>) -> Self {
        Self {
            function: function.to_owned(),
            policy,
            state: Mutex::new(State::Closed { failures: 0 }),
            changed: Notify::new(),
            stats,
        }
    }

    /// Waits until the intake may take events: the circuit is closed, or its cool-down is
    /// over and no probe is out. Cancel-safe; follow it with [`Breaker::admit`].
    pub async fn ready(&self) {
        // Without a policy the circuit never leaves `Closed`: no lock, no waiting.
        if self.policy.is_none() {
            return;
        }
        loop {
            let notified = self.changed.notified();
            let wait_until = match &*self.lock() {
                State::Closed { .. } | State::HalfOpen { probing: false, .. } => return,
                State::Open { until, .. } => Some(*until),
                State::HalfOpen { probing: true, .. } => None,
            };
            match wait_until {
                Some(until) if until <= Instant::now() => return,
                Some(until) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Takes the right to admit events now that [`Breaker::ready`] returned.
    pub fn admit(&self) -> Admission {
        if self.policy.is_none() {
            return Admission::Open;
        }
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Admission::Open,
            State::Open { cool_down, .. } | State::HalfOpen { cool_down, .. } => {
                tracing::info!(
                    function = self.function,
                    "circuit half-open: probing with one event"
                );
                *state = State::HalfOpen {
                    cool_down,
                    probing: true,
                };
                Admission::Probe
            }
        }
    }

    /// A probe that found no event to take: the next one may probe.
    pub fn cancel_probe(&self) {
        let mut state = self.lock();
        if let State::HalfOpen { probing, .. } = &mut *state {
            *probing = false;
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// Counts an attempt's outcome; opens or closes the circuit when it should.
    pub fn record(&self, outcome: Outcome) {
        let Some(policy) = self.policy else {
            return;
        };
        let mut state = self.lock();
        let next = match (&*state, outcome) {
            (State::Closed { failures: 0 }, Outcome::Healthy) => return,
            (State::Closed { .. }, Outcome::Healthy) => State::Closed { failures: 0 },
            (State::Closed { failures }, Outcome::Failing) if failures + 1 < policy.failures.get() => {
                State::Closed {
                    failures: failures + 1,
                }
            }
            (State::Closed { .. }, Outcome::Failing) => {
                tracing::warn!(
                    function = self.function,
                    "circuit opened after {} consecutive retryable failures; pausing for {:?}",
                    policy.failures,
                    policy.cool_down
                );
                self.stats.circuit_opened();
                State::Open {
                    until: Instant::now() + policy.cool_down,
                    cool_down: policy.cool_down,
                }
            }
            (State::HalfOpen { .. }, Outcome::Healthy) => {
                tracing::info!(function = self.function, "circuit closed: the probe succeeded");
                self.stats.circuit_closed();
                State::Closed { failures: 0 }
            }
            (State::HalfOpen { cool_down, .. }, Outcome::Failing) => {
                let cool_down = (*cool_down * 2).min(policy.max_cool_down);
                tracing::warn!(
                    function = self.function,
                    "circuit opened again: the probe failed; pausing for {cool_down:?}"
                );
                State::Open {
                    until: Instant::now() + cool_down,
                    cool_down,
                }
            }
            // Events admitted before the circuit opened finish while it is open; their
            // outcomes do not change the pause.
            (State::Open { .. }, _) => return,
        };
        *state = next;
        drop(state);
        self.changed.notify_waiters();
    }

    /// Whether the circuit is closed: events may be admitted without waiting.
    pub fn is_closed(&self) -> bool {
        self.policy.is_none() || matches!(*self.lock(), State::Closed { .. })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("breaker lock poisoned")
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn breaker() -> Breaker {
        let policy = BreakerPolicy {
            failures: NonZeroU32::new(3).unwrap(),
            cool_down: Duration::from_millis(20),
            max_cool_down: Duration::from_millis(60),
        };
        Breaker::new("f", Some(policy), Arc::default())
    }

    async fn paused(breaker: &Breaker, expected_ms: u64) {
        let start = Instant::now();
        breaker.ready().await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(expected_ms),
            "paused {waited:?}, expected {expected_ms} ms"
        );
    }

    #[tokio::test]
    async fn opens_after_consecutive_failures_and_probes_after_the_cool_down() {
        let breaker = breaker();
        breaker.record(Outcome::Failing);
        breaker.record(Outcome::Failing);
        breaker.record(Outcome::Healthy);
        breaker.record(Outcome::Failing);
        breaker.record(Outcome::Failing);
        assert!(breaker.is_closed(), "a success in between resets the count");
        breaker.record(Outcome::Failing);
        assert!(!breaker.is_closed());

        paused(&breaker, 20).await;
        assert_eq!(breaker.admit(), Admission::Probe);
        breaker.record(Outcome::Failing);
        paused(&breaker, 40).await;
        assert_eq!(breaker.admit(), Admission::Probe, "the second pause doubles");
        breaker.record(Outcome::Failing);
        paused(&breaker, 60).await;
        assert_eq!(breaker.admit(), Admission::Probe);
        breaker.record(Outcome::Healthy);
        assert!(breaker.is_closed());
        assert_eq!(breaker.admit(), Admission::Open);
        let counted = breaker.stats.snapshot();
        assert_eq!(
            (counted.circuit_opened, counted.circuit_closed),
            (1, 1),
            "failed probes reopen the circuit without counting another opening"
        );
    }

    #[tokio::test]
    async fn one_probe_at_a_time() {
        let breaker = breaker();
        for _ in 0..3 {
            breaker.record(Outcome::Failing);
        }
        breaker.ready().await;
        assert_eq!(breaker.admit(), Admission::Probe);
        let second = tokio::time::timeout(Duration::from_millis(200), breaker.ready()).await;
        assert!(second.is_err(), "a second probe waited while the first was out");
        breaker.cancel_probe();
        breaker.ready().await;
        assert_eq!(breaker.admit(), Admission::Probe);
    }

    #[test]
    fn without_a_policy_it_never_opens() {
        let breaker = Breaker::new("f", None, Arc::default());
        for _ in 0..100 {
            breaker.record(Outcome::Failing);
        }
        assert!(breaker.is_closed());
    }
}
