//! How many log lines a function's handlers may write per second on one host
//! (`limits.log_lines_per_second`): a function that logs a line per event at 40,000 events a
//! second would otherwise spend a tenth of the host's time, and fill its log, on lines no
//! one reads. Lines over the budget are not written but counted; the next line written says
//! how many were left out. Lines the log filter would not write anyway take nothing from
//! it ([`shown`]). An attempt's transcript keeps every line regardless, so `sluice dlq
//! debug` shows a dead letter's whole log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whether the host's log filter writes a handler line at `level` (`SLUICE_LOG`, e.g.
/// `info,sluice::handler=warn`): lines it would not write take nothing from the budget.
pub fn shown(level: tracing::Level) -> bool {
    use tracing::{Level, enabled};
    match level {
        Level::TRACE => enabled!(target: "sluice::handler", Level::TRACE),
        Level::DEBUG => enabled!(target: "sluice::handler", Level::DEBUG),
        Level::INFO => enabled!(target: "sluice::handler", Level::INFO),
        Level::WARN => enabled!(target: "sluice::handler", Level::WARN),
        _ => enabled!(target: "sluice::handler", Level::ERROR),
    }
}

/// How long one budget lasts.
const WINDOW: Duration = Duration::from_secs(1);

/// A function's per-second budget of handler log lines on this host.
#[derive(Debug)]
pub struct LogBudget {
    /// Lines per window; `None` writes every line.
    per_second: Option<u32>,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    written: u32,
    /// Lines left out since the last line written.
    left_out: u64,
}

/// What to do with one handler log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineVerdict {
    /// Write it; `left_out` lines were not written before it (say so first when not zero).
    Write {
        /// Lines over the budget since the last one written.
        left_out: u64,
    },
    /// Over the budget: leave it out (it is counted).
    LeaveOut,
}

impl LogBudget {
    /// A budget of `per_second` lines a second; 0 means no limit.
    pub fn per_second(per_second: u32) -> Self {
        Self {
            per_second: (per_second > 0).then_some(per_second),
            window: Mutex::new(Window {
                started: Instant::now(),
                written: 0,
                left_out: 0,
            }),
        }
    }

    /// No limit (`sluice invoke`, `sluice dlq debug`: a person reads every line).
    pub fn unlimited() -> Self {
        Self::per_second(0)
    }

    /// The limit, when there is one.
    pub fn limit(&self) -> Option<u32> {
        self.per_second
    }

    /// Whether one more handler line of `function` may be written now. The first line
    /// written after some were left out is preceded by a warning that says how many.
    pub fn admit(&self, function: &str) -> bool {
        match self.take(Instant::now()) {
            LineVerdict::LeaveOut => false,
            LineVerdict::Write { left_out: 0 } => true,
            LineVerdict::Write { left_out } => {
                let limit = self.per_second.unwrap_or_default();
                tracing::warn!(
                    target: "sluice::handler",
                    function,
                    "{left_out} handler log lines were left out: over limits.log_lines_per_second = {limit}"
                );
                true
            }
        }
    }

    /// Takes one line from the budget at `now`.
    pub fn take(&self, now: Instant) -> LineVerdict {
        let Some(per_second) = self.per_second else {
            return LineVerdict::Write { left_out: 0 };
        };
        let mut window = self.window.lock().expect("log budget lock poisoned");
        if now.saturating_duration_since(window.started) >= WINDOW {
            window.started = now;
            window.written = 0;
        }
        if window.written >= per_second {
            window.left_out += 1;
            return LineVerdict::LeaveOut;
        }
        window.written += 1;
        LineVerdict::Write {
            left_out: std::mem::take(&mut window.left_out),
        }
    }
}

impl Default for LogBudget {
    fn default() -> Self {
        Self::unlimited()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(budget: &LogBudget, now: Instant, lines: usize) -> (usize, Vec<u64>) {
        let mut written = 0;
        let mut reported = Vec::new();
        for _ in 0..lines {
            if let LineVerdict::Write { left_out } = budget.take(now) {
                written += 1;
                if left_out > 0 {
                    reported.push(left_out);
                }
            }
        }
        (written, reported)
    }

    #[test]
    fn writes_the_budget_each_second_and_reports_what_it_left_out() {
        let budget = LogBudget::per_second(100);
        let start = Instant::now();
        assert_eq!(count(&budget, start, 250), (100, vec![]));
        // Still the same second: nothing more is written.
        assert_eq!(
            count(&budget, start + Duration::from_millis(999), 10),
            (0, vec![])
        );
        // The next second's first line says how many were left out.
        assert_eq!(count(&budget, start + WINDOW, 30), (30, vec![160]));
        assert_eq!(count(&budget, start + WINDOW, 71), (70, vec![]));
    }

    #[test]
    fn zero_means_no_limit() {
        let budget = LogBudget::per_second(0);
        assert_eq!(budget.limit(), None);
        assert_eq!(count(&budget, Instant::now(), 10_000), (10_000, vec![]));
    }
}
