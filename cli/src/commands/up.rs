//! `sluice up`: run the host until SIGINT or SIGTERM.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use sluice_runtime::fleet::FleetConfig;
use sluice_runtime::nats::{self, LocalNatsServer};
use sluice_runtime::telemetry::TracingConfig;
use sluice_runtime::{Runtime, RuntimeConfig};

use super::{HostArgs, UsageError};

/// Runs the host on `functions` (default `functions`, unless `fleet` alone) and, with a
/// fleet host id, as a member of the fleet, until a signal, then shuts it down.
pub async fn run(
    functions: Option<PathBuf>,
    fleet: Option<String>,
    watch: bool,
    args: HostArgs,
) -> anyhow::Result<ExitCode> {
    let functions = match (functions, &fleet) {
        (Some(dir), _) => Some(dir),
        (None, Some(_)) => None,
        (None, None) => Some(PathBuf::from("functions")),
    };
    if let Some(dir) = functions.as_ref().filter(|dir| !dir.is_dir()) {
        return Err(UsageError(format!("functions folder {} does not exist", dir.display())).into());
    }
    let session = Session::start_with(&args, functions.as_deref(), fleet.as_deref(), watch).await?;
    let from = match (&functions, &fleet) {
        (Some(dir), None) => format!("from {}", dir.display()),
        (Some(dir), Some(id)) => format!("from {} and the fleet (host id {id})", dir.display()),
        (None, Some(id)) => format!("from the fleet (host id {id})"),
        (None, None) => unreachable!("a folder is the default"),
    };
    tracing::info!(
        "sluice is up: {} functions deployed {from}, {} failed to load; NATS at {}. Ctrl-C to stop.",
        session.runtime.functions().len(),
        session.runtime.load_errors().len(),
        session.url
    );
    tokio::select! {
        () = wait_for_signal() => {}
        () = session.runtime.exit_requested() => {
            tracing::info!("drained by `sluice drain`: shutting down as on SIGTERM");
        }
    }
    Ok(session.stop().await)
}

/// What `up` and `dev` run until a signal: the runtime, the NATS it talks to, and the local
/// nats-server it may have started for that.
pub(super) struct Session {
    /// The started runtime.
    pub runtime: Runtime,
    /// The NATS server URL the runtime is connected to.
    pub url: String,
    /// The nats-server started because none answered, stopped after the runtime.
    local: Option<LocalNatsServer>,
}

impl Session {
    /// Finds or starts NATS and starts the runtime on `functions`.
    pub async fn start(args: &HostArgs, functions: &Path, watch: bool) -> anyhow::Result<Self> {
        Self::start_with(args, Some(functions), None, watch).await
    }

    /// Finds or starts NATS and starts the runtime on `functions`, and in the fleet as
    /// `fleet` (a host id) when given.
    pub async fn start_with(
        args: &HostArgs,
        functions: Option<&Path>,
        fleet: Option<&str>,
        watch: bool,
    ) -> anyhow::Result<Self> {
        let nats_options = args.connection.options()?;
        let (url, local) = resolve_nats(args.nats.clone(), &args.state_dir).await?;
        let mut config = RuntimeConfig::new(PathBuf::new(), &url);
        config.functions_dir = functions.map(Path::to_owned);
        config.fleet = fleet.map(|id| FleetConfig::new(id, &args.state_dir));
        config.nats_options = nats_options;
        config.nats_wait = Duration::from_secs(args.nats_wait);
        config.shutdown_grace = Duration::from_secs(args.grace);
        config.watch = watch;
        config.cache_dir = Some(args.state_dir.join("cache"));
        config.admin = args.admin;
        config.secrets_key = secrets_key(args.secrets_key.as_deref())?;
        config.tracing =
            TracingConfig::from_env(args.otlp_endpoint.as_deref(), |name| std::env::var(name).ok())
                .map_err(UsageError)?;
        if let Some(tracing) = &config.tracing {
            tracing::info!(
                endpoint = %tracing.endpoint,
                "exporting traces (OpenTelemetry, OTLP/HTTP): a span per attempt"
            );
        }
        let runtime = Runtime::start(config).await?;
        Ok(Self { runtime, url, local })
    }

    /// Shuts down gracefully; exit code 1 if events had to be abandoned.
    pub async fn stop(self) -> ExitCode {
        let report = self.runtime.shutdown().await;
        if let Some(server) = self.local {
            server.stop().await;
        }
        if report.abandoned == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }
}

/// The URL to use: the one given, else a server on the default port, else a local one.
async fn resolve_nats(
    url: Option<String>,
    state_dir: &Path,
) -> anyhow::Result<(String, Option<LocalNatsServer>)> {
    if let Some(url) = url {
        return Ok((url, None));
    }
    if nats::answers(([127, 0, 0, 1], 4222).into()) {
        return Ok((nats::DEFAULT_URL.to_owned(), None));
    }
    tracing::info!(
        "no NATS server on 127.0.0.1:4222; starting a local nats-server (data in {})",
        state_dir.display()
    );
    let server = LocalNatsServer::start(4222, &state_dir.join("nats")).await?;
    Ok((server.url().to_owned(), Some(server)))
}

/// Waits for Ctrl-C or (on Unix) SIGTERM.
pub(super) async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("cannot install the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The seed that opens sealed secrets: the `--secrets-key` file, else `SLUICE_SECRETS_KEY`.
fn secrets_key(file: Option<&Path>) -> anyhow::Result<Option<String>> {
    match file {
        Some(file) => std::fs::read_to_string(file)
            .map(|seed| Some(seed.trim().to_owned()))
            .map_err(|error| UsageError(format!("--secrets-key {}: {error}", file.display())).into()),
        None => Ok(std::env::var("SLUICE_SECRETS_KEY")
            .ok()
            .filter(|seed| !seed.is_empty())),
    }
}
