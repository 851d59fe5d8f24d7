//! A `nats-server` child on a free loopback port, killed on drop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A running `nats-server` owned by one test.
pub struct NatsServer {
    child: Child,
    port: u16,
    _store: TempDir,
}

impl NatsServer {
    /// Starts `nats-server` (JetStream on, data in a temporary folder) on a free port on
    /// 127.0.0.1 and waits until it accepts connections.
    ///
    /// Panics with how to install it when the binary is missing: a test that needs NATS never
    /// skips silently.
    pub fn start() -> Self {
        let binary = sluice_runtime::nats::find_binary().unwrap_or_else(|error| panic!("{error:#}"));
        let store = tempfile::tempdir().expect("temporary folder for JetStream");
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&binary)
                .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
                .arg(store.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot start nats-server");
            let mut server = Self {
                child,
                port,
                _store: tempfile::tempdir().expect("tempdir"),
            };
            if server.wait_until_ready(Duration::from_secs(10)) {
                server._store = store;
                return server;
            }
        }
        panic!("nats-server did not start on a free port after 5 tries");
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

    fn wait_until_ready(&mut self, timeout: Duration) -> bool {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_exit)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        false
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    listener.local_addr().expect("bound address").port()
}
