//! What a run ended with, and whether the saga's promises held.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use saga_events::{Order, subject};

use crate::catalogue::product;
use crate::charges::Charges;
use crate::observe::{Observation, Seen};
use crate::shop::{MAIL_STREAM, stream_of};

/// How an order's saga ended.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Shipped and sold.
    Shipped,
    /// Cancelled, with the reason (`out_of_stock`, `payment_declined`, `payment_timeout`).
    Cancelled(String),
}

/// One product's line of the stock table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockRow {
    /// The product.
    pub sku: String,
    /// Units at the start.
    pub initial: u64,
    /// Units available now.
    pub available: u64,
    /// Units still held by running orders.
    pub reserved: u64,
    /// Units sold.
    pub sold: u64,
    /// Units in the lines of the orders that shipped.
    pub shipped: u64,
}

/// The end of a run: each order's outcome, e-mails, stock, and broken promises.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Each order's outcomes (exactly one when all is well).
    pub outcomes: BTreeMap<String, Vec<Outcome>>,
    /// E-mails per order (exactly one when all is well).
    pub emails: BTreeMap<String, usize>,
    /// The stock table.
    pub stock: Vec<StockRow>,
    /// Charges and refunds.
    pub charges: Charges,
    /// Payment timeouts still waiting to fire (none when every one fired or was cancelled).
    pub pending_timeouts: usize,
    /// Orders whose payment was dead-lettered (the driver replayed it afterwards).
    pub dead_lettered: BTreeSet<String>,
    /// Every promise the run broke, one line each; empty when the saga kept them all.
    pub violations: Vec<String>,
}

impl Report {
    /// Judges `observed` for `orders`.
    pub fn new(orders: &[Order], observed: &Observation) -> Self {
        let mut report = Report::default();
        for order in orders {
            report.outcomes.insert(order.order_id.clone(), Vec::new());
            report.emails.insert(order.order_id.clone(), 0);
        }
        let ended = stream_of("saga-email");
        for seen in observed.events.iter().filter(|seen| !seen.is_copy()) {
            if let Some(outcomes) = report.outcomes.get_mut(seen.order_id())
                && seen.stream == ended
            {
                outcomes.push(outcome(seen));
            }
            if let Some(count) = report.emails.get_mut(seen.order_id())
                && seen.stream == MAIL_STREAM
            {
                *count += 1;
            }
        }
        report.stock = stock_rows(orders, observed, &report.outcomes);
        report.charges = Charges::new(observed, &report.outcomes);
        report.pending_timeouts = observed.pending_timeouts;
        report.dead_lettered = observed
            .events
            .iter()
            .filter(|seen| seen.subject == subject::STOCK_RESERVED && seen.is_replay())
            .map(|seen| seen.order_id().to_owned())
            .collect();
        report.violations = report.check();
        report
    }

    /// How many orders ended with `outcome`.
    pub fn count(&self, outcome: &Outcome) -> usize {
        self.outcomes
            .values()
            .filter(|o| o.as_slice() == std::slice::from_ref(outcome))
            .count()
    }

    fn check(&self) -> Vec<String> {
        let mut violations = Vec::new();
        for (order, outcomes) in &self.outcomes {
            if outcomes.len() != 1 {
                violations.push(format!(
                    "order {order} ended {} times: {outcomes:?}",
                    outcomes.len()
                ));
            }
        }
        for (order, emails) in &self.emails {
            if *emails != 1 {
                violations.push(format!("order {order} got {emails} e-mails"));
            }
        }
        for row in &self.stock {
            if row.initial != row.available + row.reserved + row.sold {
                violations.push(format!(
                    "{}: {} at the start but {} available + {} reserved + {} sold",
                    row.sku, row.initial, row.available, row.reserved, row.sold
                ));
            }
            if row.reserved != 0 {
                violations.push(format!("{}: {} units still reserved", row.sku, row.reserved));
            }
            if row.sold != row.shipped {
                violations.push(format!(
                    "{}: {} sold but {} shipped",
                    row.sku, row.sold, row.shipped
                ));
            }
        }
        violations.extend(self.charges.check(&self.outcomes));
        let timed_out = Outcome::Cancelled("payment_timeout".into());
        for order in &self.dead_lettered {
            let outcomes = self.outcomes.get(order).map(Vec::as_slice).unwrap_or_default();
            if outcomes != std::slice::from_ref(&timed_out) {
                violations.push(format!(
                    "order {order}: its payment was dead-lettered, yet it ended {outcomes:?}, not by its timeout"
                ));
            }
        }
        if self.pending_timeouts > 0 {
            violations.push(format!(
                "{} payment timeouts neither fired nor cancelled",
                self.pending_timeouts
            ));
        }
        violations
    }
}

