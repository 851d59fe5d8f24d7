//! Scenario 5: the same load on one function and spread over fifty, in-process and in the
//! shipped `sluice up` process.

use sluice_runtime::{Runtime, RuntimeConfig};
use sluice_tests::{FunctionsDir, NatsServer};

use crate::report::Report;
use crate::scenarios::drive_on;
use crate::shipped::ShippedHost;
use crate::workload::Size;

/// Scenario 5: the same load on 1 function and spread over 50 functions on distinct
/// subjects, in-process and in the shipped `sluice up` process (order-total's shipped
/// manifest, default log level); events/s against one function, and the host's resident
/// memory (and CPU per event for the shipped process).
pub async fn run(size: &Size, report: &mut Report) -> anyhow::Result<()> {
    let n = size.events / 2;
    let mut one = None;
    for functions in [1usize, 50] {
        let server = NatsServer::start();
        let dir = FunctionsDir::new();
        let subjects: Vec<String> = (0..functions).map(|i| format!("orders.placed.{i}")).collect();
        for (i, subject) in subjects.iter().enumerate() {
            let manifest = format!(
                "[trigger]\nsubjects = [\"{subject}\"]\n[limits]\nmax_pending = {}\n[permissions]\npublish = [\"orders.totalled\"]\n",
                size.events + 1
            );
            dir.add(&format!("order-total-{i}"), "order-total", &manifest);
        }
        let runtime = Runtime::start(RuntimeConfig::new(dir.path(), server.url())).await?;
        let (rate, received) = drive_on(&server, &subjects, n, size.timeout).await?;
        let rss = crate::machine::rss_mib();
        runtime.shutdown().await;
        let against = *one.get_or_insert(rate);
        report.add(
            "scale",
            &format!("{functions} function(s), load spread over their subjects"),
            format!("{rate:.0} events/s"),
            format!(
                "{:.2}× one function, process RSS {rss:.0} MiB after the run, {received}/{n} received",
                rate / against
            ),
        );
    }
    let mut one = None;
    for functions in [1usize, 50] {
        let label = format!("{functions} function(s), shipped `sluice up` process, defaults");
        let server = NatsServer::start();
        let (host, subjects) = match ShippedHost::start_copies(&server, functions, size.timeout).await {
            Ok(started) => started,
            Err(error) => {
                println!("({label}: not measured: {error:#})");
                continue;
            }
        };
        let cpu_before = crate::machine::cpu_seconds(host.pid())?;
        let (rate, received) = drive_on(&server, &subjects, n, size.timeout).await?;
        let cpu = crate::machine::cpu_seconds(host.pid())? - cpu_before;
        let rss = crate::machine::rss_mib_of(&host.pid().to_string());
        drop(host);
        let against = *one.get_or_insert(rate);
        let mut note = format!(
            "{:.2}× one function, host CPU {:.1} µs per event, host RSS {rss:.0} MiB after the run, {received}/{n} received",
            rate / against,
            cpu * 1e6 / received.max(1) as f64
        );
        if received < n {
            note += &format!(" ({} lost)", n - received);
        }
        report.add("scale", &label, format!("{rate:.0} events/s"), note);
    }
    Ok(())
}
