//! `orders-driver`: sends the order-processing workload to a running `sluice up`, prints what
//! happened, then waits for the scheduled revenue report that counts every order. Exits 1
//! when an order was not totalled, packed and counted exactly once, or no report matched.

use std::time::Duration;

use clap::Parser;
use orders_driver::Workload;
use orders_driver::revenue::{self, Revenue};

/// Command-line settings.
#[derive(Debug, Parser)]
#[command(
    name = "orders-driver",
    about = "Sends orders (10 % twice) and checks each was totalled exactly once"
)]
struct Args {
    /// The NATS server `sluice up` uses.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// How many distinct orders to send.
    #[arg(long, default_value_t = 10_000)]
    orders: usize,
    /// Send every N-th order twice (10 = 10 % duplicates).
    #[arg(long, default_value_t = 10)]
    duplicate_every: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Wait this many seconds for a revenue report that counts every order (revenue-report
    /// fires every 5 s in the demo).
    #[arg(long, default_value_t = 30)]
    report_timeout: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = async_nats::connect(&args.nats).await?;
    let workload = Workload {
        orders: args.orders,
        duplicate_every: args.duplicate_every,
        timeout: Duration::from_secs(args.timeout),
        ..Workload::default()
    };
    println!("waiting for the order-processing functions on {} ...", args.nats);
    let js = async_nats::jetstream::new(client.clone());
    let before = revenue::recorded(&js, workload.timeout).await?;
    let report = orders_driver::run(&client, &workload).await?;
    println!("{report}");
    let sent = Revenue {
        orders: report.orders as u64,
        revenue: report.expected_revenue,
    };
    let wait =
        revenue::wait_for_report(&client, before, sent, Duration::from_secs(args.report_timeout)).await?;
    println!("{wait}");
    let problem = match (report.check(), &wait.matching) {
        (Err(problem), _) => problem,
        (Ok(()), None) => "no revenue report counted every order in time".to_owned(),
        (Ok(()), Some(_)) => {
            println!(
                "OK: every order was totalled exactly once, packed once, counted in one revenue batch and in the scheduled revenue report"
            );
            return Ok(());
        }
    };
    eprintln!("FAILED: {problem}");
    std::process::exit(1);
}
