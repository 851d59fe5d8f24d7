//! `bank-projection`: the read side of the bank example (CQRS).
//!
//! Reads every event of the `BANK_EVENTS` stream, one account at a time in stream order, and
//! keeps per account, in bucket `bank-read-model` under the account id, an `AccountView`:
//! the version (last event applied), the balance and the most recent transactions. Applying
//! is idempotent: an event whose `seq` is already in the view is skipped, so redeliveries and
//! repeated copies change nothing; an event that comes before its predecessor (a gap) is
//! retried until the predecessor is in.

use bank_ledger::{AccountEvent, AccountView, Applied, FoldError, READ_MODEL};
use sluice_sdk::kv::{self, KvError};
use sluice_sdk::{Error, Event, Handler};

/// The handler.
pub struct Projection;

impl Handler for Projection {
    fn handle(event: Event) -> Result<(), Error> {
        let appended: AccountEvent = event.json()?;
        let (mut view, revision) = match kv::get(READ_MODEL, &appended.account)? {
            Some(entry) => (entry.json::<AccountView>()?, entry.revision),
            None => (AccountView::default(), 0),
        };
        if apply(&mut view, &appended)? == Applied::AlreadyApplied {
            return Ok(());
        }
        let value = serde_json::to_vec(&view)?;
        match kv::compare_and_swap(READ_MODEL, &appended.account, value, revision) {
            Ok(_) => Ok(()),
            Err(KvError::Conflict(_)) => Err(Error::retryable(format!(
                "the view of account {} changed meanwhile; applying event {} again",
                appended.account, appended.seq
            ))),
            Err(other) => Err(other.into()),
        }
    }
}

sluice_sdk::export!(Projection);

/// Applies `event` to `view`: a gap is retryable (the missing event is on its way), an event
/// that does not add up is permanent.
fn apply(view: &mut AccountView, event: &AccountEvent) -> Result<Applied, Error> {
    view.apply(event).map_err(|error| match error {
        FoldError::OutOfOrder { .. } => Error::retryable(format!(
            "account {}: {error}; waiting for the events before it",
            event.account
        )),
        other => Error::permanent(format!("account {}: {other}", event.account)),
    })
}

#[cfg(test)]
mod tests {
    use bank_ledger::{Change, RECENT};
    use sluice_sdk::testing::TestHost;

    use super::*;

    fn event(seq: u64, amount: u64, balance: u64) -> Event {
        let appended = AccountEvent {
            account: "a-1".into(),
            seq,
            command_id: format!("c-{seq}"),
            change: Change::Deposited { amount },
            balance,
        };
        Event::new(
            format!("e-{seq}"),
            "bank.events.a-1",
            serde_json::to_vec(&appended).unwrap(),
        )
    }

    fn view(host: &TestHost) -> AccountView {
        serde_json::from_slice(&host.kv_entry(READ_MODEL, "a-1").unwrap().value).unwrap()
    }

    #[test]
    fn events_build_the_view_once_each_and_a_gap_waits() {
        let host = TestHost::new().allow_bucket(READ_MODEL);
        for seq in 1..=25 {
            assert!(host.run::<Projection>(event(seq, 10, seq * 10)).result.is_ok());
        }
        assert!(
            host.run::<Projection>(event(7, 10, 70)).result.is_ok(),
            "a repeat is skipped"
        );
        let gap = host.run::<Projection>(event(27, 10, 270)).result.unwrap_err();
        assert!(
            gap.is_retryable() && gap.message().contains("event 26 was due"),
            "{gap:?}"
        );
        let view = view(&host);
        assert_eq!((view.version, view.balance), (25, 250));
        assert_eq!(view.transactions.len(), RECENT);
        assert_eq!(view.transactions.first().unwrap().seq, 6);
        assert_eq!(view.transactions.last().unwrap().seq, 25);
    }
}
