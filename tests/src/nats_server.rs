//! A `nats-server` child on a free loopback port, killed on drop.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A running `nats-server` owned by one test.
pub struct NatsServer {
    child: Child,
    port: u16,
    store: TempDir,
    config: Option<PathBuf>,
    name: String,
    jetstream: bool,
}

impl NatsServer {
    /// Starts `nats-server` (JetStream on, data in a temporary folder) on a free port on
    /// 127.0.0.1 and waits until it accepts connections.
    ///
    /// Panics with how to install it when the binary is missing: a test that needs NATS never
    /// skips silently.
    pub fn start() -> Self {
        Self::start_on(None, true)
    }

    /// Like [`start`](Self::start) without JetStream: a core-only server, whose JetStream API
    /// nobody serves.
    pub fn start_core_only() -> Self {
        Self::start_on(None, false)
    }

    /// Like [`start`](Self::start), with `extra_conf` (nats-server configuration, e.g. a
    /// `tls { ... }` or `authorization { ... }` block) written to a config file the server
    /// loads. Address, port and JetStream still come from the command line.
    pub fn start_with_config(extra_conf: &str) -> Self {
        Self::start_on(Some(extra_conf), true)
    }

    fn start_on(extra_conf: Option<&str>, jetstream: bool) -> Self {
        let store = tempfile::tempdir().expect("temporary folder for JetStream");
        let config = extra_conf.map(|conf| {
            let file = store.path().join("nats-server.conf");
            std::fs::write(&file, conf).expect("write nats-server.conf");
            file
        });
        // A name of its own: a server of another test that holds the port answers too.
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "sluice-test-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        );
        for _ in 0..5 {
            let port = free_port();
            let mut child = spawn(port, jetstream.then_some(&store), config.as_ref(), &name);
            if wait_until_ready(&mut child, port, Some(&name)) {
                return Self {
                    child,
                    port,
                    store,
                    config,
                    name,
                    jetstream,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("nats-server did not start on a free port after 5 tries");
    }

    /// Kills the server and starts it again on the same port with the same data: the broker
    /// going away and coming back.
    pub fn restart(&mut self) {
        self.kill();
        let store = self.jetstream.then_some(&self.store);
        self.child = spawn(self.port, store, self.config.as_ref(), &self.name);
        assert!(
            wait_until_ready(&mut self.child, self.port, Some(&self.name)),
            "nats-server did not come back on port {}",
            self.port
        );
    }

    /// Like [`restart`](Self::restart), with JetStream turned on or off.
    pub fn restart_with_jetstream(&mut self, jetstream: bool) {
        self.jetstream = jetstream;
        self.restart();
    }

    /// Kills the server; connected clients see the connection drop.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's process id (to read what CPU it used from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The URL to connect to.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Connects a plain client, for publishing test events and watching results.
    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(self.url())
            .await
            .expect("test client connects to nats-server")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `nats-server` on `port`, with JetStream data in `store` (none: no JetStream).
fn spawn(port: u16, store: Option<&TempDir>, config: Option<&PathBuf>, name: &str) -> Child {
    let mut command = command(port, store.map(TempDir::path));
    command.args(["--server_name", name]);
    if let Some(config) = config {
        command.arg("-c").arg(config);
    }
    command.spawn().expect("cannot start nats-server")
}

/// `nats-server` listening for clients on `127.0.0.1:port` with JetStream data in `store`
/// (`None`: without JetStream), its output discarded.
pub(crate) fn command(port: u16, store: Option<&Path>) -> Command {
    let mut command = Command::new(server_binary());
    command
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(store) = store {
        command.args(["-js", "-sd"]).arg(store);
    }
    command
}

/// The oldest nats-server the tests accept.
const OLDEST: (u32, u32) = (2, 12);

/// The `nats-server` the tests run, found once: the file `SLUICE_NATS_SERVER` names, else the
/// one `scripts/ensure-deps.sh` installs under this workspace's `target/`, else the first on
/// `PATH` ([`find_binary`](sluice_runtime::nats::find_binary)).
///
/// Panics, saying how to get a current one, when it is missing or older than 2.12: the tests
/// are written against a current server and must not quietly run an old one.
pub fn server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let installed =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/nats-server-venv/bin/nats-server");
        let binary = if std::env::var_os(sluice_runtime::nats::SERVER_ENV).is_none() && installed.is_file() {
            installed
        } else {
            sluice_runtime::nats::find_binary()
                .unwrap_or_else(|error| panic!("{error:#} (scripts/ensure-deps.sh installs the pinned one)"))
        };
        let version = version_of(&binary);
        let shown = version.map_or("of an unknown version".to_owned(), |(major, minor)| {
            format!("nats-server {major}.{minor}")
        });
        assert!(
            version.is_some_and(|version| version >= OLDEST),
            "{} is {shown}; the tests need {}.{} or newer: run scripts/ensure-deps.sh (installs \
             the pinned one into target/nats-server-venv) or set SLUICE_NATS_SERVER=PATH",
            binary.display(),
            OLDEST.0,
            OLDEST.1,
        );
        binary
    })
}

/// Major and minor version `binary --version` prints (`nats-server: v2.15.1`).
fn version_of(binary: &Path) -> Option<(u32, u32)> {
    let output = Command::new(binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.trim().strip_prefix("nats-server: v")?;
    let mut parts = version.split('.').map(str::parse);
    Some((parts.next()?.ok()?, parts.next()?.ok()?))
}

/// Waits up to 10 s until the server accepts connections (and, given its `name`, answers
/// with that name rather than being another test's server on the same port); false if it
/// exited or never did.
pub(crate) fn wait_until_ready(child: &mut Child, port: u16, name: Option<&str>) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_exit)) = child.try_wait() {
            return false;
        }
        if let Ok(stream) = TcpStream::connect_timeout(&address, Duration::from_millis(100))
            && name.is_none_or(|name| answers_as(stream, name))
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Whether the server behind `stream` introduces itself (its first `INFO` line) as `name`.
fn answers_as(mut stream: TcpStream, name: &str) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut info = Vec::new();
    let mut byte = [0; 1];
    while !info.ends_with(b"\n") && info.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => info.push(byte[0]),
            _ => return false,
        }
    }
    String::from_utf8_lossy(&info).contains(&format!("\"server_name\":\"{name}\""))
}

pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    listener.local_addr().expect("bound address").port()
}
