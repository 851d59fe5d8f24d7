//! The bank's language, shared by its functions: the commands an account accepts, the events
//! it records, the replies it gives, and the fold that turns an account's events into its
//! balance.
//!
//! Every command produces at most one event. Events of one account carry a gapless sequence
//! number (`seq`, 1 for the first), so any reader (the account itself rebuilding from a
//! snapshot, the projection, a test replaying the stream) applies each event exactly once, in
//! order, and can tell a repeated event (`seq` already applied) from a missing one (a gap).

mod read_model;

use serde::{Deserialize, Serialize};

pub use read_model::{AccountView, Applied, BalanceView, READ_MODEL, RECENT, Transaction, TransactionsView};

/// The JetStream stream holding every account event: the event store.
pub const EVENT_STREAM: &str = "BANK_EVENTS";
/// The subjects of [`EVENT_STREAM`]: `bank.events.<account>`.
pub const EVENT_SUBJECTS: &str = "bank.events.*";
/// An account takes a snapshot of itself every this many events.
pub const SNAPSHOT_EVERY: u64 = 100;

/// The subject events of `account` are appended to.
pub fn events_subject(account: &str) -> String {
    format!("bank.events.{account}")
}

/// The subject commands for `account` are sent to, as requests.
pub fn commands_subject(account: &str) -> String {
    format!("bank.commands.{account}")
}

/// Whether `name` can be an account id: 1 to 64 letters, digits, `-` or `_` (it is a subject
/// token and part of key-value keys).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Whether `id` can be a command id: 1 to 128 letters, digits, `-`, `_` or `=` (it is part of
/// a key-value key). Generated event ids (NUIDs) always are.
pub fn valid_command_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '='))
}

/// What a client asks an account to do. The command's id is the id of the event carrying it
/// (`Sluice-Event-Id`): sending a command again with the same id changes nothing and gets the
/// same reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Command {
    /// Put money in.
    Deposit {
        /// In cents; positive.
        amount: u64,
    },
    /// Take money out; refused when the balance is too low.
    Withdraw {
        /// In cents; positive.
        amount: u64,
    },
    /// Move money to another account: debited here now, credited there by `bank-transfer`.
    Transfer {
        /// The account credited.
        to: String,
        /// In cents; positive.
        amount: u64,
    },
    /// The second step of a transfer, sent by `bank-transfer` to the credited account.
    CreditTransfer {
        /// The id of the `Transfer` command that debited the source.
        transfer_id: String,
        /// The debited account.
        from: String,
        /// In cents.
        amount: u64,
    },
}

/// What happened to an account: one fact, appended to the event store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEvent {
    /// The account.
    pub account: String,
    /// Position among the account's events: 1, 2, 3, ... without gaps.
    pub seq: u64,
    /// The command that caused it.
    pub command_id: String,
    /// What changed.
    #[serde(flatten)]
    pub change: Change,
    /// The balance after this event, in cents.
    pub balance: u64,
}

/// The change an event records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Change {
    /// Money came in.
    Deposited {
        /// In cents.
        amount: u64,
    },
    /// Money went out.
    Withdrawn {
        /// In cents.
        amount: u64,
    },
    /// The first half of a transfer: money left this account.
    TransferDebited {
        /// The `Transfer` command's id.
        transfer_id: String,
        /// The account to credit.
        to: String,
        /// In cents.
        amount: u64,
    },
    /// The second half of a transfer: money arrived here.
    TransferCredited {
        /// The `Transfer` command's id.
        transfer_id: String,
        /// The debited account.
        from: String,
        /// In cents.
        amount: u64,
    },
}

impl Change {
    /// The signed effect on the balance, in cents.
    pub fn delta(&self) -> i128 {
        match self {
            Self::Deposited { amount } | Self::TransferCredited { amount, .. } => i128::from(*amount),
            Self::Withdrawn { amount } | Self::TransferDebited { amount, .. } => -i128::from(*amount),
        }
    }

    /// The other account of a transfer, if this is one.
    pub fn counterparty(&self) -> Option<&str> {
        match self {
            Self::TransferDebited { to, .. } => Some(to),
            Self::TransferCredited { from, .. } => Some(from),
            Self::Deposited { .. } | Self::Withdrawn { .. } => None,
        }
    }
}

