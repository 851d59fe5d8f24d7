//! The fleet commands: `deploy`, `undeploy`, `versions`, `rollback`, `status`, `pause`,
//! `resume`, `drain`, `shadow` and `promote`, each a thin caller of `sluice_runtime::fleet`.

mod deploy;
mod history;
mod operate;
mod shadow;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use sluice_runtime::fleet::{BucketNames, Buckets, Fleet};

use super::NatsArgs;

/// How to reach the fleet's buckets.
#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// NATS server URL, or a comma-separated list of a cluster's URLs.
    #[arg(long, default_value = sluice_runtime::nats::DEFAULT_URL, env = crate::commands::NATS_URL_ENV)]
    pub nats: String,
    #[command(flatten)]
    pub connection: NatsArgs,
    /// Replicas of buckets created on first use (default: 3 on a cluster of three or more
    /// servers, else 1).
    #[arg(long)]
    pub replicas: Option<usize>,
}

impl FleetArgs {
    /// Connects and opens (or creates) the fleet's buckets.
    pub async fn open(&self) -> anyhow::Result<Fleet> {
        let options = self.connection.options()?;
        let client = sluice_runtime::nats::connect(&self.nats, &options).await?;
        let buckets = Buckets::open(&client, &BucketNames::default(), self.replicas).await?;
        Ok(Fleet::new(buckets))
    }
}

/// A share of events: `10%`, or a fraction from 0 to 1.
fn parse_share(text: &str) -> Result<f64, String> {
    let share = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.trim().parse::<f64>(),
    }
    .map_err(|_| format!("`{text}` is not a share: write it as `10%` or `0.1`"))?;
    match (0.0..=1.0).contains(&share) {
        true => Ok(share),
        false => Err(format!("`{text}` is not a share from 0% to 100%")),
    }
}

/// A fleet subcommand.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Validate functions as `sluice check` does, upload them and make them the desired state
    /// of every `sluice up --fleet` host.
    Deploy {
        /// NAME.wasm files (each with its NAME.toml beside it) or folders of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Return only when every live host serves the new versions (or failed to load them).
        #[arg(long)]
        wait: bool,
        /// Seconds `--wait` waits at most.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Who deploys, recorded in the history (default: user@machine).
        #[arg(long)]
        by: Option<String>,
        /// Where compiled components are cached.
        #[arg(long, default_value = ".sluice")]
        state_dir: PathBuf,
        /// Run each function as a shadow of its live version on every host instead: on a copy
        /// of each event, with nothing sent, and its outcomes compared (`sluice shadow report`).
        #[arg(long, conflicts_with = "wait")]
        shadow: bool,
        /// With --shadow: the share of events shadowed, as `10%` or `0.1`.
        #[arg(long, default_value = "100%", requires = "shadow", value_parser = parse_share)]
        sample: f64,
        /// With --shadow: a host (`host[:port]`, as in permissions.http) the shadow may send
        /// HTTP requests to because calling it twice is safe; repeatable. Others are denied.
        #[arg(long = "shadow-http", value_name = "HOST", requires = "shadow")]
        shadow_http: Vec<String>,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Compare, event by event, a function's shadow version with its live one; or stop it.
    #[command(subcommand)]
    Shadow(shadow::ShadowCommand),
    /// Make a function's shadow version its live version on every host (a normal deploy).
    Promote {
        /// The function.
        name: String,
        /// Who promotes, recorded in the history (default: user@machine).
        #[arg(long)]
        by: Option<String>,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Remove a function from every fleet host.
    Undeploy {
        /// The function.
        name: String,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// List a function's deployed versions, oldest first.
    Versions {
        /// The function.
        name: String,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Make an earlier version of a function the desired state again.
    Rollback {
        /// The function.
        name: String,
        /// The version (or component hash) to return to, or a prefix of it; default: the one
        /// before the current version.
        #[arg(long)]
        to: Option<String>,
        /// Who rolls back, recorded in the history (default: user@machine).
        #[arg(long)]
        by: Option<String>,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Stop a function on every host: JetStream events wait in their stream; core NATS events
    /// published meanwhile are not delivered. Returns once no live host runs it.
    Pause {
        /// The function.
        name: String,
        /// Resume by itself at this time (RFC 3339) or after this long (`30m`).
        #[arg(long)]
        until: Option<String>,
        /// Who pauses, shown in `sluice status` (default: user@machine).
        #[arg(long)]
        by: Option<String>,
        /// Seconds to wait at most for every live host to stop it.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Run a paused function again on every host.
    Resume {
        /// The function.
        name: String,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Take a host out of service: it stops taking events, finishes those in flight within its
    /// grace period, hands the rest back, then exits 0 (or stays up idle with --stay).
    Drain {
        /// The host's id (see `sluice status`).
        host: String,
        /// Stay up with nothing deployed instead of exiting.
        #[arg(long)]
        stay: bool,
        /// Who drains, recorded with the request (default: user@machine).
        #[arg(long)]
        by: Option<String>,
        /// Seconds to wait at most for the host to finish.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Show which host runs which version of each fleet function.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Redraw every second until interrupted.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        fleet: FleetArgs,
    },
}

/// Runs `command`.
pub async fn run(command: FleetCommand) -> anyhow::Result<ExitCode> {
    match command {
        FleetCommand::Deploy {
            paths,
            wait,
            timeout,
            by,
            state_dir,
            shadow,
            sample,
            shadow_http,
            fleet,
        } => {
            let wait = wait.then(|| std::time::Duration::from_secs(timeout));
            let how = match shadow {
                true => deploy::How::Shadow {
                    sample,
                    http: shadow_http,
                },
                false => deploy::How::Live { wait },
            };
            deploy::run(&paths, how, by.as_deref(), &state_dir, &fleet).await
        }
        FleetCommand::Shadow(command) => shadow::run(command).await,
        FleetCommand::Promote { name, by, fleet } => shadow::promote(&name, by.as_deref(), &fleet).await,
        FleetCommand::Undeploy { name, fleet } => history::undeploy(&name, &fleet).await,
        FleetCommand::Versions { name, fleet } => history::versions(&name, &fleet).await,
        FleetCommand::Rollback { name, to, by, fleet } => {
            history::rollback(&name, to.as_deref(), by.as_deref(), &fleet).await
        }
        FleetCommand::Status { json, watch, fleet } => status::run(json, watch, &fleet).await,
        FleetCommand::Pause {
            name,
            until,
            by,
            timeout,
            fleet,
        } => {
            let timeout = std::time::Duration::from_secs(timeout);
            operate::pause(&name, until.as_deref(), by.as_deref(), timeout, &fleet).await
        }
        FleetCommand::Resume { name, fleet } => operate::resume(&name, &fleet).await,
        FleetCommand::Drain {
            host,
            stay,
            by,
            timeout,
            fleet,
        } => {
            let timeout = std::time::Duration::from_secs(timeout);
            operate::drain(&host, stay, by.as_deref(), timeout, &fleet).await
        }
    }
}
