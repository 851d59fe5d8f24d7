//! The bank as a client sees it: commands and queries by NATS request/reply.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bank_ledger::{BalanceView, CommandReply, EVENT_STREAM, Transaction, TransactionsView, commands_subject};
use futures::StreamExt;

use crate::workload::{Send, Tally};

/// How long one command or query may wait for its answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// How many times a command that got no answer is sent again (with the same id).
const SENDS: u32 = 3;

/// A connection to the bank.
pub struct Bank {
    client: async_nats::Client,
}

impl Bank {
    /// Connects to the NATS server at `url`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .request_timeout(Some(ANSWER_WITHIN))
            .connect(url)
            .await
            .with_context(|| format!("cannot connect to NATS at {url}"))?;
        Ok(Self { client })
    }

    /// Waits until the host has deployed the bank: the event store and the saga's consumer
    /// exist, and queries are answered.
    pub async fn wait_until_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let js = async_nats::jetstream::new(self.client.clone());
        let deadline = Instant::now() + timeout;
        loop {
            let consumer = js
                .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
                    "bank-transfer",
                    EVENT_STREAM,
                )
                .await;
            if consumer.is_ok() && self.balance("alice").await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the bank functions are not deployed after {timeout:?}: is `sluice up` running with them?"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends `commands`, `concurrency` at a time, and counts the replies into `tally`.
    pub async fn send_all(
        &self,
        commands: Vec<Send>,
        concurrency: usize,
        tally: &mut Tally,
    ) -> anyhow::Result<()> {
        let mut replies = futures::stream::iter(commands)
            .map(|send| async move {
                let reply = self.command(&send).await;
                (send, reply)
            })
            .buffer_unordered(concurrency);
        while let Some((send, reply)) = replies.next().await {
            tally.add(&send.command, &reply?);
        }
        Ok(())
    }

    /// Sends one command, again with the same id when no answer comes.
    async fn command(&self, send: &Send) -> anyhow::Result<CommandReply> {
        let payload = serde_json::to_vec(&send.command)?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Sluice-Event-Id", send.id.as_str());
        let subject = commands_subject(&send.account);
        let mut last_error = None;
        for _ in 0..SENDS {
            let request = async_nats::Request::new()
                .payload(payload.clone().into())
                .headers(headers.clone());
            match self.client.send_request(subject.clone(), request).await {
                Ok(answer) => return serde_json::from_slice(&answer.payload).context("a malformed reply"),
                Err(error) => last_error = Some(error),
            }
        }
        let error = last_error.expect("at least one send");
        Err(error).with_context(|| format!("command {} to {subject} got no answer", send.id))
    }

    /// `GetBalance` of `account`.
    pub async fn balance(&self, account: &str) -> anyhow::Result<BalanceView> {
        let subject = format!("bank.query.balance.{account}");
        let answer = self.client.request(subject, "".into()).await?;
        Ok(serde_json::from_slice(&answer.payload)?)
    }

    /// `ListTransactions` of `account`, the newest `limit`.
    pub async fn transactions(&self, account: &str, limit: usize) -> anyhow::Result<Vec<Transaction>> {
        let subject = format!("bank.query.transactions.{account}");
        let payload = serde_json::json!({ "limit": limit }).to_string();
        let answer = self.client.request(subject, payload.into()).await?;
        let view: TransactionsView = serde_json::from_slice(&answer.payload)?;
        Ok(view.transactions)
    }

    /// `GetBalance` of each of `accounts`.
    pub async fn views(&self, accounts: &[&str]) -> anyhow::Result<Vec<BalanceView>> {
        let mut views = Vec::with_capacity(accounts.len());
        for account in accounts {
            views.push(self.balance(account).await?);
        }
        Ok(views)
    }

    /// The balances of `accounts` once the read model adds up to `expected` (every transfer
    /// credited) and stopped moving.
    pub async fn settled(
        &self,
        accounts: &[&str],
        expected: u64,
        timeout: Duration,
    ) -> anyhow::Result<Vec<BalanceView>> {
        let deadline = Instant::now() + timeout;
        let mut previous = Vec::new();
        loop {
            let views = self.views(accounts).await?;
            let total: u64 = views.iter().map(|view| view.balance).sum();
            if total == expected && views == previous {
                return Ok(views);
            }
            if Instant::now() > deadline {
                bail!("after {timeout:?} the read model holds {total}, expected {expected}");
            }
            previous = views;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
