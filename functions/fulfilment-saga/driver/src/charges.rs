//! The money side of a run: which orders the gateway charged, which charges were refunded,
//! and whether every charge ended in a shipment or in one refund.

use std::collections::{BTreeMap, BTreeSet};

use saga_events::subject;

use crate::observe::Observation;
use crate::report::Outcome;

/// What happened to the run's payments (the driver's copies aside).
#[derive(Debug, Clone, Default)]
pub struct Charges {
    /// Orders the gateway charged: they have a `saga.payment.succeeded`.
    pub charged: BTreeSet<String>,
    /// `saga.refund.requested` events per order.
    pub refund_requests: BTreeMap<String, usize>,
    /// Orders `saga-payment` refunded (its claim `refund.ORDER`).
    pub refunded: BTreeSet<String>,
    /// Orders cancelled by their payment timeout whose payment was declined afterwards.
    pub late_declines: BTreeSet<String>,
}

impl Charges {
    /// Reads the payments of `observed`; `outcomes` tells which orders timed out.
    pub fn new(observed: &Observation, outcomes: &BTreeMap<String, Vec<Outcome>>) -> Self {
        let timed_out = Outcome::Cancelled("payment_timeout".into());
        let mut charges = Charges {
            refunded: observed.refunds.clone(),
            ..Charges::default()
        };
        for seen in observed.events.iter().filter(|seen| !seen.is_copy()) {
            let order = seen.order_id().to_owned();
            match seen.subject.as_str() {
                subject::PAYMENT_SUCCEEDED => {
                    charges.charged.insert(order);
                }
                subject::REFUND_REQUESTED => *charges.refund_requests.entry(order).or_default() += 1,
                subject::PAYMENT_FAILED if outcomes.get(&order).is_some_and(|o| o.contains(&timed_out)) => {
                    charges.late_declines.insert(order);
                }
                _ => {}
            }
        }
        charges
    }

    /// Broken promises: an order shipped without a charge, a charge neither shipped nor
    /// refunded, refunded twice, or a refund of an order that shipped or was never charged.
    pub fn check(&self, outcomes: &BTreeMap<String, Vec<Outcome>>) -> Vec<String> {
        let mut violations = Vec::new();
        for (order, outcomes) in outcomes {
            let shipped = outcomes.contains(&Outcome::Shipped);
            let charged = self.charged.contains(order);
            let owed = charged && !shipped;
            let requests = self.refund_requests.get(order).copied().unwrap_or(0);
            if shipped && !charged {
                violations.push(format!("order {order} shipped without a charge"));
            }
            if requests != usize::from(owed) {
                violations.push(format!(
                    "order {order} (charged: {charged}, shipped: {shipped}) has {requests} refund requests"
                ));
            }
            if self.refunded.contains(order) != owed {
                violations.push(format!(
                    "order {order} (charged: {charged}, shipped: {shipped}) refunded: {}",
                    self.refunded.contains(order)
                ));
            }
        }
        violations
    }
}
