//! Connecting at start while the server may not be up yet: a host started beside its broker
//! (`docker compose`, a pod, a service manager) keeps trying for a bounded time instead of
//! exiting on the first refused connection.

use std::time::{Duration, Instant};

use super::{ConnectError, ConnectionOptions, Failure, connect, redacted};

/// The first pause between tries; it doubles up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// The longest pause between tries, so a server that comes up is found within about this.
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

/// Like [`connect`], but while no server of `urls` accepts connections at all (nothing
/// listens yet, or the connection breaks before NATS speaks), tries again for up to `wait`,
/// logging once that it waits. A refused login, a failed TLS handshake or a bad URL ends it
/// at once: waiting cannot mend those. Zero tries once.
///
/// When it gives up, the error says how long it kept trying.
pub async fn connect_waiting(
    urls: &str,
    options: &ConnectionOptions,
    wait: Duration,
) -> Result<async_nats::Client, ConnectError> {
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        match connect(urls, options).await {
            Ok(client) => {
                if pause > FIRST_PAUSE {
                    tracing::info!(
                        "connected to NATS at {} after {:.1}s",
                        redacted(urls),
                        started.elapsed().as_secs_f64()
                    );
                }
                return Ok(client);
            }
            Err(ConnectError::Server {
                urls: named,
                failure: Failure::Unreachable,
                cause,
                ..
            }) => {
                let remaining = wait.saturating_sub(started.elapsed());
                if remaining.is_zero() {
                    return Err(ConnectError::Server {
                        urls: named,
                        failure: Failure::Unreachable,
                        cause,
                        waited: if wait.is_zero() { wait } else { started.elapsed() },
                    });
                }
                if pause == FIRST_PAUSE {
                    tracing::warn!(
                        "no NATS server at {named} accepts connections yet ({cause}); \
                         trying again for up to {:.1}s",
                        wait.as_secs_f64()
                    );
                }
                tokio::time::sleep(pause.min(remaining)).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
            Err(error) => return Err(error),
        }
    }
}

/// The end of a connection error that came after waiting: how long it kept trying.
pub(super) fn kept_trying(waited: Duration) -> String {
    match waited.is_zero() {
        true => String::new(),
        false => format!("; kept trying for {:.1}s (--nats-wait)", waited.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_server_is_tried_until_the_wait_is_over() {
        // Port 1 on loopback: nothing listens, every try is refused at once.
        let wait = Duration::from_millis(700);
        let started = Instant::now();
        let error = connect_waiting("nats://127.0.0.1:1", &ConnectionOptions::default(), wait)
            .await
            .expect_err("nothing listens on port 1");
        let ConnectError::Server { failure, waited, .. } = &error else {
            panic!("not a server error: {error}");
        };
        assert_eq!(*failure, Failure::Unreachable);
        // Tries after pauses of 100, 200 and 400 ms, and a last one when the wait is over.
        assert!(*waited >= wait, "{waited:?}");
        assert!(
            started.elapsed() < wait + LONGEST_PAUSE,
            "{:?}",
            started.elapsed()
        );
        let message = error.to_string();
        assert!(message.contains("; kept trying for "), "{message}");
        assert!(message.ends_with("s (--nats-wait)"), "{message}");
    }

    #[tokio::test]
    async fn no_wait_tries_once() {
        let error = connect_waiting(
            "nats://127.0.0.1:1",
            &ConnectionOptions::default(),
            Duration::ZERO,
        )
        .await
        .expect_err("nothing listens on port 1");
        assert!(matches!(error, ConnectError::Server { waited, .. } if waited.is_zero()));
        assert!(!error.to_string().contains("kept trying"), "{error}");
    }

    #[tokio::test]
    async fn a_bad_url_is_not_waited_for() {
        let started = Instant::now();
        let error = connect_waiting(
            "not a url at all::",
            &ConnectionOptions::default(),
            Duration::from_secs(30),
        )
        .await
        .expect_err("not a URL");
        assert!(matches!(error, ConnectError::Url { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
