//! A week's counters in key-value state, changed exactly once per event.
//!
//! Key-value writes are not rolled back when an attempt fails, and JetStream redelivers, so a
//! plain `count += 1` would count some events twice. Instead each week's value keeps the ids
//! of the events it counts, and every change is a compare-and-swap: read the week and its
//! revision, skip the event if its id is in, else add it and write only if nobody wrote
//! meanwhile. The id set costs about 30 bytes per event, so one week holds some 30,000
//! events within the 1 MiB value limit; a busier projector would key its counters by day.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sluice_sdk::kv::{self, KvError};
use sluice_sdk::{Error, Event};

use crate::events::Fact;

/// The bucket of weekly counters.
pub const BUCKET: &str = "market-weekly";

/// Compare-and-swap rounds lost to concurrent events before the attempt gives up (retryably).
const MAX_ROUNDS: usize = 50;

/// One week of the Listing context, as stored under `week.<week>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Week {
    /// `2026-W48`.
    pub week: String,
    /// Listings created.
    pub listings: u64,
    /// Their asking prices, in cents per currency.
    pub listed_cents: BTreeMap<String, u64>,
    /// Price drops.
    pub price_reductions: u64,
    /// How much cheaper they made things, in cents per currency.
    pub reduced_cents: BTreeMap<String, u64>,
    /// Ids of the events counted.
    pub events: BTreeSet<String>,
}

impl Week {
    /// Adds `fact` of event `id`; false (and unchanged) if that event is counted already.
    pub fn apply(&mut self, id: &str, fact: &Fact) -> bool {
        if !self.events.insert(id.to_owned()) {
            return false;
        }
        let (count, sums, currency, cents) = match fact {
            Fact::Listed { currency, cents } => (&mut self.listings, &mut self.listed_cents, currency, cents),
            Fact::Reduced { currency, cents } => (
                &mut self.price_reductions,
                &mut self.reduced_cents,
                currency,
                cents,
            ),
        };
        *count += 1;
        *sums.entry(currency.clone()).or_default() += cents;
        true
    }
}

/// The key of `week`.
pub fn key(week: &str) -> String {
    format!("week.{week}")
}

/// Counts `fact` of `event` in `week` unless it is counted already; returns the week as
/// stored now and its revision.
pub fn count(event: &Event, week: &str, fact: &Fact) -> Result<(Week, u64), Error> {
    let key = key(week);
    for _ in 0..MAX_ROUNDS {
        let (mut stored, revision) = match kv::get(BUCKET, &key)? {
            Some(entry) => (entry.json::<Week>()?, entry.revision),
            None => (
                Week {
                    week: week.to_owned(),
                    ..Week::default()
                },
                0,
            ),
        };
        if !stored.apply(event.id(), fact) {
            sluice_sdk::debug!("event {} is counted in {week} already", event.id());
            return Ok((stored, revision));
        }
        let value = serde_json::to_vec(&stored)
            .map_err(|e| Error::permanent(format!("cannot encode week {week}: {e}")))?;
        match kv::compare_and_swap(BUCKET, &key, value, revision) {
            Ok(revision) => return Ok((stored, revision)),
            // Another event of this week wrote first: read its result and apply on top.
            Err(KvError::Conflict(_)) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(Error::retryable(format!(
        "lost {MAX_ROUNDS} compare-and-swap rounds on {key} to concurrent events"
    )))
}

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::TestHost;
    use sluice_sdk::{Error, Handler};

    use super::*;

    fn listed(cents: u64) -> Fact {
        Fact::Listed {
            currency: "EUR".into(),
            cents,
        }
    }

    #[test]
    fn an_event_counts_once() {
        let mut week = Week::default();
        assert!(week.apply("e-1", &listed(100)));
        assert!(week.apply("e-2", &listed(50)));
        assert!(!week.apply("e-1", &listed(100)), "a copy of e-1");
        assert_eq!(week.listings, 2);
        assert_eq!(week.listed_cents["EUR"], 150);
        assert_eq!(week.price_reductions, 0);
    }

    struct CountListing;

    impl Handler for CountListing {
        fn handle(event: Event) -> Result<(), Error> {
            count(&event, "2026-W48", &listed(100)).map(drop)
        }
    }

    #[test]
    fn redelivered_events_leave_the_stored_week_alone() {
        let host = TestHost::new().allow_bucket(BUCKET);
        for id in ["e-1", "e-2", "e-1"] {
            let event = Event::new(id, "market.listing.created", "{}");
            assert!(host.run::<CountListing>(event).result.is_ok());
        }
        let entry = host.kv_entry(BUCKET, "week.2026-W48").unwrap();
        let week: Week = entry.json().unwrap();
        assert_eq!((week.listings, entry.revision), (2, 2), "the copy wrote nothing");
    }
}
