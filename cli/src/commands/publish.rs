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
    /// The reply subject the event carries, for a handler that answers.
    pub reply: Option<String>,
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
    let headers = header_map(&args.headers)?;
    let payload = args.data.clone().into_bytes();
    match &args.reply {
        Some(reply) => {
            client
                .publish_with_reply_and_headers(
                    args.subject.clone(),
                    reply.clone(),
                    headers.clone(),
                    payload.clone().into(),
                )
                .await?
        }
        None => {
            client
                .publish_with_headers(args.subject.clone(), headers.clone(), payload.clone().into())
                .await?
        }
    }
    client.flush().await?;
    println!("published to {}: {}", args.subject, args.data);
    // A `--wait-for` pattern that matches the subject published to receives the event itself
    // first; it is not what the command waits for.
    let mut own = Some((args.subject.clone(), payload, headers));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    for _ in 0..args.wait_for.len() {
        let next = async {
            loop {
                let message = watched.next().await?;
                let echo = own.as_ref().is_some_and(|(subject, payload, headers)| {
                    message.subject.as_str() == subject
                        && message.payload == *payload
                        && message
                            .headers
                            .as_ref()
                            .map_or(headers.is_empty(), |h| h == headers)
                });
                match echo {
                    true => own = None,
                    false => return Some(message),
                }
            }
        };
        match tokio::time::timeout_at(deadline, next).await {
            Ok(Some(message)) => {
                println!(
                    "received on {}: {}",
                    message.subject,
                    String::from_utf8_lossy(&message.payload)
                );
                print_headers(message.headers.as_ref());
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

/// The `--header NAME=VALUE` arguments as a header map.
pub(super) fn header_map(pairs: &[String]) -> Result<async_nats::HeaderMap, UsageError> {
    let mut headers = async_nats::HeaderMap::new();
    for pair in pairs {
        let (name, value) = super::split_header(pair)?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// Prints a received message's headers, one `    NAME: VALUE` line each.
pub(super) fn print_headers(headers: Option<&async_nats::HeaderMap>) {
    for (name, values) in headers.iter().flat_map(|h| h.iter()) {
        for value in values {
            println!("    {name}: {value}");
        }
    }
}
