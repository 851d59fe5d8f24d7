//! The NATS side: connecting (to one server or a cluster, with authentication and TLS) with
//! one clear error line when that fails, logged connection events, whether JetStream is
//! there (learned once per connection), and a local `nats-server` child for `sluice up`
//! without `--nats`.

pub mod jetstream_availability;
mod local;
pub mod options;
mod waiting;

use std::time::Duration;

use async_nats::ConnectErrorKind;

pub use jetstream_availability::{JetStream, JetStreamAvailability};
pub use local::{INSTALL_HINT, LocalNatsServer, SERVER_ENV, answers, find_binary};
pub use options::{Auth, ClientCert, ConnectionOptions, OptionsError, Tls};
pub use waiting::connect_waiting;

/// The address `sluice up` tries when no `--nats` is given.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// Messages the NATS client buffers per subscription before it drops (slow consumer).
const SUBSCRIPTION_CAPACITY: usize = 1 << 20;

/// Connecting to NATS failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A file named by the connection options could not be used; nothing was sent.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// The server list is not a list of NATS URLs.
    #[error("{urls:?} is not a NATS URL or comma-separated list of them: {cause}")]
    Url {
        /// The server list as given.
        urls: String,
        /// Why it does not parse.
        cause: String,
    },
    /// No server of the list accepted the connection.
    #[error("cannot connect to NATS at {urls}: {cause}{}{}", .failure.hint(), waiting::kept_trying(*.waited))]
    Server {
        /// The server list as given.
        urls: String,
        /// What kind of failure it was, for callers that branch on it.
        failure: Failure,
        /// The client's description of the failure, e.g. `authorization violation`.
        cause: String,
        /// How long [`connect_waiting`] kept trying before it gave up (zero: one try).
        waited: Duration,
    },
}

/// Why no server accepted the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nothing answered, or the connection broke before NATS spoke.
    Unreachable,
    /// The server rejected the credentials.
    Authorization,
    /// The TLS handshake failed (untrusted certificate, no client certificate, ...).
    Tls,
}

impl Failure {
    /// Classifies a client error: TLS failures surface as I/O errors wrapping a rustls error.
    fn of(error: &async_nats::ConnectError) -> Self {
        match error.kind() {
            ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
                Self::Authorization
            }
            ConnectErrorKind::Tls => Self::Tls,
            _ if wraps_tls_error(error) => Self::Tls,
            _ => Self::Unreachable,
        }
    }

    /// What to check, after the cause.
    fn hint(self) -> &'static str {
        match self {
            Self::Authorization => {
                " (check --nats-user/--nats-password, --nats-token, --nats-creds or --nats-nkey)"
            }
            Self::Tls => " (check --tls-ca, --tls-cert and --tls-key)",
            Self::Unreachable => " (is nats-server running? use --nats URL)",
        }
    }
}

/// The cause of `error` in a few words, without repeating itself (the server's
/// `nats: authorization violation` already says what the kind would).
fn describe(error: &async_nats::ConnectError, failure: Failure) -> String {
    let kind = error.kind().to_string();
    match std::error::Error::source(error).map(ToString::to_string) {
        Some(source) if failure == Failure::Tls => format!("TLS handshake failed: {source}"),
        Some(source) if source.contains(&kind) => source,
        Some(source) => format!("{kind}: {source}"),
        None => kind,
    }
}

/// Whether the source of `error` is an I/O error carrying a rustls error.
fn wraps_tls_error(error: &async_nats::ConnectError) -> bool {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .and_then(std::io::Error::get_ref)
        .is_some_and(|inner| inner.is::<async_nats::rustls::Error>())
}

/// How long [`round_trip`] waits for the server.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits until the server has processed everything `client` sent before (its subscriptions
/// above all), so a message another connection publishes from now on reaches them.
///
/// `Client::flush` only empties the client's write buffer; the server may still be reading
/// the subscriptions when it returns. A message the client sends to its own inbox comes back
/// only after the server processed what came before it on the connection.
pub async fn round_trip(client: &async_nats::Client) -> anyhow::Result<()> {
    use futures::StreamExt;
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await?;
    client.publish(inbox, bytes::Bytes::new()).await?;
    client.flush().await?;
    match tokio::time::timeout(ROUND_TRIP_TIMEOUT, echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => anyhow::bail!("the connection closed before the server answered"),
        Err(_) => anyhow::bail!("the server did not answer within {ROUND_TRIP_TIMEOUT:?}"),
    }
}

