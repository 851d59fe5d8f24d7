//! Where the account keeps itself: running state, snapshots and command outcomes in
//! key-value, rebuilt from the event store when the running state is gone.

use bank_ledger::{Balance, SNAPSHOT_EVERY};
use serde::{Deserialize, Serialize};
use sluice_sdk::Error;
use sluice_sdk::kv::{self, KvError};

use crate::aggregate::{AccountState, Outcome, Rebuilt};
use crate::event_store;

/// Running state per account: [`AccountState`] under the account id.
pub const ACCOUNTS: &str = "bank-accounts";
/// Snapshots per account: [`Snapshot`] under the account id.
pub const SNAPSHOTS: &str = "bank-snapshots";
/// Outcomes per command: [`Outcome`] under `<account>.<command id>`.
pub const COMMANDS: &str = "bank-commands";
/// Most events a rebuild reads from the event store (a snapshot is at most
/// [`SNAPSHOT_EVERY`] events old, so this leaves room for repeated copies).
const MAX_REPLAY: u64 = 10 * SNAPSHOT_EVERY;

/// An account's balance at a version, and where in the event store to look for the events
/// after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Version and balance.
    #[serde(flatten)]
    pub balance: Balance,
    /// A stream sequence at or before the account's event `version + 1`: the rebuild reads
    /// from the one after it.
    pub position: u64,
}

/// The outcome recorded for `command_id`, if it was carried out before.
pub fn recorded(account: &str, command_id: &str) -> Result<Option<Outcome>, Error> {
    kv::get_json(COMMANDS, &format!("{account}.{command_id}"))
}

/// Records the outcome of `command_id` (the same outcome again on a retry, so a plain set).
pub fn record(account: &str, command_id: &str, outcome: &Outcome) -> Result<(), Error> {
    kv::set_json(COMMANDS, &format!("{account}.{command_id}"), outcome).map(drop)
}

/// The account's running state and its revision (0 when it was rebuilt and is not stored).
pub fn load(account: &str) -> Result<(AccountState, u64), Error> {
    match kv::get(ACCOUNTS, account)? {
        Some(entry) => Ok((entry.json()?, entry.revision)),
        None => Ok((rebuild(account)?, 0)),
    }
}

/// Stores `state` if the account is still at `revision`. Losing the race is retryable: the
/// next attempt loads the state that won.
pub fn commit(account: &str, state: &AccountState, revision: u64) -> Result<(), Error> {
    let value = serde_json::to_vec(state)?;
    match kv::compare_and_swap(ACCOUNTS, account, value, revision) {
        Ok(_) => Ok(()),
        Err(KvError::Conflict(_)) => Err(Error::retryable(format!(
            "account {account} changed while a command was decided; deciding again"
        ))),
        Err(other) => Err(other.into()),
    }
}

/// Snapshots the account when its version is a multiple of [`SNAPSHOT_EVERY`] and the stored
/// snapshot is older.
pub fn snapshot_if_due(account: &str, state: &AccountState) -> Result<(), Error> {
    let version = state.balance.version;
    if version == 0 || !version.is_multiple_of(SNAPSHOT_EVERY) {
        return Ok(());
    }
    let (stored, revision) = match kv::get(SNAPSHOTS, account)? {
        Some(entry) => (entry.json::<Snapshot>()?, entry.revision),
        None => (Snapshot::default(), 0),
    };
    if stored.balance.version >= version {
        return Ok(());
    }
    // The event of this version is not appended yet (it goes out when the handler returns),
    // so whatever the stream holds last for the account comes before it.
    let snapshot = Snapshot {
        balance: state.balance,
        position: event_store::last_position(account)?,
    };
    kv::compare_and_swap(SNAPSHOTS, account, serde_json::to_vec(&snapshot)?, revision)?;
    sluice_sdk::info!("account {account}: snapshot at version {version}");
    Ok(())
}

/// Rebuilds the account from its snapshot (if any) and the events after it in the stream.
fn rebuild(account: &str) -> Result<AccountState, Error> {
    let snapshot = kv::get_json::<Snapshot>(SNAPSHOTS, account)?.unwrap_or_default();
    let mut state = AccountState {
        balance: snapshot.balance,
        last_event: None,
        rebuilt_from: None,
    };
    let mut position = snapshot.position;
    let mut replayed = 0;
    for _ in 0..MAX_REPLAY {
        let Some((sequence, event)) = event_store::next_event(account, position + 1)? else {
            let rebuilt = Rebuilt {
                snapshot_version: snapshot.balance.version,
                events_replayed: replayed,
            };
            if rebuilt.snapshot_version > 0 || replayed > 0 {
                sluice_sdk::info!(
                    "account {account}: rebuilt version {} from the snapshot at version {} and {replayed} events",
                    state.balance.version,
                    rebuilt.snapshot_version
                );
                state.rebuilt_from = Some(rebuilt);
            }
            return Ok(state);
        };
        if sequence <= position {
            return Err(Error::retryable(format!(
                "event store answered message {sequence} when asked for {} or later",
                position + 1
            )));
        }
        position = sequence;
        if event.seq <= state.balance.version {
            continue; // before the snapshot, or a repeated copy of an event already applied
        }
        state.balance.apply(&event).map_err(|error| {
            Error::permanent(format!(
                "event store of account {account} is inconsistent: {error}"
            ))
        })?;
        state.last_event = Some(event);
        replayed += 1;
    }
    Err(Error::permanent(format!(
        "account {account}: more than {MAX_REPLAY} events after its snapshot at version {}",
        snapshot.balance.version
    )))
}
