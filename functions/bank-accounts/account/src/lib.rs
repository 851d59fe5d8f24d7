//! `bank-account`: the account aggregate of the bank example (event sourcing, write side).
//!
//! Commands (`Deposit`, `Withdraw`, `Transfer`, and `CreditTransfer` from `bank-transfer`)
//! arrive as NATS requests on `bank.commands.<account>`. The manifest orders them per key
//! (the account, subject token 3), so one account's commands run one at a time. For each,
//! the aggregate loads its running state (version and balance) from key-value, decides,
//! commits the new state with compare-and-swap, appends the event to
//! `bank.events.<account>` (the `BANK_EVENTS` stream) and replies. An overdraft is refused
//! with a reply and no event.
//!
//! Every [`SNAPSHOT_EVERY`](bank_ledger::SNAPSHOT_EVERY) events it snapshots itself. When
//! the running state is missing (an account idle past the bucket's TTL, a lost bucket), it
//! rebuilds from the snapshot plus the events after it, read back from the stream.
//!
//! A command's id is its event id (`Sluice-Event-Id`): a command sent again with the same id
//! gets the same reply and appends nothing new (see [`execute`]).

pub mod aggregate;
pub mod event_store;
pub mod repository;

use bank_ledger::{Command, events_subject, valid_command_id, valid_name};
use sluice_sdk::{Error, Event, Handler};

pub use aggregate::{AccountState, Outcome, decide};

/// The handler.
pub struct Account;

impl Handler for Account {
    fn handle(event: Event) -> Result<(), Error> {
        let account = account_of(event.subject())?;
        let command = parse(&event);
        let outcome = execute(&account, event.id(), command)?;
        if let Some(appended) = &outcome.event {
            sluice_sdk::publish_json(&events_subject(&account), appended)?;
        }
        if let Some(reply_to) = event.reply_to() {
            sluice_sdk::publish_json(reply_to, &outcome.reply)?;
        }
        Ok(())
    }
}

sluice_sdk::export!(Account);

/// The account a command is for: the third token of `bank.commands.<account>`.
pub fn account_of(subject: &str) -> Result<String, Error> {
    match subject.split('.').nth(2) {
        Some(account) if valid_name(account) => Ok(account.to_owned()),
        _ => Err(Error::permanent(format!(
            "`{subject}` is not `bank.commands.<account>` with an account of letters, digits, `-` and `_`"
        ))),
    }
}

/// The command an event carries, or why it carries none: a malformed command is refused with
/// a reply like an overdraft, not dead-lettered, so its sender learns why.
fn parse(event: &Event) -> Result<Command, String> {
    if !valid_command_id(event.id()) {
        return Err(format!(
            "command id {:?} is not 1 to 128 letters, digits, `-`, `_` or `=`",
            event.id()
        ));
    }
    event
        .json::<Command>()
        .map_err(|error| error.message().to_owned())
}

/// Carries out command `command_id` on `account`, once, whatever the retries.
///
/// Key-value writes are not rolled back when an attempt fails, so each step is safe to
/// repeat: a command already recorded in `bank-commands` returns its recorded outcome (same
/// reply, same event, which the stream drops as a duplicate); a command that committed the
/// account's state but failed before it was recorded is recognised as the state's last
/// event; a commit that lost a race (`conflict`) is retried with the newer state.
pub fn execute(account: &str, command_id: &str, command: Result<Command, String>) -> Result<Outcome, Error> {
    if let Some(done) = repository::recorded(account, command_id)? {
        return Ok(done);
    }
    let (mut state, revision) = repository::load(account)?;
    let outcome = match state.last_event.as_ref() {
        Some(last) if last.command_id == command_id => Outcome::accepted(last.clone()),
        _ => match decide(account, &state.balance, command_id, command) {
            Ok(event) => {
                state.append(event.clone());
                repository::commit(account, &state, revision)?;
                Outcome::accepted(event)
            }
            Err(reason) => Outcome::refused(account, &state.balance, reason),
        },
    };
    repository::snapshot_if_due(account, &state)?;
    repository::record(account, command_id, &outcome)?;
    Ok(outcome)
}

#[cfg(test)]
mod tests;