/// `(major, minor)` of a server version like `2.15.0` or `v2.9.10`.
pub fn parse_version(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The connected server's version when it is older than `needed` (`(major, minor)`), for
/// a one-line refusal naming both; `None` when it is recent enough or says nothing parseable.
pub fn older_than(client: &async_nats::Client, needed: (u64, u64)) -> Option<String> {
    let connected = client.server_info().version;
    parse_version(&connected)
        .is_some_and(|version| version < needed)
        .then_some(connected)
}

/// The servers in `urls`: one URL or a comma-separated list (`nats://a:4222,nats://b:4222`).
pub fn server_list(urls: &str) -> Vec<&str> {
    urls.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .collect()
}

/// Connects to `urls` (one URL or a comma-separated cluster list) with `options`, failing
/// fast with one line naming the URLs and the cause when no server accepts. Once connected,
/// the client reconnects forever; disconnects and slow-consumer drops are logged.
pub async fn connect(urls: &str, options: &ConnectionOptions) -> Result<async_nats::Client, ConnectError> {
    let servers: Vec<async_nats::ServerAddr> = server_list(urls)
        .into_iter()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|error: std::io::Error| ConnectError::Url {
            urls: redacted(urls),
            cause: error.to_string(),
        })?;
    if servers.is_empty() {
        return Err(ConnectError::Url {
            urls: redacted(urls),
            cause: "no URL given".to_owned(),
        });
    }
    let mut client_options = options.apply(client_options())?;
    if matches!(options.auth, Auth::None) {
        client_options = with_url_credentials(client_options, &servers);
    }
    client_options.connect(servers).await.map_err(|error| {
        let failure = Failure::of(&error);
        ConnectError::Server {
            urls: redacted(urls),
            failure,
            cause: describe(&error, failure),
            waited: Duration::ZERO,
        }
    })
}

/// `urls` with any password or token written into them replaced by `***`, for messages.
pub fn redacted(urls: &str) -> String {
    server_list(urls)
        .into_iter()
        .map(|url| match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let userinfo = &url[scheme + 3..at];
                let user = match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***"),
                    None => "***".to_owned(),
                };
                format!("{}{user}{}", &url[..scheme + 3], &url[at..])
            }
            _ => url.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Credentials written into a server URL (`nats://user:password@host`, or
/// `nats://token@host`): async-nats parses them but does not send them, so they are applied
/// here (the first URL that has any wins).
fn with_url_credentials(
    options: async_nats::ConnectOptions,
    servers: &[async_nats::ServerAddr],
) -> async_nats::ConnectOptions {
    let credentials = servers.iter().find_map(|server| {
        Some((
            server.username()?.to_owned(),
            server.password().map(str::to_owned),
        ))
    });
    match credentials {
        Some((user, Some(password))) => options.user_and_password(user, password),
        Some((token, None)) => options.token(token),
        None => options,
    }
}

/// The client settings Sluice always uses, before authentication and TLS.
fn client_options() -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::new()
        .name("sluice")
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(None)
        // Each function's intake moves messages into its own bounded queue
        // (`limits.max_pending`, `limits.max_pending_bytes`), where overflow is counted per
        // function. The client's
        // per-subscription buffer is made large enough that it is never the place where
        // events are dropped first, even while the intake waits for a busy executor.
        .subscription_capacity(SUBSCRIPTION_CAPACITY)
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Connected => tracing::info!("NATS connection (re)established"),
                async_nats::Event::Disconnected => tracing::warn!("NATS connection lost; reconnecting"),
                async_nats::Event::SlowConsumer(sid) => {
                    tracing::error!("NATS dropped messages of subscription {sid}: the host fell behind")
                }
                other => tracing::info!("NATS: {other}"),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_versions_parse() {
        assert_eq!(parse_version("2.15.0"), Some((2, 15)));
        assert_eq!(parse_version("v2.9.10"), Some((2, 9)));
        assert_eq!(parse_version("2.12.0-beta.1"), Some((2, 12)));
        assert_eq!(parse_version("nonsense"), None);
    }

    #[test]
    fn secrets_in_urls_are_not_repeated() {
        assert_eq!(
            redacted("nats://ana:pw@a:4222,nats://tok@b:4222,nats://c:4222"),
            "nats://ana:***@a:4222,nats://***@b:4222,nats://c:4222"
        );
    }

    #[test]
    fn a_cluster_is_a_comma_separated_list() {
        assert_eq!(
            server_list("nats://a:4222, nats://b:4222,"),
            ["nats://a:4222", "nats://b:4222"]
        );
        assert_eq!(server_list(DEFAULT_URL), [DEFAULT_URL]);
    }

    #[tokio::test]
    async fn a_bad_url_is_named() {
        let error = connect("nats://a:4222,nats://b:notaport", &ConnectionOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("\"nats://a:4222,nats://b:notaport\" is not a NATS URL"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn nothing_listening_says_so_with_the_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("nats://127.0.0.1:{port}");
        let error = connect(&url, &ConnectionOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!("cannot connect to NATS at {url}: ")),
            "{error}"
        );
        assert!(error.contains("is nats-server running?"), "{error}");
    }
}
