//! Functions folders built from the guest components, and the `sluice` binary.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// The built component of guest crate `name` (e.g. `probe`, `order-total`).
pub fn guest(name: &str) -> PathBuf {
    let file = Path::new(env!("SLUICE_GUESTS_DIR")).join(format!("{}.wasm", name.replace('-', "_")));
    assert!(
        file.is_file(),
        "guest component {} is missing; build.rs should have built it",
        file.display()
    );
    file
}

/// A handler built by another toolchain into `target/functions/` (`py-order-total`,
/// `js-order-total`), with its manifest from `functions/<name>/`.
pub fn polyglot(name: &str) -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let wasm = sluice_binary()
        .parent()
        .and_then(Path::parent)
        .expect("target")
        .join(format!("functions/{name}.wasm"));
    assert!(
        wasm.is_file(),
        "{} is missing: build the Python and JavaScript handlers with scripts/build-polyglot.sh (scripts/test.sh does)",
        wasm.display()
    );
    (wasm, root.join(format!("functions/{name}/{name}.toml")))
}

/// The `sluice` binary of this workspace build (built by `cargo nextest run --workspace`).
pub fn sluice_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let binary = profile_dir.join("sluice");
    assert!(
        binary.is_file(),
        "{} is missing: run the tests with `cargo nextest run --workspace` (or `cargo build -p sluice-cli` first)",
        binary.display()
    );
    binary
}

/// A `sluice` command run from a scratch folder, so what it keeps in `.sluice/` (the
/// compiled-component cache) stays out of the source tree.
pub fn sluice_command() -> std::process::Command {
    let scratch = std::env::temp_dir().join("sluice-tests-scratch");
    std::fs::create_dir_all(&scratch).expect("scratch folder");
    let mut command = std::process::Command::new(sluice_binary());
    command.current_dir(scratch);
    command
}

/// A child process killed and reaped when dropped, so a test that fails leaves no host
/// running behind it.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sluice up` on `dir` against `server` (no watching, state in `state`), as a child process
/// a test can kill with SIGKILL.
pub fn spawn_host(server: &crate::NatsServer, dir: &FunctionsDir, state: &Path) -> std::process::Child {
    sluice_command()
        .args(["up", "--no-watch", "--functions"])
        .arg(dir.path())
        .args(["--nats", &server.url(), "--state-dir"])
        .arg(state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start sluice up")
}

/// What `sluice schedules --json --nats URL` prints, parsed; panics with its stderr when it
/// fails.
pub async fn sluice_schedules_json(url: String) -> serde_json::Value {
    let listing = tokio::task::spawn_blocking(move || {
        sluice_command()
            .args(["schedules", "--json", "--nats", &url])
            .output()
            .expect("run sluice schedules")
    })
    .await
    .expect("sluice schedules ran");
    assert!(
        listing.status.success(),
        "{}",
        String::from_utf8_lossy(&listing.stderr)
    );
    serde_json::from_slice(&listing.stdout).expect("sluice schedules --json prints JSON")
}

/// A target folder shared by every test that builds a scaffolded crate, so the SDK's
/// dependencies compile once.
pub fn scaffold_target_dir() -> PathBuf {
    sluice_binary()
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/sluice")
        .join("scaffold")
}

/// A temporary functions folder.
pub struct FunctionsDir {
    dir: TempDir,
}

impl FunctionsDir {
    /// An empty folder.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary functions folder"),
        }
    }

    /// Deploys guest `guest` as function `name` with `manifest` (a [`Manifest`](crate::Manifest)
    /// or TOML text; empty for none).
    pub fn add(&self, name: &str, guest_name: &str, manifest: impl std::fmt::Display) -> &Self {
        std::fs::copy(guest(guest_name), self.path().join(format!("{name}.wasm"))).expect("copy component");
        let manifest = manifest.to_string();
        if !manifest.is_empty() {
            self.write(&format!("{name}.toml"), manifest.as_bytes());
        }
        self
    }

    /// Writes an arbitrary file into the folder.
    pub fn write(&self, file: &str, contents: &[u8]) -> &Self {
        std::fs::write(self.path().join(file), contents).expect("write into functions folder");
        self
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for FunctionsDir {
    fn default() -> Self {
        Self::new()
    }
}
