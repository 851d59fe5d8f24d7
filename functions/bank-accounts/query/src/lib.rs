//! `bank-query`: the query side of the bank example. Answers, by request/reply, from the read
//! model `bank-projection` builds (never from the write side):
//!
//! - `GetBalance`: a request to `bank.query.balance.<account>` (any payload) gets a
//!   `BalanceView` (`{"account","version","balance"}`);
//! - `ListTransactions`: a request to `bank.query.transactions.<account>`, payload
//!   `{"limit": N}` or empty for 10, gets a `TransactionsView`, newest first.
//!
//! An account the read model does not know is at version 0 with balance 0. The read model is
//! eventually consistent: it may lag the account by the events still in flight, and the
//! version says how far it is.

use bank_ledger::{AccountView, BalanceView, READ_MODEL, TransactionsView, valid_name};
use serde::Deserialize;
use sluice_sdk::{Error, Event, Handler, kv};

/// Transactions listed when the request names no limit.
pub const DEFAULT_LIMIT: usize = 10;

/// A `ListTransactions` request's payload.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListTransactions {
    limit: Option<usize>,
}

/// The handler.
pub struct Query;

impl Handler for Query {
    fn handle(event: Event) -> Result<(), Error> {
        let Some(reply_to) = event.reply_to() else {
            return Err(Error::permanent(format!(
                "a query needs a reply subject: send it to {} as a request",
                event.subject()
            )));
        };
        let (kind, account) = parse_subject(event.subject())?;
        let view = kv::get_json::<AccountView>(READ_MODEL, account)?.unwrap_or_default();
        match kind {
            "balance" => sluice_sdk::publish_json(reply_to, &balance(account, &view)),
            _ => {
                let request = match event.payload() {
                    [] => ListTransactions::default(),
                    _ => event.json::<ListTransactions>()?,
                };
                let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
                sluice_sdk::publish_json(reply_to, &transactions(account, view, limit))
            }
        }
    }
}

sluice_sdk::export!(Query);

/// `("balance" | "transactions", account)` from `bank.query.<kind>.<account>`.
fn parse_subject(subject: &str) -> Result<(&str, &str), Error> {
    let tokens: Vec<&str> = subject.split('.').collect();
    match tokens[..] {
        ["bank", "query", kind @ ("balance" | "transactions"), account] if valid_name(account) => {
            Ok((kind, account))
        }
        _ => Err(Error::permanent(format!(
            "`{subject}` is not bank.query.balance.<account> or bank.query.transactions.<account>"
        ))),
    }
}

/// The `GetBalance` answer.
pub fn balance(account: &str, view: &AccountView) -> BalanceView {
    BalanceView {
        account: account.to_owned(),
        version: view.version,
        balance: view.balance,
    }
}

/// The `ListTransactions` answer: the newest `limit` transactions first.
pub fn transactions(account: &str, view: AccountView, limit: usize) -> TransactionsView {
    TransactionsView {
        account: account.to_owned(),
        transactions: view.transactions.into_iter().rev().take(limit).collect(),
    }
}

#[cfg(test)]
mod tests {
    use bank_ledger::Transaction;
    use sluice_sdk::testing::TestHost;

    use super::*;

    fn host() -> TestHost {
        let view = AccountView {
            account: "a-1".into(),
            version: 2,
            balance: 70,
            transactions: (1..=2)
                .map(|seq| Transaction {
                    seq,
                    kind: "Deposited".into(),
                    amount: 35,
                    balance: 35 * seq,
                    counterparty: None,
                })
                .collect(),
        };
        TestHost::new()
            .allow_bucket(READ_MODEL)
            .allow_publish("nowhere")
            .with_value(READ_MODEL, "a-1", serde_json::to_vec(&view).unwrap())
    }

    fn ask(host: &TestHost, subject: &str, payload: &str) -> serde_json::Value {
        let event = Event::new("q", subject, payload).with_reply_to("_INBOX.q");
        let outcome = host.run::<Query>(event);
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        assert_eq!(outcome.published[0].subject, "_INBOX.q");
        outcome.published[0].json()
    }

    #[test]
    fn answers_balances_and_transactions_newest_first_from_the_read_model() {
        let host = host();
        let balance = ask(&host, "bank.query.balance.a-1", "");
        assert_eq!(
            balance,
            serde_json::json!({"account": "a-1", "version": 2, "balance": 70})
        );
        let listed = ask(&host, "bank.query.transactions.a-1", r#"{"limit":1}"#);
        assert_eq!(listed["transactions"][0]["seq"], 2);
        assert_eq!(listed["transactions"].as_array().unwrap().len(), 1);
        let unknown = ask(&host, "bank.query.balance.nobody", "");
        assert_eq!(unknown["version"], 0);
    }

    #[test]
    fn a_query_without_a_reply_subject_is_refused() {
        let outcome = host().run::<Query>(Event::new("q", "bank.query.balance.a-1", ""));
        let error = outcome.result.unwrap_err();
        assert!(!error.is_retryable() && error.message().contains("as a request"));
    }
}
