//! The read side's shapes: the view `bank-projection` keeps per account and the answers
//! `bank-query` gives from it.

use serde::{Deserialize, Serialize};

use crate::{AccountEvent, Balance, Change, FoldError};

/// The answer to `GetBalance` (`bank.query.balance.<account>`), from the read model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    /// The account.
    pub account: String,
    /// The last event the read model applied (0: none yet).
    pub version: u64,
    /// In cents.
    pub balance: u64,
}

/// One line of an account's statement, as the read model keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The event's `seq`.
    pub seq: u64,
    /// `Deposited`, `Withdrawn`, `TransferDebited` or `TransferCredited`.
    pub kind: String,
    /// Signed, in cents: negative when money left.
    pub amount: i64,
    /// The balance after it.
    pub balance: u64,
    /// The other account of a transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<String>,
}

impl Transaction {
    /// The statement line of `event`.
    pub fn of(event: &AccountEvent) -> Self {
        let kind = match event.change {
            Change::Deposited { .. } => "Deposited",
            Change::Withdrawn { .. } => "Withdrawn",
            Change::TransferDebited { .. } => "TransferDebited",
            Change::TransferCredited { .. } => "TransferCredited",
        };
        Self {
            seq: event.seq,
            kind: kind.to_owned(),
            amount: i64::try_from(event.change.delta()).unwrap_or(i64::MAX),
            balance: event.balance,
            counterparty: event.change.counterparty().map(str::to_owned),
        }
    }
}

/// The bucket holding the read model: an [`AccountView`] per account id.
pub const READ_MODEL: &str = "bank-read-model";
/// How many transactions a view keeps.
pub const RECENT: usize = 20;

/// One account in the read model, as `bank-projection` builds it and `bank-query` reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// The account.
    pub account: String,
    /// The `seq` of the last event applied.
    pub version: u64,
    /// In cents.
    pub balance: u64,
    /// The last [`RECENT`] transactions, oldest first.
    pub transactions: Vec<Transaction>,
}

/// What applying an event to a view did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The view moved to the event's version.
    Updated,
    /// The view already had it.
    AlreadyApplied,
}

impl AccountView {
    /// Applies `event` if it is the next one, skips it if the view has it already, and
    /// refuses it if an event before it is missing ([`FoldError::OutOfOrder`]).
    pub fn apply(&mut self, event: &AccountEvent) -> Result<Applied, FoldError> {
        if event.seq <= self.version {
            return Ok(Applied::AlreadyApplied);
        }
        let mut fold = Balance {
            version: self.version,
            balance: self.balance,
        };
        fold.apply(event)?;
        self.account.clone_from(&event.account);
        self.version = fold.version;
        self.balance = fold.balance;
        self.transactions.push(Transaction::of(event));
        let excess = self.transactions.len().saturating_sub(RECENT);
        self.transactions.drain(..excess);
        Ok(Applied::Updated)
    }
}

/// The answer to `ListTransactions` (`bank.query.transactions.<account>`): newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionsView {
    /// The account.
    pub account: String,
    /// The account's most recent transactions, newest first.
    pub transactions: Vec<Transaction>,
}
