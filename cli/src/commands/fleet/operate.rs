//! `sluice pause`, `sluice resume` and `sluice drain`: stopping a function on every host, or
//! one host entirely, without losing events.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use sluice_runtime::fleet::Fleet;
use sluice_runtime::parse_duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::FleetArgs;

/// How often the hosts' reports are read while waiting.
const POLL: Duration = Duration::from_millis(100);

/// Pauses `name` on every host and waits until every live host runs nothing of it.
pub async fn pause(
    name: &str,
    until: Option<&str>,
    by: Option<&str>,
    timeout: Duration,
    args: &FleetArgs,
) -> anyhow::Result<ExitCode> {
    let until = until.map(parse_until).transpose()?;
    let fleet = args.open().await?;
    let (pause, consumer) = fleet.pause(name, until, by).await?;
    let how_long = pause
        .until
        .as_deref()
        .map_or("until `sluice resume`".to_owned(), |until| {
            format!("until {until}")
        });
    match &consumer {
        Some(consumer) => println!(
            "pausing {name} {how_long}: its events wait in stream `{}` (consumer `{}` paused on the server)",
            consumer.stream, consumer.consumer
        ),
        None => println!(
            "pausing {name} {how_long}: it is a core NATS function, so events published while it is paused are not delivered (core NATS is at most once)"
        ),
    }
    if !wait_until_paused(&fleet, name, timeout).await? {
        return Ok(ExitCode::from(1));
    }
    if let Some(consumer) = &consumer {
        // Every host has stopped it: none can have undone the server's pause meanwhile.
        fleet.pause_consumer(consumer, until).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Waits until every live host reports `name` paused; false after `timeout`.
async fn wait_until_paused(fleet: &Fleet, name: &str, timeout: Duration) -> anyhow::Result<bool> {
    let started = Instant::now();
    loop {
        let hosts = fleet.hosts().await?;
        let live: Vec<_> = hosts.iter().filter(|host| !host.is_gone()).collect();
        let running: Vec<&str> = live
            .iter()
            .filter(|host| !host.report.paused.contains(name))
            .map(|host| host.report.host.as_str())
            .collect();
        if running.is_empty() {
            println!(
                "paused {name}: {} live hosts run nothing of it ({:.2} s)",
                live.len(),
                started.elapsed().as_secs_f64()
            );
            return Ok(true);
        }
        if started.elapsed() > timeout {
            println!(
                "still running {name} after {} s: {}",
                timeout.as_secs(),
                running.join(", ")
            );
            return Ok(false);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Resumes `name` on every host.
pub async fn resume(name: &str, args: &FleetArgs) -> anyhow::Result<ExitCode> {
    let fleet = args.open().await?;
    if !fleet.resume(name).await? {
        eprintln!("error: `{name}` is not paused");
        return Ok(ExitCode::from(1));
    }
    match fleet.desired(name).await? {
        Some(state) => println!("resumed {name}: every fleet host runs {} again", state.version),
        None => println!("resumed {name} (it is no longer deployed)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Drains host `host` and waits until it has exited (or, with `stay`, is idle).
pub async fn drain(
    host: &str,
    stay: bool,
    by: Option<&str>,
    timeout: Duration,
    args: &FleetArgs,
) -> anyhow::Result<ExitCode> {
    let fleet = args.open().await?;
    fleet.drain(host, stay, by).await?;
    println!("draining {host}: it takes no new events and finishes those in flight");
    let started = Instant::now();
    loop {
        let seen = fleet
            .hosts()
            .await?
            .into_iter()
            .find(|seen| seen.report.host == host);
        let done = match &seen {
            None => true,
            Some(seen) if stay => seen.report.drain.as_deref() == Some("drained"),
            Some(seen) => seen.is_gone(),
        };
        if done {
            let took = started.elapsed().as_secs_f64();
            if stay {
                println!(
                    "drained {host}: it runs nothing and stays up ({took:.2} s); restart it to serve again"
                );
            } else {
                fleet.forget_drain(host).await?;
                println!("drained {host}: it finished its events and exited ({took:.2} s)");
            }
            return Ok(ExitCode::SUCCESS);
        }
        if started.elapsed() > timeout {
            println!("{host} has not finished draining after {} s", timeout.as_secs());
            return Ok(ExitCode::from(1));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `--until`: an RFC 3339 time, or a duration from now (`30m`).
fn parse_until(text: &str) -> anyhow::Result<OffsetDateTime> {
    if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(time);
    }
    match parse_duration(text) {
        Ok(duration) => Ok(OffsetDateTime::now_utc() + duration),
        Err(_) => anyhow::bail!(
            "--until: expected an RFC 3339 time (2026-12-24T18:00:00Z) or a duration from now (30m), found `{text}`"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_takes_a_time_or_a_duration() {
        let at = parse_until("2026-12-24T18:00:00Z").unwrap();
        assert_eq!(at.hour(), 18);
        let later = parse_until("30m").unwrap() - OffsetDateTime::now_utc();
        assert!(later > time::Duration::minutes(29) && later <= time::Duration::minutes(30));
        let error = parse_until("tomorrow").unwrap_err().to_string();
        assert!(error.contains("--until: expected an RFC 3339 time"), "{error}");
    }
}