fn outcome(seen: &Seen) -> Outcome {
    match seen.subject.as_str() {
        subject::ORDER_COMPLETED => Outcome::Shipped,
        _ => Outcome::Cancelled(seen.payload["reason"].as_str().unwrap_or("?").to_owned()),
    }
}

fn stock_rows(
    orders: &[Order],
    observed: &Observation,
    outcomes: &BTreeMap<String, Vec<Outcome>>,
) -> Vec<StockRow> {
    let mut shipped: BTreeMap<&str, u64> = BTreeMap::new();
    for order in orders {
        if outcomes[&order.order_id].contains(&Outcome::Shipped) {
            for line in &order.lines {
                *shipped.entry(line.sku.as_str()).or_default() += u64::from(line.qty);
            }
        }
    }
    observed
        .stock
        .iter()
        .map(|(sku, level)| StockRow {
            sku: sku.clone(),
            initial: product(sku).map_or(0, |p| p.initial),
            available: level.available,
            reserved: level.reserved(),
            sold: level.sold,
            shipped: shipped.get(sku.as_str()).copied().unwrap_or(0),
        })
        .collect()
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<10} {:>7} {:>9} {:>8} {:>5} {:>7}",
            "product", "initial", "available", "reserved", "sold", "shipped"
        )?;
        for row in &self.stock {
            writeln!(
                f,
                "{:<10} {:>7} {:>9} {:>8} {:>5} {:>7}",
                row.sku, row.initial, row.available, row.reserved, row.sold, row.shipped
            )?;
        }
        let cancelled = |reason: &str| self.count(&Outcome::Cancelled(reason.into()));
        writeln!(
            f,
            "\n{} orders: {} shipped, {} cancelled (payment declined), {} cancelled (payment timed out), {} cancelled (out of stock)",
            self.outcomes.len(),
            self.count(&Outcome::Shipped),
            cancelled("payment_declined"),
            cancelled("payment_timeout"),
            cancelled("out_of_stock"),
        )?;
        let timed_out = self.count(&Outcome::Cancelled("payment_timeout".into()));
        writeln!(
            f,
            "payment timeouts: {} orders whose payment was dead-lettered, {} whose payment was only slow",
            self.dead_lettered.len(),
            timed_out.saturating_sub(self.dead_lettered.len())
        )?;
        writeln!(
            f,
            "answers after the timeout: {} charges refunded (not shipped), {} declines ignored",
            self.charges.refunded.len(),
            self.charges.late_declines.len()
        )?;
        writeln!(
            f,
            "{} e-mails for {} orders",
            self.emails.values().sum::<usize>(),
            self.emails.len()
        )?;
        if self.violations.is_empty() {
            writeln!(
                f,
                "invariants hold: initial = available + reserved + sold, nothing reserved, sold = shipped, one outcome and one e-mail per order,\n  every charge shipped or refunded once, no payment timeout pending"
            )
        } else {
            writeln!(f, "{} VIOLATIONS:", self.violations.len())?;
            for violation in self.violations.iter().take(20) {
                writeln!(f, "  {violation}")?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::CATALOGUE;
    use saga_events::Line;
    use saga_events::stock::StockLevel;

    fn seen(stream: &str, subject: &str, event_id: &str, payload: serde_json::Value) -> Seen {
        Seen {
            stream: stream.into(),
            sequence: 1,
            subject: subject.into(),
            event_id: event_id.into(),
            correlation: String::new(),
            causation: String::new(),
            at_nanos: 0,
            headers: async_nats::HeaderMap::new(),
            payload,
        }
    }

    /// One order of two teas, shipped and e-mailed once, with the stock to match.
    fn shipped() -> (Vec<Order>, Observation) {
        let order = Order {
            order_id: "r-0000".into(),
            customer: "ada@example.com".into(),
            lines: vec![Line {
                sku: "tea".into(),
                qty: 2,
            }],
            amount: 2400,
        };
        let id = serde_json::json!({"order_id": "r-0000"});
        let events = vec![
            seen(
                "SLUICE_SAGA_EMAIL",
                subject::ORDER_COMPLETED,
                "saga-inventory:x:1",
                id.clone(),
            ),
            seen(MAIL_STREAM, subject::EMAIL_SENT, "saga-email:y:1", id.clone()),
            seen(
                "SLUICE_SAGA_EMAIL",
                subject::ORDER_COMPLETED,
                "copy:saga-inventory:x:1",
                id.clone(),
            ),
            seen(
                "SLUICE_SAGA_INVENTORY",
                subject::PAYMENT_SUCCEEDED,
                "saga-payment:z:1",
                id,
            ),
        ];
        let stock = CATALOGUE
            .iter()
            .map(|p| {
                let sold = if p.sku == "tea" { 2 } else { 0 };
                let level = StockLevel {
                    available: p.initial - sold,
                    sold,
                    ..StockLevel::default()
                };
                (p.sku.to_owned(), level)
            })
            .collect();
        let observed = Observation {
            events,
            stock,
            ..Observation::default()
        };
        (vec![order], observed)
    }

    #[test]
    fn a_consistent_run_has_no_violations_and_copies_do_not_count() {
        let (orders, observed) = shipped();
        let report = Report::new(&orders, &observed);
        assert!(report.violations.is_empty(), "{report}");
        assert_eq!(report.count(&Outcome::Shipped), 1);
    }

    #[test]
    fn stuck_stock_double_sales_and_second_emails_are_violations() {
        let (orders, mut observed) = shipped();
        observed.events.push(observed.events[1].clone());
        let tea = observed.stock.get_mut("tea").unwrap();
        tea.holds.insert("r-9".into(), 1);
        tea.sold += 1;
        let report = Report::new(&orders, &observed);
        let text = report.violations.join("\n");
        assert!(text.contains("r-0000 got 2 e-mails"), "{text}");
        assert!(text.contains("tea: 1 units still reserved"), "{text}");
        assert!(text.contains("tea: 3 sold but 2 shipped"), "{text}");
        assert!(text.contains("tea: 1000 at the start"), "{text}");
    }

    #[test]
    fn a_charge_for_a_cancelled_order_is_refunded_once_and_a_shipped_one_never() {
        let (orders, mut observed) = shipped();
        let payload = serde_json::json!({"order_id": "r-0000", "reason": "payment_timeout"});
        // The order was cancelled by its timeout, not completed; its charge came late.
        observed.events[0] = seen(
            "SLUICE_SAGA_EMAIL",
            subject::ORDER_CANCELLED,
            "saga-inventory:t:1",
            payload,
        );
        let tea = observed.stock.get_mut("tea").unwrap();
        (tea.available, tea.sold) = (1000, 0);
        let text = Report::new(&orders, &observed).violations.join("\n");
        assert!(
            text.contains("has 0 refund requests") && text.contains("refunded: false"),
            "{text}"
        );

        let refund = serde_json::json!({"order_id": "r-0000"});
        observed.events.push(seen(
            "SLUICE_SAGA_PAYMENT",
            subject::REFUND_REQUESTED,
            "saga-inventory:r:1",
            refund,
        ));
        observed.refunds.insert("r-0000".into());
        let report = Report::new(&orders, &observed);
        assert!(report.violations.is_empty(), "{report}");
        assert_eq!(report.count(&Outcome::Cancelled("payment_timeout".into())), 1);

        observed.pending_timeouts = 2;
        let text = Report::new(&orders, &observed).violations.join("\n");
        assert!(
            text.contains("2 payment timeouts neither fired nor cancelled"),
            "{text}"
        );

        let (orders, mut observed) = shipped();
        observed.refunds.insert("r-0000".into());
        let text = Report::new(&orders, &observed).violations.join("\n");
        assert!(text.contains("shipped: true) refunded: true"), "{text}");
    }
}
