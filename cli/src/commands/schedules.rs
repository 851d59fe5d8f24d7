//! `sluice schedules`: what is scheduled in the cluster: the schedules of scheduled functions
//! (`trigger.schedule`), as the streams that fire them keep them, with each one's last and
//! next firing; and the delayed events handlers published (`publish-after`, `publish-at`)
//! that have not fired yet.

use std::process::ExitCode;

use sluice_runtime::delay::PendingDelay;

use super::NatsArgs;
use super::table::{row, table};

/// Prints every stored schedule and pending delayed event, as two tables or (with `json`)
/// one JSON object: `{"schedules": [...], "delayed": [...], "delayed_total": N}`.
pub async fn run(nats: &str, connection: &NatsArgs, json: bool) -> anyhow::Result<ExitCode> {
    let client = sluice_runtime::nats::connect(nats, &connection.options()?).await?;
    let js = async_nats::jetstream::new(client);
    let schedules = sluice_runtime::list_schedules(&js)
        .await
        .map_err(|error| anyhow::anyhow!("cannot list the schedules: {error}"))?;
    let (delayed, delayed_total) = sluice_runtime::delay::list(&js)
        .await
        .map_err(|error| anyhow::anyhow!("cannot list the delayed events: {error}"))?
        .unwrap_or_default();
    if json {
        let listing = serde_json::json!({
            "schedules": schedules,
            "delayed": delayed,
            "delayed_total": delayed_total,
        });
        println!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![row([
        "FUNCTION",
        "SCHEDULE",
        "TIME-ZONE",
        "STREAM",
        "LAST-FIRED",
        "NEXT",
    ])];
    rows.extend(schedules.iter().map(|schedule| {
        row([
            &schedule.function,
            &schedule.schedule,
            schedule.time_zone.as_deref().unwrap_or(""),
            &schedule.stream,
            schedule.last_fired.as_deref().unwrap_or(""),
            schedule.next.as_deref().unwrap_or(""),
        ])
    }));
    print!("{}", table(&rows));
    println!("{} schedules", schedules.len());
    print_delayed(&delayed, delayed_total);
    Ok(ExitCode::SUCCESS)
}

/// The pending delayed events, by function and firing time.
fn print_delayed(delayed: &[PendingDelay], total: usize) {
    if total == 0 {
        println!("no delayed events pending");
        return;
    }
    println!();
    let mut rows = vec![row(["FUNCTION", "ID", "SUBJECT", "FIRES-AT"])];
    rows.extend(
        delayed
            .iter()
            .map(|delay| row([&delay.function, &delay.id, &delay.subject, &delay.fires_at])),
    );
    print!("{}", table(&rows));
    match delayed.len() < total {
        true => println!(
            "{total} delayed events pending (the first {} listed)",
            delayed.len()
        ),
        false => println!("{total} delayed events pending"),
    }
}
