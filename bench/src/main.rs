//! `sluice-bench`: Sluice and its baselines measured in the same run on the same machine.
//!
//! Each scenario starts what it needs (a `nats-server` on loopback, a host in-process, a
//! native consumer, a Python consumer, a 3-node cluster with fleet hosts), is bounded in
//! events and time, and reports rows of the final table, which is printed and written to
//! `BENCHMARKS.md`.

mod baselines;
mod batch;
mod chart;
mod delayed;
mod fleet;
mod host_cost;
mod jetstream;
mod machine;
mod otlp_sink;
mod report;
mod scale;
mod scenarios;
mod schedules;
mod shipped;
mod trace_cost;
mod workload;

use std::path::PathBuf;

use clap::Parser;

/// The same allocator as the `sluice` binary, so the host measured here is the one users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Command-line settings.
#[derive(Debug, Parser)]
#[command(
    name = "sluice-bench",
    about = "Benchmarks Sluice against native and Python consumers"
)]
struct Args {
    /// Order events per throughput run.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Order events per JetStream throughput run (pre-published into a stream).
    #[arg(long, default_value_t = 50_000)]
    jetstream_events: usize,
    /// Tiny sizes, to check the benchmark still runs (CI).
    #[arg(long)]
    smoke: bool,
    /// Where to write the report (nothing is written in smoke mode unless given).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only these scenarios: host, throughput, batch, jetstream, latency, scale, concurrency,
    /// reload, schedules, delayed, tracing, fleet. Writes no report unless `--out` is given, so a partial run never replaces
    /// `BENCHMARKS.md`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The hosts under test log like `sluice up` when asked (`SLUICE_LOG=warn`); quiet otherwise.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let size = if args.smoke {
        workload::Size::smoke()
    } else {
        workload::Size::full(args.events, args.jetstream_events)
    };
    let machine = machine::describe();
    println!("{machine}");
    let mut report = report::Report::new(machine);
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|only| only == name);
    if wanted("host") {
        host_cost::run(&size, &mut report).await?;
    }
    if wanted("throughput") {
        scenarios::throughput(&size, &mut report).await?;
    }
    if wanted("batch") {
        batch::throughput(&size, &mut report).await?;
    }
    if wanted("jetstream") {
        jetstream::throughput(&size, &mut report).await?;
    }
    if wanted("latency") {
        scenarios::latency(&size, &mut report).await?;
    }
    if wanted("scale") {
        scale::run(&size, &mut report).await?;
    }
    if wanted("concurrency") {
        scenarios::concurrency(&size, &mut report).await?;
    }
    if wanted("reload") {
        scenarios::reload(&size, &mut report).await?;
    }
    if wanted("schedules") {
        schedules::lateness(&size, &mut report).await?;
    }
    if wanted("delayed") {
        delayed::lateness(&size, &mut report).await?;
        delayed::cost(&size, &mut report).await?;
    }
    if wanted("tracing") {
        trace_cost::cost(&size, &mut report).await?;
    }
    if wanted("fleet") {
        fleet::run(&size, &mut report).await?;
    }
    let out = args
        .out
        .or_else(|| (!args.smoke && args.only.is_empty()).then(|| PathBuf::from("BENCHMARKS.md")));
    if let Some(out) = out {
        report.write(&out)?;
        println!("wrote {}", out.display());
    }
    Ok(())
}
