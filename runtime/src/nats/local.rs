//! A local `nats-server` child for `sluice up` without `--nats`, and finding the binary.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};

/// How to get `nats-server` when it is missing.
pub const INSTALL_HINT: &str = "install it with `apt-get install nats-server` (Debian/Ubuntu) or from https://github.com/nats-io/nats-server/releases";

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

/// Finds `nats-server` on `PATH` (or `/usr/sbin`, where Debian puts it).
pub fn find_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs =
        std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")]);
    find_in(dirs)
}

fn find_in(dirs: impl IntoIterator<Item = PathBuf>) -> anyhow::Result<PathBuf> {
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
        let error = find_in([empty.path().to_owned()]).unwrap_err().to_string();
        assert!(error.contains("nats-server not found"), "{error}");
        assert!(error.contains("apt-get install nats-server"), "{error}");
        std::fs::write(empty.path().join("nats-server"), "").unwrap();
        assert_eq!(
            find_in([empty.path().to_owned()]).unwrap(),
            empty.path().join("nats-server")
        );
    }
}