/// An account's balance as the fold of its events: what a snapshot stores and a replay
/// rebuilds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// The `seq` of the last event applied (0: none).
    pub version: u64,
    /// In cents.
    pub balance: u64,
}

/// Why an event does not follow a [`Balance`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FoldError {
    /// The event is not the next one: `expected` was due, `found` came.
    #[error("event {found} out of order: event {expected} was due")]
    OutOfOrder {
        /// The `seq` due next.
        expected: u64,
        /// The event's `seq`.
        found: u64,
    },
    /// Applying the event would take the balance below zero or past `u64::MAX`.
    #[error("event {seq} would overdraw the account")]
    Overdrawn {
        /// The event's `seq`.
        seq: u64,
    },
    /// The event's recorded `balance` is not the fold's.
    #[error("event {seq} records balance {recorded}, but its events add up to {computed}")]
    Mismatch {
        /// The event's `seq`.
        seq: u64,
        /// What the fold computed.
        computed: u64,
        /// What the event says.
        recorded: u64,
    },
}

impl Balance {
    /// The balance after `change`, or `None` if it would be negative or overflow.
    pub fn after(&self, change: &Change) -> Option<u64> {
        u64::try_from(i128::from(self.balance) + change.delta()).ok()
    }

    /// Applies the next event: its `seq` must be `version + 1` and its recorded balance the
    /// one the fold computes.
    pub fn apply(&mut self, event: &AccountEvent) -> Result<(), FoldError> {
        if event.seq != self.version + 1 {
            return Err(FoldError::OutOfOrder {
                expected: self.version + 1,
                found: event.seq,
            });
        }
        let computed = self
            .after(&event.change)
            .ok_or(FoldError::Overdrawn { seq: event.seq })?;
        if computed != event.balance {
            return Err(FoldError::Mismatch {
                seq: event.seq,
                computed,
                recorded: event.balance,
            });
        }
        *self = Self {
            version: event.seq,
            balance: computed,
        };
        Ok(())
    }
}

/// An account's answer to a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandReply {
    /// Whether the command was carried out.
    pub accepted: bool,
    /// The account.
    pub account: String,
    /// The account's version after the command.
    pub version: u64,
    /// The balance after the command, in cents.
    pub balance: u64,
    /// Why a refused command was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, change: Change, balance: u64) -> AccountEvent {
        AccountEvent {
            account: "a-1".into(),
            seq,
            command_id: format!("c-{seq}"),
            change,
            balance,
        }
    }

    #[test]
    fn events_fold_in_order_and_refuse_gaps_overdrafts_and_wrong_balances() {
        let mut fold = Balance::default();
        fold.apply(&event(1, Change::Deposited { amount: 100 }, 100))
            .unwrap();
        fold.apply(&event(2, Change::Withdrawn { amount: 30 }, 70))
            .unwrap();
        assert_eq!(
            fold,
            Balance {
                version: 2,
                balance: 70
            }
        );
        let gap = fold.apply(&event(4, Change::Deposited { amount: 1 }, 71));
        assert_eq!(
            gap,
            Err(FoldError::OutOfOrder {
                expected: 3,
                found: 4
            })
        );
        let over = Change::Withdrawn { amount: 71 };
        assert_eq!(
            fold.apply(&event(3, over, 0)),
            Err(FoldError::Overdrawn { seq: 3 })
        );
        let wrong = fold.apply(&event(3, Change::Deposited { amount: 5 }, 80));
        assert!(matches!(wrong, Err(FoldError::Mismatch { computed: 75, .. })));
        assert_eq!(fold.version, 2, "a refused event changes nothing");
    }

    #[test]
    fn events_and_commands_have_a_stable_json_shape() {
        let change = Change::TransferDebited {
            transfer_id: "t-1".into(),
            to: "a-2".into(),
            amount: 5,
        };
        let json = serde_json::to_value(event(3, change, 10)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"account": "a-1", "seq": 3, "command_id": "c-3",
                "type": "TransferDebited", "transfer_id": "t-1", "to": "a-2", "amount": 5, "balance": 10})
        );
        let command: Command = serde_json::from_str(r#"{"type":"Withdraw","amount":7}"#).unwrap();
        assert_eq!(command, Command::Withdraw { amount: 7 });
        assert!(valid_name("acct_1-b") && !valid_name("a.b") && !valid_name(""));
    }
}
