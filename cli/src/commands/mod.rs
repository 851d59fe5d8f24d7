//! The subcommands. Each parses nothing itself: clap did that; each calls the library.

mod check;
mod dev;
mod dlq;
mod dlq_debug;
mod dlq_report;
mod fleet;
mod graph;
mod invoke;
mod nats_args;
mod new;
mod publish;
mod request;
mod schedules;
mod secret;
mod table;
mod up;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use nats_args::NatsArgs;

/// The environment variable every command reads its `--nats` server URL(s) from when the
/// flag is not given.
pub const NATS_URL_ENV: &str = "SLUICE_NATS_URL";

/// Sluice runs NATS events through sandboxed WebAssembly component functions.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
pub struct Cli {
    /// Log more (or set SLUICE_LOG, e.g. SLUICE_LOG=sluice_runtime=debug).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// How log lines are written to stderr: `text` for people, `json` (one object per line,
    /// with the event's span fields) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A `sluice` subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the host: deploy every function in the folder and handle their events.
    Up {
        /// Folder of NAME.wasm (+ NAME.toml) files (default: `functions`, unless --fleet is
        /// given alone).
        #[arg(long)]
        functions: Option<PathBuf>,
        /// Also run what `sluice deploy` puts in the fleet's buckets on this NATS cluster,
        /// and report to `sluice status`.
        #[arg(long)]
        fleet: bool,
        /// This host's id in the fleet (default: machine name and process id).
        #[arg(long, requires = "fleet")]
        host_id: Option<String>,
        /// Do not watch the folder for changes (by default, adding, replacing or removing
        /// files deploys, redeploys or undeploys functions while the host runs).
        #[arg(long)]
        no_watch: bool,
        #[command(flatten)]
        host: HostArgs,
    },
    /// Build the function crates in a folder, run them, and rebuild and redeploy each one
    /// whose sources change.
    Dev {
        /// Folder whose subfolders are function crates.
        #[arg(default_value = "functions")]
        dir: PathBuf,
        #[command(flatten)]
        host: HostArgs,
    },
    /// Validate every manifest and component in a folder; exit non-zero on a problem.
    Check {
        /// Folder of NAME.wasm (+ NAME.toml) files.
        #[arg(default_value = "functions")]
        dir: PathBuf,
        /// Where compiled components are cached.
        #[arg(long, default_value = ".sluice")]
        state_dir: PathBuf,
    },
    /// Draw the event flow of a folder of functions (or of the fleet) as graph.dot and
    /// graph.svg, and print what it finds: subjects nothing consumes, listeners nothing feeds,
    /// requests nobody answers, cycles.
    Graph(graph::GraphArgs),
    /// Run one event through a function without NATS and print what happened.
    Invoke {
        /// Function name (NAME.wasm in the functions folder).
        name: String,
        /// The event payload (usually JSON).
        #[arg(long)]
        data: String,
        /// Folder of NAME.wasm (+ NAME.toml) files.
        #[arg(long, default_value = "functions")]
        functions: PathBuf,
        /// Subject of the event; defaults to the function's first literal subject.
        #[arg(long)]
        subject: Option<String>,
        /// A header, as NAME=VALUE; repeatable.
        #[arg(long = "header", value_name = "NAME=VALUE")]
        headers: Vec<String>,
        /// The delivery number the handler sees.
        #[arg(long, default_value_t = 1)]
        attempt: u32,
        /// Where compiled components are cached.
        #[arg(long, default_value = ".sluice")]
        state_dir: PathBuf,
    },
    /// Create a function crate that builds, has a manifest and a passing unit test.
    New {
        /// The function's name: lowercase letters, digits and `-`.
        name: String,
        /// The language of the handler: rust, python or js.
        #[arg(long, default_value = "rust")]
        lang: String,
        /// The folder to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Publish one event to NATS and optionally wait for messages it causes.
    Publish {
        /// Subject to publish to.
        subject: String,
        /// The event payload (usually JSON).
        #[arg(long)]
        data: String,
        /// NATS server URL, or a comma-separated list of a cluster's URLs.
        #[arg(long, default_value = sluice_runtime::nats::DEFAULT_URL, env = NATS_URL_ENV)]
        nats: String,
        #[command(flatten)]
        connection: NatsArgs,
        /// A header, as NAME=VALUE; repeatable.
        #[arg(long = "header", value_name = "NAME=VALUE")]
        headers: Vec<String>,
        /// The reply subject the event carries, so a handler that answers (`reply`) sends
        /// its answer there; see `sluice request` to wait for it.
        #[arg(long, value_name = "SUBJECT")]
        reply: Option<String>,
        /// Wait for one message on this subject (wildcards allowed) and print it; repeatable.
        #[arg(long = "wait-for", value_name = "SUBJECT")]
        wait_for: Vec<String>,
        /// Seconds to wait for those messages.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Send one request to NATS and print the answer (to try a handler that replies).
    Request {
        /// Subject to send the request to.
        subject: String,
        /// The request payload (usually JSON).
        #[arg(long)]
        data: String,
        /// NATS server URL, or a comma-separated list of a cluster's URLs.
        #[arg(long, default_value = sluice_runtime::nats::DEFAULT_URL, env = NATS_URL_ENV)]
        nats: String,
        #[command(flatten)]
        connection: NatsArgs,
        /// A header, as NAME=VALUE; repeatable.
        #[arg(long = "header", value_name = "NAME=VALUE")]
        headers: Vec<String>,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Sealed secrets: make the fleet's key, seal values into bucket `sluice-secrets`.
    Secret {
        /// What to do.
        #[command(subcommand)]
        command: secret::SecretCommand,
    },
    /// List, replay or debug a function's dead letters (kept in a JetStream stream).
    Dlq {
        /// What to do with them.
        #[command(subcommand)]
        command: dlq::DlqCommand,
    },
    /// List the schedules of scheduled functions (trigger.schedule), with their last and
    /// next firing.
    Schedules {
        /// NATS server URL, or a comma-separated list of a cluster's URLs.
        #[arg(long, default_value = sluice_runtime::nats::DEFAULT_URL, env = NATS_URL_ENV)]
        nats: String,
        #[command(flatten)]
        connection: NatsArgs,
        /// Print one JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The fleet: deploy, undeploy, versions, rollback, status.
    #[command(flatten)]
    Fleet(fleet::FleetCommand),
}

impl Command {
    /// Whether the command runs functions (`up`, `dev`, `invoke`), whose log is its output.
    pub fn runs_a_host(&self) -> bool {
        matches!(self, Self::Up { .. } | Self::Dev { .. } | Self::Invoke { .. })
    }
}

/// How `up` and `dev` run a host.
#[derive(Debug, clap::Args)]
pub struct HostArgs {
    /// NATS server URL, or a comma-separated list of a cluster's URLs. Without it, uses
    /// nats://127.0.0.1:4222 if a server answers there, else starts a local nats-server and
    /// stops it on exit.
    #[arg(long, env = NATS_URL_ENV)]
    pub nats: Option<String>,
    /// Seconds to keep trying at start while no server at --nats accepts connections (a
    /// broker that starts beside the host); 0 fails at once. A refused login or TLS
    /// handshake fails at once either way.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, env = "SLUICE_NATS_WAIT")]
    pub nats_wait: u64,
    /// Authentication and TLS for the NATS connection.
    #[command(flatten)]
    pub connection: NatsArgs,
    /// Where compiled components are cached, `dev` deploys its builds and a local
    /// nats-server keeps its data.
    #[arg(long, default_value = ".sluice", env = "SLUICE_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Seconds to let in-flight events finish on shutdown.
    #[arg(long, default_value_t = 30)]
    pub grace: u64,
    /// Serve Prometheus metrics on GET /metrics and a health check on GET /healthz at this
    /// address (e.g. 127.0.0.1:9090; port 0 picks a free port, logged at start).
    #[arg(long, value_name = "ADDR", env = "SLUICE_ADMIN")]
    pub admin: Option<SocketAddr>,
    /// File holding the fleet's xkey seed (SX..., from `sluice secret keygen`) that opens
    /// sealed secrets (`sealed:KEY` in `[secrets]`). Or set SLUICE_SECRETS_KEY to the seed.
    #[arg(long, value_name = "FILE")]
    pub secrets_key: Option<PathBuf>,
    /// Export a span per attempt as OpenTelemetry traces (OTLP over HTTP/protobuf) to this
    /// collector (e.g. http://127.0.0.1:4318; spans go to URL/v1/traces). Without it, the
    /// standard OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT turns
    /// tracing on; OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER(_ARG) and the other OTEL_*
    /// variables apply either way. Off when none is set.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
}

/// A mistake in how sluice was called or configured (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs `command`.
pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Up {
            functions,
            fleet,
            host_id,
            no_watch,
            host,
        } => {
            let fleet =
                fleet.then(|| host_id.unwrap_or_else(sluice_runtime::fleet::FleetConfig::default_host_id));
            up::run(functions, fleet, !no_watch, host).await
        }
        Command::Check { dir, state_dir } => check::run(&dir, &state_dir).await,
        Command::Graph(args) => graph::run(&args).await,
        Command::Dev { dir, host } => dev::run(dir, host).await,
        Command::New { name, lang, dir } => new::run(name, lang, dir).await,
        Command::Invoke {
            name,
            data,
            functions,
            subject,
            headers,
            attempt,
            state_dir,
        } => {
            let args = invoke::Args {
                name,
                data,
                functions,
                subject,
                headers,
                attempt,
                state_dir,
            };
            invoke::run(args).await
        }
        Command::Publish {
            subject,
            data,
            nats,
            connection,
            headers,
            reply,
            wait_for,
            timeout,
        } => {
            publish::run(publish::Args {
                subject,
                data,
                nats,
                connection,
                headers,
                reply,
                wait_for,
                timeout,
            })
            .await
        }
        Command::Request {
            subject,
            data,
            nats,
            connection,
            headers,
            timeout,
        } => {
            request::run(request::Args {
                subject,
                data,
                nats,
                connection,
                headers,
                timeout,
            })
            .await
        }
        Command::Dlq { command } => dlq::run(command).await,
        Command::Schedules {
            nats,
            connection,
            json,
        } => schedules::run(&nats, &connection, json).await,
        Command::Fleet(command) => fleet::run(command).await,
        Command::Secret { command } => secret::run(command).await,
    }
}

/// Splits a `NAME=VALUE` header argument.
fn split_header(pair: &str) -> Result<(&str, &str), UsageError> {
    pair.split_once('=')
        .ok_or_else(|| UsageError(format!("--header {pair:?} is not NAME=VALUE")))
}
