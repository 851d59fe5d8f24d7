//! `saga-driver`: places orders through the fulfilment saga running on `sluice up`, waits
//! until each ended (the payment timeout cancels those whose payment was dead-lettered),
//! replays the dead letters to show a late answer changes nothing, and prints the stock
//! table, the outcomes, the timings and three orders' traces. Exits 1 when an invariant is
//! broken.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use saga_driver::{Outcome, Report, Shop, Timing, catalogue, duplicates, observe, trace};
use saga_events::Order;

/// Drive the fulfilment saga.
#[derive(Parser)]
struct Args {
    /// The NATS server `sluice up` uses.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// How many orders to place.
    #[arg(long, default_value_t = 1000)]
    orders: usize,
    /// The run's id, the prefix of its order ids (default: `r` and the time).
    #[arg(long)]
    run: Option<String>,
    /// The `sluice` binary, for `sluice dlq replay`.
    #[arg(long, default_value = "sluice")]
    sluice: PathBuf,
    /// The functions folder the host runs (it names the dead-letter subject).
    #[arg(long, default_value = "functions")]
    functions: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let run = args.run.clone().unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        format!("r{}", now.as_secs())
    });
    let client = async_nats::connect(&args.nats)
        .await
        .with_context(|| format!("cannot connect to {}", args.nats))?;
    let mut shop = Shop::new(client);
    shop.wait_until_deployed(Duration::from_secs(60)).await?;
    shop.open().await?;

    let orders = catalogue::orders(&run, args.orders);
    println!(
        "run {run}: orders {run}-0000 to {run}-{:04}",
        orders.len().saturating_sub(1)
    );
    run_sagas(&args, &shop, &orders).await?;
    report(&shop, &run, &orders).await
}

/// Places `orders`, waits until each saga ended, then replays the payments dead-lettered.
async fn run_sagas(args: &Args, shop: &Shop, orders: &[Order]) -> anyhow::Result<()> {
    let placed = shop.place(orders).await?;
    println!(
        "placed {} orders; {} re-sent with the same id, {} of them dropped by the stream; {} re-submitted under a new id",
        placed.orders, placed.resent.0, placed.resent.1, placed.resubmitted
    );
    let mut progress = shop
        .wait_until_ended(orders.len(), Duration::from_secs(300))
        .await?;
    println!(
        "{} orders ended, each e-mailed; {} payments were dead-lettered after 3 attempts (gateway unavailable)",
        progress.emailed, progress.dead_lettered
    );
    for _ in 0..3 {
        if progress.dead_lettered == 0 {
            break;
        }
        println!(
            "replaying the dead-lettered payments, as an operator would once the gateway is back (late answers):"
        );
        replay(args)?;
        shop.wait_until_idle(Duration::from_secs(60)).await?;
        progress = shop.progress().await?;
    }
    Ok(())
}

/// Sends copies of the saga's events, then prints the stock table, the outcomes, the
/// timings and three traces; fails when an invariant is broken.
async fn report(shop: &Shop, run: &str, orders: &[Order]) -> anyhow::Result<()> {
    let js = shop.jetstream().clone();
    let copies = duplicates::send_copies(&js, &observe(&js, run).await?.events, 10).await?;
    shop.wait_until_idle(Duration::from_secs(60)).await?;
    println!(
        "re-sent {copies} of the saga's own events under new ids (redeliveries after the dedupe window)\n"
    );

    let observed = observe(&js, run).await?;
    let report = Report::new(orders, &observed);
    print!("{report}");
    print!("{}", Timing::new(&observed, &report));
    for (outcome, order) in traced(&report) {
        println!("\ntrace of order {order} ({outcome:?}), by its correlation id:");
        print!("{}", trace::render(&trace::trace(&observed, order)));
    }
    if !report.violations.is_empty() {
        bail!("{} invariants broken", report.violations.len());
    }
    Ok(())
}

/// One order of each ending to trace: shipped, declined and timed out (preferably one whose
/// late charge was refunded: it shows the whole race).
fn traced(report: &Report) -> Vec<(Outcome, &str)> {
    let ended = |outcome: &Outcome, order: &str| report.outcomes[order].first() == Some(outcome);
    let refunded = |order: &str| report.charges.refunded.contains(order);
    let mut traced = Vec::new();
    let cancelled = |reason: &str| Outcome::Cancelled(reason.into());
    for outcome in [
        Outcome::Shipped,
        cancelled("payment_declined"),
        cancelled("payment_timeout"),
    ] {
        let mut orders = report
            .outcomes
            .keys()
            .map(String::as_str)
            .filter(|o| ended(&outcome, o));
        let first = orders.clone().next();
        if let Some(order) = orders.find(|o| refunded(o)).or(first) {
            traced.push((outcome, order));
        }
    }
    traced
}

/// `sluice dlq replay saga-payment`, as an operator would run it once the gateway is back.
fn replay(args: &Args) -> anyhow::Result<()> {
    let status = Command::new(&args.sluice)
        .args([
            "dlq",
            "replay",
            "saga-payment",
            "--nats",
            &args.nats,
            "--functions",
        ])
        .arg(&args.functions)
        .env("SLUICE_LOG", "warn")
        .status()
        .with_context(|| format!("cannot run {}", args.sluice.display()))?;
    if !status.success() {
        bail!("sluice dlq replay saga-payment failed: {status}");
    }
    Ok(())
}
