//! `order-analytics`: buckets every totalled order by size.
//!
//! Handles `orders.totalled` events (published by `order-total`) and publishes
//! `{"order_id": ..., "total": ..., "bucket": "small" | "medium" | "large"}` to
//! `analytics.orders`. The bucket thresholds come from the manifest's `[config]`
//! (`medium_from`, `large_from`, in cents) with defaults.
//!
//! Pattern: **fan-out** (publish/subscribe), the other half of `email-receipt`: both
//! subscribe to `orders.totalled` in their own queue groups and each gets every event. It also
//! shows **configuration outside the code**: changing a threshold is a manifest edit and a
//! redeploy, not a rebuild.

use serde::{Deserialize, Serialize};
use sluice_sdk::{Error, Event, Handler};

/// The subject analytics records are published to.
pub const ANALYTICS_SUBJECT: &str = "analytics.orders";

/// Totals from this many cents are `medium` unless the config sets `medium_from`.
pub const DEFAULT_MEDIUM_FROM: u64 = 5_000;

/// Totals from this many cents are `large` unless the config sets `large_from`.
pub const DEFAULT_LARGE_FROM: u64 = 20_000;

/// The fields of an `orders.totalled` event this function uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrderTotalled {
    /// The order's id.
    pub order_id: String,
    /// The order total, in cents.
    pub total: u64,
}

/// How big an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// Below `medium_from`.
    Small,
    /// From `medium_from`, below `large_from`.
    Medium,
    /// From `large_from`.
    Large,
}

/// The record published for every order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderBucketed {
    /// The order's id.
    pub order_id: String,
    /// The order total, in cents.
    pub total: u64,
    /// Its size bucket.
    pub bucket: Bucket,
}

/// Where the buckets start, in cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// The smallest `medium` total.
    pub medium_from: u64,
    /// The smallest `large` total.
    pub large_from: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            medium_from: DEFAULT_MEDIUM_FROM,
            large_from: DEFAULT_LARGE_FROM,
        }
    }
}

impl Thresholds {
    /// Reads `medium_from` and `large_from` through `get`, using the defaults for unset keys.
    ///
    /// A value that is not a whole number of cents, or `medium_from` above `large_from`, is a
    /// permanent error: every event would fail the same way until the manifest is fixed, and
    /// the dead-lettered events can be replayed then.
    pub fn from_config(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let read = |key: &str, default: u64| match get(key) {
            None => Ok(default),
            Some(value) => value.trim().parse::<u64>().map_err(|e| {
                Error::permanent(format!(
                    "config {key} = {value:?} is not a whole number of cents: {e}"
                ))
            }),
        };
        let thresholds = Self {
            medium_from: read("medium_from", DEFAULT_MEDIUM_FROM)?,
            large_from: read("large_from", DEFAULT_LARGE_FROM)?,
        };
        if thresholds.medium_from > thresholds.large_from {
            return Err(Error::permanent(format!(
                "config medium_from ({}) is above large_from ({})",
                thresholds.medium_from, thresholds.large_from
            )));
        }
        Ok(thresholds)
    }

    /// The bucket a `total` falls into.
    pub fn bucket(&self, total: u64) -> Bucket {
        if total >= self.large_from {
            Bucket::Large
        } else if total >= self.medium_from {
            Bucket::Medium
        } else {
            Bucket::Small
        }
    }
}

/// The `order-analytics` function.
pub struct OrderAnalytics;

impl Handler for OrderAnalytics {
    fn handle(event: Event) -> Result<(), Error> {
        let order: OrderTotalled = event.json()?;
        let thresholds = Thresholds::from_config(sluice_sdk::config)?;
        let record = OrderBucketed {
            bucket: thresholds.bucket(order.total),
            order_id: order.order_id,
            total: order.total,
        };
        sluice_sdk::publish_json(ANALYTICS_SUBJECT, &record)
    }
}

sluice_sdk::export!(OrderAnalytics);

#[cfg(test)]
mod tests {
    use super::*;

    fn config<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
    }

    #[test]
    fn defaults_apply_when_unset() {
        let t = Thresholds::from_config(config(&[])).unwrap();
        assert_eq!(t, Thresholds::default());
        assert_eq!(t.bucket(0), Bucket::Small);
        assert_eq!(t.bucket(DEFAULT_MEDIUM_FROM - 1), Bucket::Small);
        assert_eq!(t.bucket(DEFAULT_MEDIUM_FROM), Bucket::Medium);
        assert_eq!(t.bucket(DEFAULT_LARGE_FROM), Bucket::Large);
    }

    #[test]
    fn config_overrides_thresholds() {
        let t = Thresholds::from_config(config(&[("medium_from", "10"), ("large_from", "20")])).unwrap();
        assert_eq!(t.bucket(9), Bucket::Small);
        assert_eq!(t.bucket(10), Bucket::Medium);
        assert_eq!(t.bucket(25), Bucket::Large);
    }

    #[test]
    fn bad_config_is_a_permanent_error() {
        let err = Thresholds::from_config(config(&[("large_from", "lots")])).unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.message().contains("large_from"), "{}", err.message());
        let err = Thresholds::from_config(config(&[("medium_from", "30000")])).unwrap_err();
        assert!(err.message().contains("above"), "{}", err.message());
    }

    #[test]
    fn buckets_serialize_lowercase() {
        let record = OrderBucketed {
            order_id: "o-1".into(),
            total: 4498,
            bucket: Bucket::Small,
        };
        assert_eq!(
            serde_json::to_string(&record).unwrap(),
            r#"{"order_id":"o-1","total":4498,"bucket":"small"}"#
        );
    }
}
