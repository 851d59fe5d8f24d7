//! `bank-driver`: the client side of the bank example. Sends a burst of concurrent commands
//! to the accounts of a running host, waits for the read model to catch up, and prints the
//! balances and the latest transactions, as `bank-query` answers them.
//!
//! ```sh
//! bank-driver --nats nats://127.0.0.1:4222 --commands 2000
//! ```

mod client;
mod workload;

use std::time::{Duration, Instant};

use anyhow::Context;
use bank_ledger::BalanceView;
use clap::Parser;

use crate::client::Bank;
use crate::workload::{Tally, Workload};

/// Flags.
#[derive(Parser)]
#[command(about = "Drives the bank accounts example against a running `sluice up`")]
struct Args {
    /// The NATS server the host uses.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Commands to send after the opening deposits.
    #[arg(long, default_value_t = 2000)]
    commands: usize,
    /// Commands in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Transactions to list per account.
    #[arg(long, default_value_t = 5)]
    show: usize,
}

/// The accounts the example moves money between.
const ACCOUNTS: [&str; 4] = ["alice", "bob", "carol", "dave"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bank = Bank::connect(&args.nats).await?;
    bank.wait_until_ready(Duration::from_secs(60)).await?;
    let before = bank.views(&ACCOUNTS).await?;

    let workload = Workload::new(&ACCOUNTS, args.commands);
    println!(
        "sending {} commands ({} opening deposits), {} at a time, to {} accounts",
        workload.len(),
        ACCOUNTS.len(),
        args.concurrency,
        ACCOUNTS.len()
    );
    let total = workload.len();
    let started = Instant::now();
    let (opening, burst) = workload.split(ACCOUNTS.len());
    let mut tally = Tally::default();
    bank.send_all(opening, 1, &mut tally).await?;
    bank.send_all(burst, args.concurrency, &mut tally).await?;
    let elapsed = started.elapsed();
    println!(
        "{} accepted, {} refused ({} overdrafts) in {:.2} s: {:.0} commands/s",
        tally.accepted,
        tally.refused,
        tally.overdrafts,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );

    let expected = u64::try_from(i128::from(sum(&before, |v| v.balance)) + tally.net_deposits)
        .context("the bank's money went negative")?;
    let views = bank
        .settled(&ACCOUNTS, expected, Duration::from_secs(30))
        .await
        .context("the read model did not catch up: see the host's log")?;
    let events = sum(&views, |v| v.version) - sum(&before, |v| v.version);
    let caught_up = started.elapsed();
    println!(
        "{events} events appended to BANK_EVENTS; the read model had them all {:.2} s after the first command: {:.0} events/s",
        caught_up.as_secs_f64(),
        events as f64 / caught_up.as_secs_f64()
    );
    print_read_model(&bank, &views, expected, args.show).await
}

/// Prints the balances and each account's latest `show` transactions, as `bank-query`
/// answers them.
async fn print_read_model(
    bank: &Bank,
    views: &[BalanceView],
    expected: u64,
    show: usize,
) -> anyhow::Result<()> {
    println!("\n{:<8} {:>12} {:>8}", "account", "balance", "events");
    for view in views {
        println!(
            "{:<8} {:>12} {:>8}",
            view.account,
            cents(view.balance),
            view.version
        );
    }
    println!(
        "{:<8} {:>12}   (every transfer credited: money is conserved)",
        "total",
        cents(expected)
    );
    for account in ACCOUNTS {
        println!("\nlatest transactions of {account}:");
        for tx in bank.transactions(account, show).await? {
            let with = tx.counterparty.map(|c| format!(" ({c})")).unwrap_or_default();
            println!(
                "  #{:<5} {:<17} {:>10}  -> {:>10}{with}",
                tx.seq,
                tx.kind,
                signed_cents(tx.amount),
                cents(tx.balance)
            );
        }
    }
    Ok(())
}

fn sum(views: &[BalanceView], field: impl Fn(&BalanceView) -> u64) -> u64 {
    views.iter().map(field).sum()
}

fn cents(value: u64) -> String {
    format!("{}.{:02}", value / 100, value % 100)
}

fn signed_cents(value: i64) -> String {
    let sign = if value < 0 { "-" } else { "+" };
    format!("{sign}{}", cents(value.unsigned_abs()))
}
