//! Whether JetStream answers on a connection, learned once per connection.
//!
//! A deploy asks JetStream for streams, consumers and buckets. On a server without
//! JetStream those requests normally fail at once ("no responders"), but as soon as any
//! client subscribes to a wildcard that covers `$JS.API.>` (a developer running
//! `nats sub '>'`), the request reaches that subscriber, nobody answers, and each request
//! waits for its timeout. So the host asks once per connection, with a short timeout, and
//! remembers: one account-info request (`$JS.API.INFO`) in the background, whose answer
//! (or silence, weighed against whether the server announced JetStream in its `INFO`)
//! says whether JetStream is there. A deploy reads the answer without waiting when it is
//! known. A connection is told apart by its server's id and the client id that server gave
//! it, so after a reconnect (to another server, or a restarted one) the answer is learned
//! again, on the first question. (The client's event callback, which sees reconnects, cannot
//! start the probe: it would need a client handle, and a handle held by the connection's own
//! callback would keep the connection open forever.)

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How long the account-info request waits for an answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The JetStream API subject answering account info.
const ACCOUNT_INFO: &str = "$JS.API.INFO";

/// JetStream error codes meaning "not enabled": for the account (10039), on the server (10076).
const NOT_ENABLED: [u64; 2] = [10039, 10076];

/// Whether JetStream can be used on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JetStream {
    /// JetStream answers (or the server announced it and was merely slow).
    Available,
    /// No JetStream: nobody answered, or the server said it is not enabled.
    Unavailable,
}

/// What the account-info request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// An answer, with the JetStream error code it carried, if any.
    Answered(Option<u64>),
    /// The server said nobody serves the JetStream API.
    NoResponders,
    /// No answer within [`PROBE_TIMEOUT`] (a wildcard subscriber took the request), or the
    /// connection failed.
    Silent,
}

impl Probe {
    /// What the probe means, given whether the server announced JetStream in its `INFO`.
    fn verdict(self, announced: bool) -> JetStream {
        match self {
            Self::Answered(Some(code)) if NOT_ENABLED.contains(&code) => JetStream::Unavailable,
            Self::Answered(_) => JetStream::Available,
            Self::NoResponders => JetStream::Unavailable,
            Self::Silent if announced => JetStream::Available,
            Self::Silent => JetStream::Unavailable,
        }
    }
}

/// One connection: its server's id and the client id the server gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Connection {
    server_id: String,
    client_id: u64,
}

impl Connection {
    fn of(client: &async_nats::Client) -> Self {
        let info = client.server_info();
        Self {
            server_id: info.server_id,
            client_id: info.client_id,
        }
    }
}

/// What is known, about which connection.
#[derive(Debug, Clone, Default)]
struct Learned {
    /// The connection the answer is about; `None` before anything was asked.
    connection: Option<Connection>,
    /// The answer; `None` while the probe runs.
    answer: Option<JetStream>,
}

/// The JetStream availability of a client's connection, learned in the background once per
/// connection. A cheap handle: clones share what was learned.
#[derive(Clone, Default)]
pub struct JetStreamAvailability {
    learned: Arc<watch::Sender<Learned>>,
}

impl JetStreamAvailability {
    /// The answer for `client`'s current connection if it is known; otherwise `None`, and
    /// the probe is started in the background (unless it already runs). Never waits.
    pub fn now(&self, client: &async_nats::Client) -> Option<JetStream> {
        let connection = Connection::of(client);
        let mut start = false;
        self.learned.send_if_modified(|learned| {
            if learned.connection.as_ref() == Some(&connection) {
                return false;
            }
            *learned = Learned {
                connection: Some(connection.clone()),
                answer: None,
            };
            start = true;
            true
        });
        if !start {
            return self.learned.borrow().answer;
        }
        // Not tracked: it owns a client clone and ends within PROBE_TIMEOUT.
        let (learned, client) = (self.learned.clone(), client.clone());
        tokio::spawn(async move {
            let announced = client.server_info().jetstream;
            let answer = probe(&client).await.verdict(announced);
            match answer {
                JetStream::Available => tracing::debug!("JetStream is available on this NATS connection"),
                JetStream::Unavailable => tracing::info!(
                    "JetStream is not available on this NATS connection: core functions run, their \
                     dead letters are published but not kept; JetStream functions and [state] \
                     buckets cannot be deployed"
                ),
            }
            learned.send_if_modified(|learned| {
                let current = learned.connection.as_ref() == Some(&connection);
                if current {
                    learned.answer = Some(answer);
                }
                current
            });
        });
        None
    }

    /// The answer for `client`'s current connection, waiting for the probe when it is not
    /// known yet (at most about [`PROBE_TIMEOUT`] per connection change).
    pub async fn learned(&self, client: &async_nats::Client) -> JetStream {
        loop {
            if let Some(answer) = self.now(client) {
                return answer;
            }
            let connection = Connection::of(client);
            let mut changes = self.learned.subscribe();
            // The sender lives in `self`, so this only ends when the value changes.
            let _ = changes
                .wait_for(|learned| {
                    learned.answer.is_some() || learned.connection.as_ref() != Some(&connection)
                })
                .await;
        }
    }
}

/// Asks `$JS.API.INFO` once, waiting at most [`PROBE_TIMEOUT`].
async fn probe(client: &async_nats::Client) -> Probe {
    use async_nats::RequestErrorKind;
    let request = async_nats::Request::new()
        .payload(bytes::Bytes::new())
        .timeout(Some(PROBE_TIMEOUT));
    match client.send_request(ACCOUNT_INFO, request).await {
        Ok(message) => Probe::Answered(error_code(&message.payload)),
        Err(error) if error.kind() == RequestErrorKind::NoResponders => Probe::NoResponders,
        Err(_) => Probe::Silent,
    }
}

/// The JetStream error code in an API answer, if it carries one. Read by hand: nats-server
/// 2.9 answers account info in a shape the client's type does not parse.
fn error_code(payload: &[u8]) -> Option<u64> {
    let answer: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let error = answer.get("error")?;
    error
        .get("err_code")
        .or_else(|| error.get("code"))
        .and_then(serde_json::Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_means_jetstream_unless_it_says_not_enabled() {
        assert_eq!(Probe::Answered(None).verdict(false), JetStream::Available);
        assert_eq!(Probe::Answered(Some(10039)).verdict(true), JetStream::Unavailable);
        assert_eq!(Probe::Answered(Some(10076)).verdict(true), JetStream::Unavailable);
        // Another error (no meta leader yet, say) comes from a JetStream that is there.
        assert_eq!(Probe::Answered(Some(10008)).verdict(false), JetStream::Available);
    }

    #[test]
    fn silence_is_weighed_against_what_the_server_announced() {
        assert_eq!(Probe::NoResponders.verdict(true), JetStream::Unavailable);
        assert_eq!(Probe::Silent.verdict(false), JetStream::Unavailable);
        assert_eq!(Probe::Silent.verdict(true), JetStream::Available);
    }

    #[test]
    fn error_codes_are_read_from_the_answer() {
        let not_enabled =
            br#"{"type":"io.nats.jetstream.api.v1.account_info_response","error":{"code":503,"err_code":10039,"description":"jetstream not enabled for account"}}"#;
        assert_eq!(error_code(not_enabled), Some(10039));
        assert_eq!(error_code(br#"{"memory":0,"storage":0}"#), None);
        assert_eq!(error_code(b"not json"), None);
    }
}
