//! The consumers Sluice is compared with: a native Rust async-nats consumer doing the same
//! work in-process (on core NATS, and on a JetStream pull consumer with an ack per message),
//! and a tutorial-style Python nats-py consumer.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::workload;

/// nats-py version the Python baseline runs on.
const NATS_PY: &str = "nats-py==2.16.0";

/// A baseline consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    /// Rust, async-nats, in this process: parse, sum, publish, one message at a time.
    NativeRust,
    /// Python asyncio with nats-py and `Semaphore(50)`.
    Python,
}

impl Consumer {
    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::NativeRust => "native Rust async-nats consumer",
            Self::Python => "Python nats-py consumer, Semaphore(50)",
        }
    }
}

/// A running baseline; dropping it stops it.
pub enum Running {
    /// The in-process consumer task.
    Task(tokio::task::JoinHandle<()>),
    /// The Python process.
    Process(#[allow(dead_code)] tokio::process::Child),
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Self::Task(task) = self {
            task.abort();
        }
    }
}

/// Starts `consumer` against `url` and returns once it is subscribed.
pub async fn start(consumer: Consumer, url: &str) -> anyhow::Result<Running> {
    match consumer {
        Consumer::NativeRust => native(url).await,
        Consumer::Python => python(url).await,
    }
}

async fn native(url: &str) -> anyhow::Result<Running> {
    // The same client buffer as the Sluice host's, so neither drops what the other keeps.
    let client = async_nats::ConnectOptions::new()
        .subscription_capacity(1 << 20)
        .connect(url)
        .await?;
    let mut orders = client.subscribe("orders.placed").await?;
    client.flush().await?;
    let task = tokio::spawn(async move {
        while let Some(message) = orders.next().await {
            let Some(totalled) = workload::total(&message.payload) else {
                continue;
            };
            let headers = message.headers.unwrap_or_default();
            let _ = client
                .publish_with_headers("orders.totalled", headers, totalled.into())
                .await;
        }
    });
    Ok(Running::Task(task))
}

/// How the report names the native JetStream consumer.
pub const NATIVE_JETSTREAM: &str = "native Rust async-nats JetStream consumer";

/// The native consumer of JetStream scenario: a durable pull consumer named `durable` on
/// `stream` read through async-nats's `messages()` stream (batches of 200, the next request
/// sent before the last batch is used up); per message it parses, sums, publishes
/// `orders.totalled` (plain publish, as Sluice does for a subject no stream captures) and
/// acks, one message at a time. `max_ack_pending` is Sluice's default `max_pending`.
pub async fn native_jetstream(url: &str, stream: &str, durable: &str) -> anyhow::Result<Running> {
    use async_nats::jetstream::consumer::{AckPolicy, pull};

    let client = async_nats::connect(url).await?;
    let js = async_nats::jetstream::new(client.clone());
    let config = pull::Config {
        durable_name: Some(durable.to_owned()),
        ack_policy: AckPolicy::Explicit,
        max_ack_pending: 10_000,
        ..Default::default()
    };
    let consumer = js.create_consumer_on_stream(config, stream).await?;
    let mut messages = consumer.messages().await?;
    let task = tokio::spawn(async move {
        while let Some(Ok(message)) = messages.next().await {
            if let Some(totalled) = workload::total(&message.payload) {
                let headers = message.headers.clone().unwrap_or_default();
                if client
                    .publish_with_headers("orders.totalled", headers, totalled.into())
                    .await
                    .is_err()
                {
                    continue;
                }
            }
            let _ = message.ack().await;
        }
    });
    Ok(Running::Task(task))
}

async fn python(url: &str) -> anyhow::Result<Running> {
    let python = venv_python().await?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/consumer.py");
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .arg(url)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the Python consumer")?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
    anyhow::ensure!(
        matches!(ready, Ok(Ok(Some(ref line))) if line == "ready"),
        "the Python consumer did not start"
    );
    Ok(Running::Process(child))
}

/// A virtualenv under `target/` with nats-py, created on first use.
async fn venv_python() -> anyhow::Result<PathBuf> {
    let venv = crate::machine::target_dir().join("bench-venv");
    let python = venv.join("bin/python");
    if !python.is_file() {
        println!("(installing {NATS_PY} into {})", venv.display());
        let made = tokio::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .await?;
        anyhow::ensure!(made.success(), "python3 -m venv failed");
        let pip = venv.join("bin/pip");
        let installed = tokio::process::Command::new(pip)
            .args(["install", "--quiet", NATS_PY])
            .status()
            .await?;
        anyhow::ensure!(installed.success(), "pip install {NATS_PY} failed");
    }
    Ok(python)
}
