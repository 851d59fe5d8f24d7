//! The host as users run it: the `sluice` binary beside this one (`cargo build [--release]
//! -p sluice-cli`), started as `sluice up --functions DIR --nats URL` with no other flags, its
//! default log level, and `order-total` with the manifest it ships with. Its output goes to
//! `/dev/null`, the cheapest place a log can go.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use sluice_tests::{FunctionsDir, NatsServer};

use crate::workload;

/// The manifest `order-total` ships with (core NATS, `max_concurrency = 16`, default
/// pending bounds).
pub const SHIPPED: &str = include_str!("../../functions/order-total/order-total.toml");

/// How the report names the row, and the `SLUICE_LOG` it runs with (`None`: the default).
pub const ROWS: [(&str, Option<&str>); 2] = [
    ("Sluice, shipped `sluice up` process, defaults", None),
    ("Sluice, shipped `sluice up` process, SLUICE_LOG=off", Some("off")),
];

/// The `sluice` binary beside this one.
pub fn sluice_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let binary = exe.with_file_name("sluice");
    anyhow::ensure!(
        binary.is_file(),
        "{} is missing; build it with `cargo build -p sluice-cli` in the same profile",
        binary.display()
    );
    Ok(binary)
}

/// The shipped manifest listening on `subject` instead of `orders.placed`.
fn listening_on(subject: &str) -> anyhow::Result<String> {
    let shipped = "subjects = [\"orders.placed\"]";
    anyhow::ensure!(
        SHIPPED.contains(shipped),
        "order-total's shipped manifest no longer says {shipped}"
    );
    Ok(SHIPPED.replace(shipped, &format!("subjects = [\"{subject}\"]")))
}

/// A running `sluice up`, killed on drop.
pub struct ShippedHost {
    child: Child,
    _dir: FunctionsDir,
}

impl Drop for ShippedHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ShippedHost {
    /// Starts `sluice up` on `server` (with `SLUICE_LOG=log` when given) and returns once it
    /// has totalled an order.
    pub async fn start(server: &NatsServer, log: Option<&str>, timeout: Duration) -> anyhow::Result<Self> {
        Self::start_with(server, log, &[], &[], timeout).await
    }

    /// Like [`ShippedHost::start`], with `args` appended to `sluice up`'s command line and
    /// `env` set for it. No `OTEL_*` variable of this process reaches it: tracing is on only
    /// when `args` or `env` turn it on.
    pub async fn start_with(
        server: &NatsServer,
        log: Option<&str>,
        args: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut host = Self::spawn(server, log, SHIPPED, args, env)?;
        host.until_serving(server, &["orders.placed".to_owned()], timeout)
            .await?;
        Ok(host)
    }

    /// Starts `sluice up` on `server` with `copies` copies of order-total under its shipped
    /// manifest, copy `i` named `order-total-i` and listening on `orders.placed.i` alone;
    /// returns the host and the subjects once every copy has totalled an order.
    pub async fn start_copies(
        server: &NatsServer,
        copies: usize,
        timeout: Duration,
    ) -> anyhow::Result<(Self, Vec<String>)> {
        let subjects: Vec<String> = (0..copies).map(|i| format!("orders.placed.{i}")).collect();
        let functions: Vec<(String, String)> = subjects
            .iter()
            .enumerate()
            .map(|(i, subject)| Ok((format!("order-total-{i}"), listening_on(subject)?)))
            .collect::<anyhow::Result<_>>()?;
        let mut host = Self::spawn_functions(server, None, &functions, &[], &[])?;
        host.until_serving(server, &subjects, timeout).await?;
        Ok((host, subjects))
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `sluice up` on `server` with order-total under `manifest`, without waiting
    /// for it to serve (for a JetStream function, whose stream already holds the work).
    pub fn spawn(
        server: &NatsServer,
        log: Option<&str>,
        manifest: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::spawn_functions(
            server,
            log,
            &[("order-total".to_owned(), manifest.to_owned())],
            args,
            env,
        )
    }

    /// Like [`ShippedHost::spawn`], with several copies of order-total: `(name, manifest)`.
    fn spawn_functions(
        server: &NatsServer,
        log: Option<&str>,
        functions: &[(String, String)],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let binary = sluice_binary()?;
        let dir = FunctionsDir::new();
        for (name, manifest) in functions {
            dir.add(name, "order-total", manifest);
        }
        let mut command = Command::new(binary);
        command.env_remove("SLUICE_LOG");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("OTEL_") {
                command.env_remove(name);
            }
        }
        if let Some(log) = log {
            command.env("SLUICE_LOG", log);
        }
        command.envs(env.iter().copied());
        let child = command
            .args(["up", "--functions"])
            .arg(dir.path())
            .args(["--nats", &server.url()])
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Self { child, _dir: dir })
    }

    /// Publishes an order on each of `subjects` every 100 ms until as many totals come back
    /// in one round: every function serves.
    async fn until_serving(
        &mut self,
        server: &NatsServer,
        subjects: &[String],
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let client = server.client().await;
        let mut totals = client.subscribe("orders.totalled").await?;
        let started = Instant::now();
        loop {
            for subject in subjects {
                client.publish(subject.clone(), workload::order(0).into()).await?;
            }
            client.flush().await?;
            let mut answered = 0;
            while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), totals.next()).await {
                answered += 1;
            }
            if answered >= subjects.len() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("`sluice up` exited ({status}) before serving");
            }
            anyhow::ensure!(
                started.elapsed() < timeout,
                "`sluice up` did not serve within {timeout:?}"
            );
        }
    }
}
