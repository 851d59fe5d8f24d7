//! `saga-driver`: places orders through the fulfilment saga running on `sluice up`, replays
//! the payments that were dead-lettered, and prints the stock table, the outcomes and one
//! order's trace. Exits 1 when an invariant is broken.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use saga_driver::shop::{FUNCTIONS, stream_of};
use saga_driver::{Outcome, Report, Shop, catalogue, duplicates, observe, trace};
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
    let elapsed = run_sagas(&args, &shop, &orders).await?;
    report(&shop, &run, &orders, elapsed).await
}

/// Places `orders` and waits until each saga ended, replaying the payments dead-lettered;
/// returns how long that took.
async fn run_sagas(args: &Args, shop: &Shop, orders: &[Order]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let placed = shop.place(orders).await?;
    println!(
        "placed {} orders; {} re-sent with the same id, {} of them dropped by the stream; {} re-submitted under a new id",
        placed.orders, placed.resent.0, placed.resent.1, placed.resubmitted
    );
    let mut progress = shop
        .wait_until_ended(orders.len(), Duration::from_secs(300))
        .await?;
    for _ in 0..3 {
        if progress.dead_lettered == 0 {
            break;
        }
        println!(
            "{} orders e-mailed; {} payments dead-lettered after 3 attempts (gateway unavailable), their stock still reserved. Replaying them:",
            progress.emailed, progress.dead_lettered
        );
        replay(args)?;
        progress = shop
            .wait_until_ended(orders.len(), Duration::from_secs(300))
            .await?;
    }
    Ok(started.elapsed())
}

/// Sends copies of the saga's events, then prints the stock table, the outcomes, the
/// throughput and two traces; fails when an invariant is broken.
async fn report(shop: &Shop, run: &str, orders: &[Order], elapsed: Duration) -> anyhow::Result<()> {
    let js = shop.jetstream().clone();
    let copies = duplicates::send_copies(&js, &observe(&js, run).await?.events, 10).await?;
    shop.wait_until_idle(Duration::from_secs(60)).await?;
    println!(
        "re-sent {copies} of the saga's own events under new ids (redeliveries after the dedupe window)\n"
    );

    let observed = observe(&js, run).await?;
    let report = Report::new(orders, &observed);
    print!("{report}");
    let streams: Vec<String> = FUNCTIONS.iter().map(|f| stream_of(f)).collect();
    let handled = observed
        .events
        .iter()
        .filter(|seen| streams.contains(&seen.stream) && !seen.is_copy())
        .count();
    println!(
        "{handled} events through the saga's functions in {:.1}s: {:.0} events/s, {:.0} orders/s",
        elapsed.as_secs_f64(),
        handled as f64 / elapsed.as_secs_f64(),
        orders.len() as f64 / elapsed.as_secs_f64()
    );
    for wanted in [Outcome::Shipped, Outcome::Cancelled("payment_declined".into())] {
        if let Some((order, _)) = report.outcomes.iter().find(|(_, o)| o.first() == Some(&wanted)) {
            println!("\ntrace of order {order} ({wanted:?}), by its correlation id:");
            print!("{}", trace::render(&trace::trace(&observed, order)));
        }
    }
    if !report.violations.is_empty() {
        bail!("{} invariants broken", report.violations.len());
    }
    Ok(())
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
