//! `sluice schedules`: the schedules of scheduled functions (`trigger.schedule`), as the
//! streams that fire them keep them, with each one's last and next firing.

use std::process::ExitCode;

use super::NatsArgs;
use super::table::{row, table};

/// Prints every stored schedule, as a table or (with `json`) one JSON array.
pub async fn run(nats: &str, connection: &NatsArgs, json: bool) -> anyhow::Result<ExitCode> {
    let client = sluice_runtime::nats::connect(nats, &connection.options()?).await?;
    let js = async_nats::jetstream::new(client);
    let schedules = sluice_runtime::list_schedules(&js)
        .await
        .map_err(|error| anyhow::anyhow!("cannot list the schedules: {error}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&schedules)?);
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
    Ok(ExitCode::SUCCESS)
}
