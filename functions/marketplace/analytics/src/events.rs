//! The Listing context's events as this projector reads them, and the one fact each adds to
//! a week.

use serde::Deserialize;
use sluice_sdk::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An event on `market.listing.>`, by its `schema` field. The host has already checked the
/// payload against that version's JSON Schema; serde picks the matching shape.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "schema")]
pub enum ListingEvent {
    /// A seller listed something.
    #[serde(rename = "listing-created/1")]
    ListingCreated(ListingCreated),
    /// A price drop, in whole US dollars (the first version).
    #[serde(rename = "price-reduced/1")]
    PriceReducedV1(PriceReducedV1),
    /// A price drop, in cents of a currency.
    #[serde(rename = "price-reduced/2")]
    PriceReducedV2(PriceReducedV2),
}

/// `listing-created/1`: the fields counted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListingCreated {
    /// The asking price in cents.
    pub price_cents: u64,
    /// ISO 4217 code.
    pub currency: String,
    /// RFC 3339.
    pub created_at: String,
}

/// `price-reduced/1`: prices in whole US dollars.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PriceReducedV1 {
    /// The price before, in dollars.
    pub old_price: u64,
    /// The price now, in dollars.
    pub new_price: u64,
    /// RFC 3339.
    pub reduced_at: String,
}

/// `price-reduced/2`: prices in cents with their currency.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PriceReducedV2 {
    /// The change.
    pub price: PriceChange,
    /// RFC 3339.
    pub reduced_at: String,
}

/// A v2 price change.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PriceChange {
    /// The price before, in cents.
    pub from_cents: u64,
    /// The price now, in cents.
    pub to_cents: u64,
    /// ISO 4217 code.
    pub currency: String,
}

/// What an event adds to its week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// One more listing, asking `cents` of `currency`.
    Listed {
        /// ISO 4217 code.
        currency: String,
        /// The asking price.
        cents: u64,
    },
    /// One more price drop of `cents` of `currency`.
    Reduced {
        /// ISO 4217 code.
        currency: String,
        /// How much cheaper.
        cents: u64,
    },
}

impl ListingEvent {
    /// The ISO week the event happened in (`2026-W48`) and what it adds to it. A timestamp
    /// that is not RFC 3339, or a "reduction" that raises the price, is a permanent error.
    pub fn fact(self) -> Result<(String, Fact), Error> {
        match self {
            Self::ListingCreated(e) => Ok((
                iso_week(&e.created_at)?,
                Fact::Listed {
                    currency: e.currency,
                    cents: e.price_cents,
                },
            )),
            Self::PriceReducedV1(e) => Ok((
                iso_week(&e.reduced_at)?,
                Fact::Reduced {
                    currency: "USD".into(),
                    cents: reduction(e.old_price, e.new_price)? * 100,
                },
            )),
            Self::PriceReducedV2(e) => Ok((
                iso_week(&e.reduced_at)?,
                Fact::Reduced {
                    cents: reduction(e.price.from_cents, e.price.to_cents)?,
                    currency: e.price.currency,
                },
            )),
        }
    }
}

fn reduction(from: u64, to: u64) -> Result<u64, Error> {
    from.checked_sub(to)
        .ok_or_else(|| Error::permanent(format!("a price reduction from {from} to {to} raises the price")))
}

/// The ISO 8601 week of an RFC 3339 timestamp, in UTC: `2026-W48`.
pub fn iso_week(timestamp: &str) -> Result<String, Error> {
    let at = OffsetDateTime::parse(timestamp, &Rfc3339)
        .map_err(|e| Error::permanent(format!("{timestamp:?} is not an RFC 3339 time: {e}")))?
        .to_offset(time::UtcOffset::UTC);
    let (year, week, _) = at.to_iso_week_date();
    Ok(format!("{year}-W{week:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> ListingEvent {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn weeks_follow_iso_8601_in_utc() {
        assert_eq!(iso_week("2026-11-23T00:00:00Z").unwrap(), "2026-W48");
        assert_eq!(iso_week("2026-11-29T23:59:59Z").unwrap(), "2026-W48");
        assert_eq!(
            iso_week("2026-11-30T00:30:00+01:00").unwrap(),
            "2026-W48",
            "still Sunday in UTC"
        );
        assert_eq!(iso_week("2027-01-01T12:00:00Z").unwrap(), "2026-W53");
        assert!(!iso_week("last tuesday").unwrap_err().is_retryable());
    }

    #[test]
    fn both_price_reduced_versions_become_the_same_fact() {
        let v1 = parse(
            r#"{"schema":"price-reduced/1","listing_id":"l-1","old_price":250,"new_price":200,"reduced_at":"2026-11-24T09:00:00Z"}"#,
        );
        let v2 = parse(
            r#"{"schema":"price-reduced/2","listing_id":"l-1","price":{"from_cents":25000,"to_cents":20000,"currency":"USD"},"reduced_at":"2026-11-24T09:00:00Z"}"#,
        );
        let expected = (
            "2026-W48".to_owned(),
            Fact::Reduced {
                currency: "USD".into(),
                cents: 5000,
            },
        );
        assert_eq!(v1.fact().unwrap(), expected);
        assert_eq!(v2.fact().unwrap(), expected);
    }

    #[test]
    fn a_raise_is_not_a_reduction() {
        let up = parse(
            r#"{"schema":"price-reduced/1","listing_id":"l-1","old_price":1,"new_price":2,"reduced_at":"2026-11-24T09:00:00Z"}"#,
        );
        assert!(!up.fact().unwrap_err().is_retryable());
    }
}
