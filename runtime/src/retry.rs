//! The retry policy: how many deliveries an event gets and how long to wait between them.
//!
//! The policy is a small pure value. Randomness is passed in as a number in `[0, 1)`, so the
//! schedule is unit-tested without a clock or a random generator.

use std::num::NonZeroU32;
use std::time::Duration;

/// How the computed backoff is randomised, so that many failing events do not retry in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Anywhere between zero and the computed delay ("full jitter").
    Full,
    /// Half the computed delay plus a random part of the other half.
    Equal,
    /// Exactly the computed delay.
    None,
}

/// When and how often a failed event is tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Deliveries including the first; 1 means never retry.
    pub max_attempts: NonZeroU32,
    /// Delay before the second delivery, before jitter.
    pub initial_delay: Duration,
    /// Growth factor of the delay from one retry to the next (at least 1).
    pub multiplier: f64,
    /// Upper bound of any delay, including a handler's retry-after.
    pub max_delay: Duration,
    /// How the delay is randomised.
    pub jitter: Jitter,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: NonZeroU32::new(5).expect("5 is not zero"),
            initial_delay: Duration::from_secs(1),
            multiplier: 2.0,
            max_delay: Duration::from_secs(300),
            jitter: Jitter::Full,
        }
    }
}

impl RetryPolicy {
    /// Whether an event whose delivery number `attempt` failed retryably gets another one.
    pub fn allows_another(&self, attempt: u32) -> bool {
        attempt < self.max_attempts.get()
    }

    /// The delay after delivery number `attempt` (1-based) failed, before jitter: the initial
    /// delay grown by the multiplier once per earlier retry, capped at `max_delay`.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let seconds = self.initial_delay.as_secs_f64() * self.multiplier.powi(exponent);
        let capped = seconds.min(self.max_delay.as_secs_f64());
        Duration::try_from_secs_f64(capped).unwrap_or(self.max_delay)
    }

    /// The delay to wait after delivery number `attempt` failed.
    ///
    /// `retry_after` is the handler's own hint; it replaces the computed backoff and is capped
    /// at `max_delay`. `unit` is a random number in `[0, 1)` used for jitter.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        if let Some(hint) = retry_after {
            return hint.min(self.max_delay);
        }
        let base = self.base_delay(attempt);
        let unit = unit.clamp(0.0, 1.0);
        match self.jitter {
            Jitter::None => base,
            Jitter::Full => base.mul_f64(unit),
            Jitter::Equal => base / 2 + (base / 2).mul_f64(unit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            max_attempts: NonZeroU32::new(4).unwrap(),
            initial_delay: Duration::from_millis(100),
            multiplier: 2.0,
            max_delay: Duration::from_millis(500),
            jitter,
        }
    }

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let policy = policy(Jitter::None);
        let delays: Vec<u64> = (1..=5)
            .map(|attempt| policy.delay(attempt, None, 0.7).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        assert_eq!(policy.base_delay(1000), Duration::from_millis(500));
    }

    #[test]
    fn jitter_stays_within_its_range() {
        let full = policy(Jitter::Full);
        assert_eq!(full.delay(2, None, 0.0), Duration::ZERO);
        assert_eq!(full.delay(2, None, 0.5), Duration::from_millis(100));
        let equal = policy(Jitter::Equal);
        assert_eq!(equal.delay(2, None, 0.0), Duration::from_millis(100));
        assert_eq!(equal.delay(2, None, 1.0), Duration::from_millis(200));
    }

    #[test]
    fn retry_after_replaces_backoff_but_not_the_cap() {
        let policy = policy(Jitter::Full);
        assert_eq!(
            policy.delay(1, Some(Duration::from_millis(42)), 0.9),
            Duration::from_millis(42)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(60)), 0.9),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn attempts_are_counted_including_the_first() {
        let policy = policy(Jitter::None);
        assert!(policy.allows_another(1));
        assert!(policy.allows_another(3));
        assert!(!policy.allows_another(4));
        let never = RetryPolicy {
            max_attempts: NonZeroU32::new(1).unwrap(),
            ..policy
        };
        assert!(!never.allows_another(1));
    }
}
