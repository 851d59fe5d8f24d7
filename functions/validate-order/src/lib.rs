//! `validate-order`: admits well-formed orders into the pipeline.
//!
//! Handles `orders.submitted` events. A well-formed order (non-empty `id` and `customer`,
//! at least one item, every `qty` above zero, every `price` zero or more) is published
//! unchanged, byte for byte, to `orders.placed`, where `order-total` picks it up.
//!
//! Pattern: **validation gate with a dead-letter path**. A malformed order is a permanent
//! error whose message says exactly what is wrong (`item 2 (sku "B"): qty must be above
//! zero, got 0`); the host moves the event to the dead-letter subject with that message in the
//! `Sluice-Dlq-Error` header, and downstream functions only ever see valid orders.

use serde::Deserialize;
use sluice_sdk::{Error, Event, Handler};

/// The subject valid orders are published to.
pub const PLACED_SUBJECT: &str = "orders.placed";

/// An order as submitted. Numbers are signed so that a negative one is reported as such
/// rather than as a type error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SubmittedOrder {
    /// The order's id.
    pub id: String,
    /// Who placed it.
    pub customer: String,
    /// The order lines.
    pub items: Vec<SubmittedItem>,
}

/// One order line as submitted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SubmittedItem {
    /// Stock-keeping unit.
    pub sku: String,
    /// How many units.
    pub qty: i64,
    /// Price of one unit, in cents.
    pub price: i64,
}

/// Checks that `order` is well-formed, naming the first problem found.
pub fn validate(order: &SubmittedOrder) -> Result<(), Error> {
    let reject = |problem: String| Err(Error::permanent(format!("invalid order: {problem}")));
    if order.id.trim().is_empty() {
        return reject("id is empty".into());
    }
    if order.customer.trim().is_empty() {
        return reject(format!("order {}: customer is empty", order.id));
    }
    if order.items.is_empty() {
        return reject(format!("order {}: items is empty", order.id));
    }
    for (n, item) in order.items.iter().enumerate() {
        let line = n + 1;
        if item.qty <= 0 {
            return reject(format!(
                "order {}: item {line} (sku {:?}): qty must be above zero, got {}",
                order.id, item.sku, item.qty
            ));
        }
        if item.price < 0 {
            return reject(format!(
                "order {}: item {line} (sku {:?}): price must not be negative, got {}",
                order.id, item.sku, item.price
            ));
        }
    }
    Ok(())
}

/// The `validate-order` function.
pub struct ValidateOrder;

impl Handler for ValidateOrder {
    fn handle(event: Event) -> Result<(), Error> {
        let order: SubmittedOrder = event.json()?;
        validate(&order)?;
        sluice_sdk::publish_with_headers(
            PLACED_SUBJECT,
            event.payload(),
            &[("content-type", "application/json")],
        )
    }
}

sluice_sdk::export!(ValidateOrder);

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> Result<(), Error> {
        validate(&Event::new("e-1", "orders.submitted", json).json()?)
    }

    fn rejection(json: &str) -> String {
        let err = check(json).unwrap_err();
        assert!(!err.is_retryable(), "{json}");
        err.message().to_owned()
    }

    #[test]
    fn accepts_a_well_formed_order() {
        check(r#"{"id":"o-1","customer":"c-1","items":[{"sku":"A","qty":2,"price":0}]}"#).unwrap();
    }

    #[test]
    fn names_the_problem_precisely() {
        assert_eq!(
            rejection(r#"{"id":" ","customer":"c-1","items":[]}"#),
            "invalid order: id is empty"
        );
        assert_eq!(
            rejection(r#"{"id":"o-1","customer":"","items":[]}"#),
            "invalid order: order o-1: customer is empty"
        );
        assert_eq!(
            rejection(r#"{"id":"o-1","customer":"c-1","items":[]}"#),
            "invalid order: order o-1: items is empty"
        );
        assert_eq!(
            rejection(
                r#"{"id":"o-1","customer":"c-1","items":[
                    {"sku":"A","qty":1,"price":1},{"sku":"B","qty":0,"price":1}]}"#
            ),
            r#"invalid order: order o-1: item 2 (sku "B"): qty must be above zero, got 0"#
        );
        assert_eq!(
            rejection(r#"{"id":"o-1","customer":"c-1","items":[{"sku":"A","qty":1,"price":-5}]}"#),
            r#"invalid order: order o-1: item 1 (sku "A"): price must not be negative, got -5"#
        );
    }

    #[test]
    fn missing_fields_and_bad_json_are_permanent() {
        assert!(rejection(r#"{"id":"o-1","customer":"c-1"}"#).contains("missing field `items`"));
        assert!(rejection("[").contains("not valid JSON"));
    }
}
