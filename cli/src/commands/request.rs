//! `sluice request`: send one request and print the answer, to try a handler that replies.

use std::process::ExitCode;
use std::time::Duration;

use async_nats::RequestErrorKind;

use super::publish::{header_map, print_headers};
use super::{NatsArgs, UsageError};

/// The flags of `sluice request`.
pub struct Args {
    /// Subject to send the request to.
    pub subject: String,
    /// The request payload.
    pub data: String,
    /// NATS server URL(s).
    pub nats: String,
    /// Authentication and TLS for the connection.
    pub connection: NatsArgs,
    /// Headers, as NAME=VALUE.
    pub headers: Vec<String>,
    /// Seconds to wait for the answer.
    pub timeout: u64,
}

/// Sends the request and prints the answer's payload and headers; a usage error (exit code
/// 2) when nobody listens on the subject or no answer comes within the timeout.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = args.connection.options()?;
    let client = sluice_runtime::nats::connect(&args.nats, &options).await?;
    let request = async_nats::Request::new()
        .payload(args.data.clone().into())
        .headers(header_map(&args.headers)?)
        .timeout(Some(Duration::from_secs(args.timeout)));
    let answer = client
        .send_request(args.subject.clone(), request)
        .await
        .map_err(|error| UsageError(unanswered(&args.subject, args.timeout, error.kind())))?;
    println!("{}", String::from_utf8_lossy(&answer.payload));
    print_headers(answer.headers.as_ref());
    Ok(ExitCode::SUCCESS)
}

/// Why a request to `subject` got no answer.
fn unanswered(subject: &str, timeout: u64, kind: RequestErrorKind) -> String {
    match kind {
        RequestErrorKind::NoResponders => {
            format!("nobody answers on {subject}: no function (or other subscriber) listens there")
        }
        RequestErrorKind::TimedOut => format!(
            "no answer on {subject} within {timeout}s (a JetStream function acknowledges the \
             stream rather than answering; see README, \"Request/reply\")"
        ),
        RequestErrorKind::InvalidSubject => format!("{subject} is not a valid subject to send to"),
        RequestErrorKind::MaxPayloadExceeded => {
            "the request is larger than the server's max_payload".to_owned()
        }
        RequestErrorKind::Other => format!("the request to {subject} failed"),
    }
}
