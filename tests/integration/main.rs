//! Sluice's integration tests: real `nats-server`, real components, one binary.

mod admin;
mod apps;
mod auth;
mod batch;
mod delivery;
mod dev;
mod dlq;
mod failures;
mod http;
mod jetstream;
mod limits;
mod loading;
mod ordering;
mod polyglot;
mod reload;
mod reuse;
mod scaffold;
mod schema;
mod shutdown;
mod state;
mod wasmcloud;

use std::time::Duration;

use sluice_runtime::{Runtime, RuntimeConfig};
use sluice_tests::{FunctionsDir, NatsServer};

/// Generous bound for anything that should take milliseconds.
const WAIT: Duration = Duration::from_secs(20);

/// Sends the host's logs to the test's captured output (shown when a test fails).
fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_test_writer()
        .try_init();
}

/// Starts a host on `dir` against `server`.
async fn start_host(server: &NatsServer, dir: &FunctionsDir) -> Runtime {
    init_logging();
    let mut config = RuntimeConfig::new(dir.path(), server.url());
    config.shutdown_grace = Duration::from_secs(10);
    Runtime::start(config).await.expect("host starts")
}

/// A NATS header value of `message`.
fn header<'a>(message: &'a async_nats::Message, name: &str) -> Option<&'a str> {
    message.headers.as_ref()?.get(name).map(|value| value.as_str())
}

/// Publishes `payload` to `subject` with an explicit event id, and flushes.
async fn publish_event(
    client: &async_nats::Client,
    subject: &str,
    id: &str,
    payload: impl Into<bytes::Bytes>,
) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", id);
    client
        .publish_with_headers(subject.to_owned(), headers, payload.into())
        .await
        .expect("publish");
    client.flush().await.expect("flush");
}
