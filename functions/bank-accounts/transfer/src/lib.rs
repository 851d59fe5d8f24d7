//! `bank-transfer`: the transfer saga of the bank example.
//!
//! A transfer touches two accounts, and per-key ordering serialises one key at a time, so a
//! transfer is two local steps: `bank-account` debits the source under the source's key and
//! appends `TransferDebited`; this function, reading the event store at least once, sends the
//! target a `CreditTransfer` command, which `bank-account` applies under the target's key
//! and records as `TransferCredited`. Each account stays consistent on its own; between the
//! two steps the money is in flight (debited, not yet credited), and it always arrives:
//! crediting cannot be refused, and a credit that got no answer is sent again with the same
//! command id (`<transfer id>-credit`), which the account carries out once.
//!
//! Every other event is acknowledged untouched.

use std::time::Duration;

use bank_ledger::{AccountEvent, Change, Command, CommandReply, commands_subject};
use sluice_sdk::{Error, Event, Handler};

/// How long to wait for the target account's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// The handler.
pub struct Transfer;

impl Handler for Transfer {
    fn handle(event: Event) -> Result<(), Error> {
        let debited: AccountEvent = event.json()?;
        let Some(Credit { to, id, command }) = credit_for(&debited) else {
            return Ok(());
        };
        let headers = [("Sluice-Event-Id", id.as_str())];
        let payload = serde_json::to_vec(&command)?;
        let reply =
            sluice_sdk::request_with_headers(&commands_subject(&to), payload, &headers, ANSWER_WITHIN)?;
        let answer: CommandReply = reply.json()?;
        match answer.accepted {
            true => Ok(()),
            false => Err(Error::retryable(format!(
                "account {to} refused the credit of transfer {}: {}",
                debited.command_id,
                answer.reason.unwrap_or_default()
            ))),
        }
    }
}

sluice_sdk::export!(Transfer);

/// The second step of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    /// The account credited.
    pub to: String,
    /// The command's id: the same for every attempt, so the account credits once.
    pub id: String,
    /// The `CreditTransfer` command.
    pub command: Command,
}

/// The credit that completes the transfer `event` debited, or `None` when `event` is not a
/// debit.
pub fn credit_for(event: &AccountEvent) -> Option<Credit> {
    let Change::TransferDebited {
        transfer_id,
        to,
        amount,
    } = &event.change
    else {
        return None;
    };
    let command = Command::CreditTransfer {
        transfer_id: transfer_id.clone(),
        from: event.account.clone(),
        amount: *amount,
    };
    Some(Credit {
        to: to.clone(),
        id: format!("{transfer_id}-credit"),
        command,
    })
}

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::TestHost;

    use super::*;

    fn debit() -> AccountEvent {
        AccountEvent {
            account: "a-1".into(),
            seq: 4,
            command_id: "t-9".into(),
            change: Change::TransferDebited {
                transfer_id: "t-9".into(),
                to: "a-2".into(),
                amount: 30,
            },
            balance: 70,
        }
    }

    #[test]
    fn a_debit_sends_the_target_one_credit_with_a_stable_command_id() {
        let host = TestHost::new().allow_request("bank.commands.*").answer(
            "bank.commands.a-2",
            r#"{"accepted":true,"account":"a-2","version":1,"balance":30}"#,
        );
        let payload = serde_json::to_vec(&debit()).unwrap();
        let outcome = host.run::<Transfer>(Event::new("BANK_EVENTS:4", "bank.events.a-1", payload));
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        let [request] = &outcome.requests[..] else {
            panic!("one request: {:?}", outcome.requests)
        };
        assert_eq!(request.subject, "bank.commands.a-2");
        assert!(
            request
                .headers
                .contains(&("Sluice-Event-Id".into(), "t-9-credit".into()))
        );
        let command: Command = request.json();
        assert_eq!(
            command,
            Command::CreditTransfer {
                transfer_id: "t-9".into(),
                from: "a-1".into(),
                amount: 30
            }
        );
    }

    #[test]
    fn a_credit_without_an_answer_is_retried_and_other_events_are_ignored() {
        let host = TestHost::new().time_out("bank.commands.a-2");
        let payload = serde_json::to_vec(&debit()).unwrap();
        let outcome = host.run::<Transfer>(Event::new("e", "bank.events.a-1", payload));
        assert!(outcome.result.unwrap_err().is_retryable());

        let deposit = AccountEvent {
            change: Change::Deposited { amount: 5 },
            ..debit()
        };
        let outcome = host.run::<Transfer>(Event::new(
            "e",
            "bank.events.a-1",
            serde_json::to_vec(&deposit).unwrap(),
        ));
        assert!(outcome.result.is_ok() && outcome.requests.is_empty());
    }
}
