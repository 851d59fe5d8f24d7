//! `orders-driver`: sends the order-processing workload to a running `sluice up` and prints
//! what happened. Exits 1 when an order was not totalled, packed and counted exactly once.

use std::time::Duration;

use clap::Parser;
use orders_driver::Workload;

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
    let report = orders_driver::run(&client, &workload).await?;
    println!("{report}");
    match report.check() {
        Ok(()) => {
            println!(
                "OK: every order was totalled exactly once, packed once and counted in one revenue batch"
            );
            Ok(())
        }
        Err(problem) => {
            eprintln!("FAILED: {problem}");
            std::process::exit(1);
        }
    }
}
