//! How long a run took, read from the times the streams stored its events.
//!
//! Two clocks matter: how fast the saga moves orders whose payment answers (throughput), and
//! when the payment timeouts fire for those whose payment never did (a delay, not work).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use saga_events::subject;

use crate::observe::{Observation, Seen};
use crate::report::{Outcome, Report};
use crate::shop::{FUNCTIONS, MAIL_STREAM, stream_of};

/// The run's timings.
#[derive(Debug, Clone, Default)]
pub struct Timing {
    /// From the first order stored to the last e-mail of an order not cancelled by its
    /// payment timeout.
    pub answered_in: Duration,
    /// Orders that ended in that time.
    pub answered_orders: usize,
    /// Events the saga's functions handled in that time (the driver's copies aside).
    pub events: usize,
    /// For each order cancelled by its payment timeout: from its reservation to its
    /// `saga.payment.timeout`.
    pub timeouts: Vec<Duration>,
    /// From the first order stored to the last order's e-mail.
    pub all_ended_in: Duration,
}

impl Timing {
    /// Times `observed`, whose outcomes `report` judged.
    pub fn new(observed: &Observation, report: &Report) -> Self {
        let originals: Vec<&Seen> = observed.events.iter().filter(|seen| !seen.is_copy()).collect();
        let Some(start) = originals.first().map(|seen| seen.at_nanos) else {
            return Self::default();
        };
        let timed_out = Outcome::Cancelled("payment_timeout".into());
        let is_timed_out = |order: &str| report.outcomes.get(order).is_some_and(|o| o.contains(&timed_out));
        let mut answered_end = start;
        let mut all_end = start;
        let mut reserved: BTreeMap<&str, i128> = BTreeMap::new();
        let mut timeouts = Vec::new();
        for seen in &originals {
            match seen.subject.as_str() {
                subject::EMAIL_SENT if seen.stream == MAIL_STREAM => {
                    all_end = all_end.max(seen.at_nanos);
                    if !is_timed_out(seen.order_id()) {
                        answered_end = answered_end.max(seen.at_nanos);
                    }
                }
                subject::STOCK_RESERVED => {
                    reserved.entry(seen.order_id()).or_insert(seen.at_nanos);
                }
                subject::PAYMENT_TIMEOUT if is_timed_out(seen.order_id()) => {
                    if let Some(at) = reserved.get(seen.order_id()) {
                        timeouts.push(nanos(seen.at_nanos - at));
                    }
                }
                _ => {}
            }
        }
        let streams: Vec<String> = FUNCTIONS.iter().map(|f| stream_of(f)).collect();
        let events = originals
            .iter()
            .filter(|seen| streams.contains(&seen.stream) && seen.at_nanos <= answered_end)
            .count();
        timeouts.sort();
        Self {
            answered_in: nanos(answered_end - start),
            answered_orders: report.outcomes.len() - report.count(&timed_out),
            events,
            timeouts,
            all_ended_in: nanos(all_end - start),
        }
    }
}

fn nanos(span: i128) -> Duration {
    Duration::from_nanos(u64::try_from(span).unwrap_or(0))
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.answered_in.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "{} events through the saga's functions in {:.1}s, until the last order whose payment answered ended: {:.0} events/s, {:.0} orders/s",
            self.events,
            self.answered_in.as_secs_f64(),
            self.events as f64 / seconds,
            self.answered_orders as f64 / seconds
        )?;
        if let (Some(first), Some(last)) = (self.timeouts.first(), self.timeouts.last()) {
            writeln!(
                f,
                "{} payment timeouts fired {:.1} to {:.1} s after their reservation; every order had ended {:.1}s after the first was placed",
                self.timeouts.len(),
                first.as_secs_f64(),
                last.as_secs_f64(),
                self.all_ended_in.as_secs_f64()
            )?;
        }
        Ok(())
    }
}
