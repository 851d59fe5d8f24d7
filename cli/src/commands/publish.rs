//! `sluice publish`: send one event and, optionally, wait for what it causes.

use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::SelectAll;

use super::{NatsArgs, UsageError};

/// The flags of `sluice publish`.
pub struct Args {
    /// Subject to publish to.
    pub subject: String,
    /// The event payload.
    pub data: String,
    /// NATS server URL(s).
    pub nats: String,
    /// Authentication and TLS for the connection.
    pub connection: NatsArgs,
    /// Headers, as NAME=VALUE.
    pub headers: Vec<String>,
    /// Subjects to wait for one message on each.
    pub wait_for: Vec<String>,
    /// Seconds to wait for those messages.
    pub timeout: u64,
}

/// Publishes the event, then prints one message from each `--wait-for` subject (a usage error
/// if they do not all arrive within the timeout).
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = args.connection.options()?;
    let client = sluice_runtime::nats::connect(&args.nats, &options).await?;
    let mut watched = SelectAll::new();
    for subject in &args.wait_for {
        watched.push(client.subscribe(subject.clone()).await?);
    }
    let mut headers = async_nats::HeaderMap::new();
    for pair in &args.headers {
        let (name, value) = super::split_header(pair)?;
        headers.append(name, value);
    }
    client
        .publish_with_headers(args.subject.clone(), headers, args.data.clone().into())
        .await?;
    client.flush().await?;
    println!("published to {}: {}", args.subject, args.data);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    for _ in 0..args.wait_for.len() {
        match tokio::time::timeout_at(deadline, watched.next()).await {
            Ok(Some(message)) => {
                println!(
                    "received on {}: {}",
                    message.subject,
                    String::from_utf8_lossy(&message.payload)
                );
                for (name, values) in message.headers.iter().flat_map(|h| h.iter()) {
                    for value in values {
                        println!("    {name}: {value}");
                    }
                }
            }
            _ => {
                let waited = args.wait_for.join(", ");
                return Err(
                    UsageError(format!("nothing arrived on [{waited}] within {}s", args.timeout)).into(),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
