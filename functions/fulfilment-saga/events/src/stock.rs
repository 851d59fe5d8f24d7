//! One product's stock level, as `saga-inventory` keeps it under `stock.SKU` in its bucket.
//!
//! The holds live inside the value, one per order with units reserved, so every change is
//! idempotent per order: reserving for an order that holds units already, or releasing one
//! that holds none, changes nothing. For every product, at any time:
//! `initial stock = available + sold + reserved`, where `reserved` is the sum of the holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The key of `sku`'s stock level.
pub fn key(sku: &str) -> String {
    format!("stock.{sku}")
}

/// One product's stock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    /// Units that can be reserved.
    pub available: u64,
    /// Units reserved by orders that shipped.
    pub sold: u64,
    /// Units reserved, per order id, by orders whose saga is still running.
    pub holds: BTreeMap<String, u64>,
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The level changed.
    Changed,
    /// Nothing to do: the change was already made (or there is nothing to change).
    Unchanged,
    /// A reservation that does not fit in what is available.
    Refused,
}

impl StockLevel {
    /// Units held by running orders.
    pub fn reserved(&self) -> u64 {
        self.holds.values().sum()
    }

    /// Holds `qty` units for `order`, unless it holds some already.
    pub fn reserve(&mut self, order: &str, qty: u64) -> Effect {
        if self.holds.contains_key(order) {
            return Effect::Unchanged;
        }
        if qty > self.available {
            return Effect::Refused;
        }
        self.available -= qty;
        self.holds.insert(order.to_owned(), qty);
        Effect::Changed
    }

    /// Gives `order`'s held units back (the compensation of a reservation).
    pub fn release(&mut self, order: &str) -> Effect {
        match self.holds.remove(order) {
            Some(qty) => {
                self.available += qty;
                Effect::Changed
            }
            None => Effect::Unchanged,
        }
    }

    /// Turns `order`'s held units into sold ones.
    pub fn sell(&mut self, order: &str) -> Effect {
        match self.holds.remove(order) {
            Some(qty) => {
                self.sold += qty;
                Effect::Changed
            }
            None => Effect::Unchanged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(available: u64) -> StockLevel {
        StockLevel {
            available,
            ..StockLevel::default()
        }
    }

    #[test]
    fn a_reservation_is_held_once_per_order() {
        let mut stock = level(5);
        assert_eq!(stock.reserve("o-1", 3), Effect::Changed);
        assert_eq!(
            stock.reserve("o-1", 3),
            Effect::Unchanged,
            "a retry does not reserve again"
        );
        assert_eq!(stock.reserve("o-2", 3), Effect::Refused, "only 2 left");
        assert_eq!((stock.available, stock.reserved()), (2, 3));
    }

    #[test]
    fn release_and_sell_move_the_hold_once() {
        let mut stock = level(5);
        stock.reserve("o-1", 2);
        stock.reserve("o-2", 1);
        assert_eq!(stock.sell("o-1"), Effect::Changed);
        assert_eq!(stock.sell("o-1"), Effect::Unchanged, "never sold twice");
        assert_eq!(stock.release("o-2"), Effect::Changed);
        assert_eq!(stock.release("o-2"), Effect::Unchanged);
        assert_eq!((stock.available, stock.sold, stock.reserved()), (3, 2, 0));
    }
}
