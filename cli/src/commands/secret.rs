//! `sluice secret`: the fleet's key for sealed secrets, and sealing values into the
//! `sluice-secrets` bucket for `sealed:KEY` entries of `[secrets]`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use async_nats::jetstream::kv;
use sluice_runtime::secrets::{self, BUCKET};

use super::{NatsArgs, UsageError};

/// What `sluice secret` does.
#[derive(Debug, clap::Subcommand)]
pub enum SecretCommand {
    /// Make the fleet's key pair: writes the seed (SX..., give it to every host with
    /// `sluice up --secrets-key FILE`) and prints the public key (X..., what `set` seals to).
    Keygen {
        /// Where to write the seed; the file is created with owner-only permissions.
        #[arg(long, value_name = "FILE")]
        seed_file: PathBuf,
    },
    /// Seal a value to the hosts' public key and store it as KEY in bucket `sluice-secrets`
    /// (read the value from --value, or from stdin). Hosts read it at the next use: no
    /// redeploy.
    Set(Box<SetArgs>),
}

/// The flags of `sluice secret set`.
#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// The key in the bucket (`sealed:KEY` in a manifest's `[secrets]`).
    key: String,
    /// The hosts' public xkey (X..., printed by `keygen`).
    #[arg(long, value_name = "XKEY")]
    to: String,
    /// The value; without it, stdin is read (a trailing newline is dropped).
    #[arg(long)]
    value: Option<String>,
    /// NATS server URL, or a comma-separated list of a cluster's URLs.
    #[arg(long, default_value = sluice_runtime::nats::DEFAULT_URL, env = super::NATS_URL_ENV)]
    nats: String,
    #[command(flatten)]
    connection: NatsArgs,
}

/// Runs `command`.
pub async fn run(command: SecretCommand) -> anyhow::Result<ExitCode> {
    match command {
        SecretCommand::Keygen { seed_file } => keygen(&seed_file),
        SecretCommand::Set(args) => set(*args).await,
    }
}

fn keygen(seed_file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let (seed, public) = secrets::new_key();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(seed_file)
        .map_err(|error| UsageError(format!("cannot create {}: {error}", seed_file.display())))?;
    std::io::Write::write_all(&mut file, format!("{seed}\n").as_bytes())?;
    println!("{public}");
    eprintln!(
        "seed written to {} (give it to every host: sluice up --secrets-key {}); seal values to the public key above",
        seed_file.display(),
        seed_file.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn set(args: SetArgs) -> anyhow::Result<ExitCode> {
    let SetArgs {
        key,
        to,
        value,
        nats,
        connection,
    } = args;
    let (key, to, nats) = (key.as_str(), to.as_str(), nats.as_str());
    sluice_protocol::kv::check_key(key).map_err(|why| UsageError(format!("{key:?}: {why}")))?;
    let value = match value {
        Some(value) => value,
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            text.trim_end_matches(['\n', '\r']).to_owned()
        }
    };
    let record = secrets::seal(value.as_bytes(), to).map_err(UsageError)?;
    let client = sluice_runtime::nats::connect(nats, &connection.options()?).await?;
    let js = async_nats::jetstream::new(client);
    let store = match js.get_key_value(BUCKET).await {
        Ok(store) => store,
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: BUCKET.to_owned(),
                description: "Sluice sealed secrets (sluice secret set)".to_owned(),
                history: 5,
                ..Default::default()
            })
            .await
            .map_err(|error| anyhow::anyhow!("cannot create bucket `{BUCKET}`: {error}"))?,
    };
    let revision = store
        .put(key, record.into())
        .await
        .map_err(|error| anyhow::anyhow!("cannot write `{key}` to bucket `{BUCKET}`: {error}"))?;
    println!("sealed `{key}` in bucket `{BUCKET}` (revision {revision})");
    Ok(ExitCode::SUCCESS)
}
