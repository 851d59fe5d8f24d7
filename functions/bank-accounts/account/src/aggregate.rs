//! The account's decisions, free of any I/O: what a command does to an account's state.

use bank_ledger::{AccountEvent, Balance, Change, Command, CommandReply, valid_name};
use serde::{Deserialize, Serialize};

/// An account's running state, kept in bucket `bank-accounts` under the account id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountState {
    /// Version (the last event's `seq`) and balance.
    #[serde(flatten)]
    pub balance: Balance,
    /// The last event, so a command that committed but failed before it was recorded is
    /// recognised when it is tried again.
    pub last_event: Option<AccountEvent>,
    /// Set when this state was rebuilt from a snapshot and the event store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilt_from: Option<Rebuilt>,
}

/// Where a rebuilt state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rebuilt {
    /// The version of the snapshot it started from (0: no snapshot, every event replayed).
    pub snapshot_version: u64,
    /// How many events after the snapshot it applied.
    pub events_replayed: u64,
}

impl AccountState {
    /// Applies an event [`decide`] produced for this state.
    pub fn append(&mut self, event: AccountEvent) {
        self.balance = Balance {
            version: event.seq,
            balance: event.balance,
        };
        self.last_event = Some(event);
    }
}

/// What a command came to: the reply, and the event it appended if it was accepted. Kept in
/// bucket `bank-commands` so a command sent again gets the same outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The answer to the sender.
    pub reply: CommandReply,
    /// The event appended.
    pub event: Option<AccountEvent>,
}

impl Outcome {
    /// A command that appended `event`.
    pub fn accepted(event: AccountEvent) -> Self {
        let reply = CommandReply {
            accepted: true,
            account: event.account.clone(),
            version: event.seq,
            balance: event.balance,
            reason: None,
        };
        Self {
            reply,
            event: Some(event),
        }
    }

    /// A command refused for `reason`; the account stays at `state`.
    pub fn refused(account: &str, state: &Balance, reason: String) -> Self {
        let reply = CommandReply {
            accepted: false,
            account: account.to_owned(),
            version: state.version,
            balance: state.balance,
            reason: Some(reason),
        };
        Self { reply, event: None }
    }
}

/// Decides command `command_id` against `state`: the event it appends, or why it is refused
/// (a malformed command, a zero amount, an overdraft, a transfer to the account itself).
pub fn decide(
    account: &str,
    state: &Balance,
    command_id: &str,
    command: Result<Command, String>,
) -> Result<AccountEvent, String> {
    let change = change_of(account, command_id, command?)?;
    let Some(balance) = state.after(&change) else {
        return Err(match change.delta() < 0 {
            true => format!(
                "insufficient funds: balance {}, {} requested",
                state.balance,
                change.delta().unsigned_abs()
            ),
            false => "the balance would overflow".to_owned(),
        });
    };
    Ok(AccountEvent {
        account: account.to_owned(),
        seq: state.version + 1,
        command_id: command_id.to_owned(),
        change,
        balance,
    })
}

fn change_of(account: &str, command_id: &str, command: Command) -> Result<Change, String> {
    let positive = |amount: u64| match amount {
        0 => Err("the amount must be positive".to_owned()),
        _ => Ok(amount),
    };
    Ok(match command {
        Command::Deposit { amount } => Change::Deposited {
            amount: positive(amount)?,
        },
        Command::Withdraw { amount } => Change::Withdrawn {
            amount: positive(amount)?,
        },
        Command::Transfer { to, amount } => {
            if to == account {
                return Err("cannot transfer to the same account".to_owned());
            }
            if !valid_name(&to) {
                return Err(format!("{to:?} is not an account id"));
            }
            Change::TransferDebited {
                transfer_id: command_id.to_owned(),
                to,
                amount: positive(amount)?,
            }
        }
        Command::CreditTransfer {
            transfer_id,
            from,
            amount,
        } => Change::TransferCredited {
            transfer_id,
            from,
            amount,
        },
    })
}
