//! The saga's events and their subjects.
//!
//! Every event carries the whole order (event-carried state), so no step has to look
//! anything up in another step's store. Payloads are JSON; the order's fields sit at the top
//! level beside the step's own (`{"order_id": …, "lines": […], "charge_id": …}`).

use serde::{Deserialize, Serialize};

/// The subjects the saga's events travel on. Each has exactly one consuming function, so
/// each function can own the stream of its subjects (created by the host at deploy).
pub mod subject {
    /// [`OrderPlaced`](super::OrderPlaced), from the shop; consumed by `saga-inventory`.
    pub const ORDER_PLACED: &str = "saga.order.placed";
    /// [`StockReserved`](super::StockReserved), from `saga-inventory`; consumed by `saga-payment`.
    pub const STOCK_RESERVED: &str = "saga.stock.reserved";
    /// [`PaymentSucceeded`](super::PaymentSucceeded), from `saga-payment`; consumed by
    /// `saga-inventory`, which confirms the order if the payment answered in time.
    pub const PAYMENT_SUCCEEDED: &str = "saga.payment.succeeded";
    /// [`PaymentFailed`](super::PaymentFailed), from `saga-payment`; consumed by `saga-inventory`,
    /// which releases the reservation (the compensation).
    pub const PAYMENT_FAILED: &str = "saga.payment.failed";
    /// [`PaymentTimeout`](super::PaymentTimeout), a delayed event `saga-inventory` schedules
    /// when it reserves and cancels when the payment answers; consumed by `saga-inventory`,
    /// which releases the reservation if the payment never answered.
    pub const PAYMENT_TIMEOUT: &str = "saga.payment.timeout";
    /// [`OrderConfirmed`](super::OrderConfirmed), from `saga-inventory`; consumed by `saga-shipping`.
    pub const ORDER_CONFIRMED: &str = "saga.order.confirmed";
    /// [`RefundRequested`](super::RefundRequested), from `saga-inventory`; consumed by
    /// `saga-payment`, which refunds a charge that came after the order was cancelled.
    pub const REFUND_REQUESTED: &str = "saga.refund.requested";
    /// [`ShipmentDispatched`](super::ShipmentDispatched), from `saga-shipping`; consumed by
    /// `saga-inventory`, which turns the reservation into a sale.
    pub const SHIPMENT_DISPATCHED: &str = "saga.shipment.dispatched";
    /// [`OrderCompleted`](super::OrderCompleted), from `saga-inventory`; consumed by `saga-email`.
    pub const ORDER_COMPLETED: &str = "saga.order.completed";
    /// [`OrderCancelled`](super::OrderCancelled), from `saga-inventory`; consumed by `saga-email`.
    pub const ORDER_CANCELLED: &str = "saga.order.cancelled";
    /// [`EmailSent`](super::EmailSent), from `saga-email`, for a mail relay to deliver.
    pub const EMAIL_SENT: &str = "saga.email.sent";
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The product.
    pub sku: String,
    /// How many.
    pub qty: u32,
}

/// An order as the shop placed it; every event of its saga carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order's id, unique per order; the saga's idempotency keys are made from it.
    pub order_id: String,
    /// Who placed it; their e-mail address.
    pub customer: String,
    /// What was ordered.
    pub lines: Vec<Line>,
    /// What it costs, in cents.
    pub amount: u64,
}

/// `saga.order.placed`: a customer placed an order.
pub type OrderPlaced = Order;

/// `saga.stock.reserved`: every line of the order is reserved in stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockReserved {
    /// The order.
    #[serde(flatten)]
    pub order: Order,
}

/// `saga.payment.succeeded`: the customer was charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentSucceeded {
    /// The order.
    #[serde(flatten)]
    pub order: Order,
    /// The gateway's reference of the charge.
    pub charge_id: String,
}

/// `saga.payment.failed`: the gateway declined the charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFailed {
    /// The order.
    #[serde(flatten)]
    pub order: Order,
    /// Why, as the gateway said it.
    pub reason: String,
}

/// `saga.payment.timeout`: the payment had not answered this long after the reservation.
/// `saga-inventory` schedules it as a delayed event when it reserves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentTimeout {
    /// The order.
    #[serde(flatten)]
    pub order: Order,
    /// How long the payment had, in seconds (`[config] payment_timeout`).
    pub after_secs: u64,
}

/// `saga.order.confirmed`: the payment succeeded before the timeout and the stock is still
/// reserved: ship it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    /// The order.
    #[serde(flatten)]
    pub order: Order,
    /// The gateway's reference of the charge.
    pub charge_id: String,
}

/// `saga.refund.requested`: the customer was charged for an order that had already been
/// cancelled (the payment answered after its timeout); the charge must be given back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequested {
    /// The order.
    #[serde(flatten)]
    pub order: Order,
    /// The charge to refund.
    pub charge_id: String,
    /// Why the order was cancelled before the charge came.
    pub reason: CancelReason,
}

/// `saga.shipment.dispatched`: the parcel left the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentDispatched {
    /// The order.
    #[serde(flatten)]
    pub order: Order,
    /// The carrier's tracking number.
    pub tracking: String,
}

/// `saga.order.completed`: shipped, and the reserved stock is sold. The saga ended well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCompleted {
    /// The order.
    #[serde(flatten)]
    pub order: Order,
    /// The carrier's tracking number.
    pub tracking: String,
}

/// Why an order was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// A line could not be reserved; nothing stayed reserved.
    OutOfStock,
    /// The payment was declined; the reservation was released (the compensation).
    PaymentDeclined,
    /// The payment did not answer within `payment_timeout`; the reservation was released.
    PaymentTimeout,
}

/// `saga.order.cancelled`: the saga ended without a sale and holds no stock for the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// The order.
    #[serde(flatten)]
    pub order: Order,
    /// Why.
    pub reason: CancelReason,
    /// Details for the customer (the product out of stock, the gateway's answer).
    pub detail: String,
}

/// Which e-mail an order got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    /// The order shipped.
    Confirmation,
    /// The order was cancelled.
    Cancellation,
}

/// `saga.email.sent`: the one e-mail an order gets, for a mail relay to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailSent {
    /// The order it is about.
    pub order_id: String,
    /// Recipient.
    pub to: String,
    /// Confirmation or cancellation.
    pub kind: EmailKind,
    /// The text.
    pub body: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_sits_at_the_top_level_beside_the_steps_fields() {
        let event = PaymentSucceeded {
            order: Order {
                order_id: "o-1".into(),
                customer: "ada@example.com".into(),
                lines: vec![Line {
                    sku: "tea".into(),
                    qty: 2,
                }],
                amount: 2400,
            },
            charge_id: "ch-1".into(),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["order_id"], "o-1");
        assert_eq!(json["charge_id"], "ch-1");
        assert_eq!(json["lines"][0]["qty"], 2);
        let back: PaymentSucceeded = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn reasons_and_kinds_are_snake_case() {
        assert_eq!(
            serde_json::to_string(&CancelReason::PaymentDeclined).unwrap(),
            "\"payment_declined\""
        );
        assert_eq!(
            serde_json::to_string(&CancelReason::PaymentTimeout).unwrap(),
            "\"payment_timeout\""
        );
        assert_eq!(
            serde_json::to_string(&EmailKind::Confirmation).unwrap(),
            "\"confirmation\""
        );
    }
}
