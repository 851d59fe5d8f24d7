//! Running a handler in a plain `cargo test`, without WebAssembly or NATS.
//!
//! [`TestHost`] plays the Sluice host: it gives the handler a `[config]` table, checks
//! publishes against the function's allowed subjects, keeps them in an outbox that is only
//! "sent" when the handler succeeds, and records log lines.
//!
//! ```
//! use sluice_sdk::testing::TestHost;
//! use sluice_sdk::{Error, Event, Handler};
//!
//! struct Shout;
//!
//! impl Handler for Shout {
//!     fn handle(event: Event) -> Result<(), Error> {
//!         let suffix = sluice_sdk::config("suffix").unwrap_or_default();
//!         let text = format!("{}{suffix}", event.text()?.to_uppercase());
//!         sluice_sdk::publish("shouted", text)
//!     }
//! }
//!
//! let host = TestHost::new().config("suffix", "!").allow_publish("shouted");
//! let outcome = host.run::<Shout>(Event::new("e-1", "words", "hello"));
//! assert!(outcome.result.is_ok());
//! assert_eq!(outcome.published[0].subject, "shouted");
//! assert_eq!(outcome.published[0].payload, b"HELLO!");
//! ```
//!
//! Only available outside WebAssembly.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use crate::host::Level;
use crate::{Error, Event, Handler};

/// A stand-in for the Sluice host in native tests.
#[derive(Debug, Clone, Default)]
pub struct TestHost {
    config: BTreeMap<String, String>,
    allowed: Option<Vec<String>>,
}

/// What one run of a handler did.
#[derive(Debug)]
pub struct Outcome {
    /// What `handle` returned.
    pub result: Result<(), Error>,
    /// What the host would send: the handler's publishes when it succeeded, nothing otherwise.
    pub published: Vec<Published>,
    /// Every publish the handler made, sent or not.
    pub attempted: Vec<Published>,
    /// Log lines, with their level.
    pub logs: Vec<(Level, String)>,
}

/// One message a handler published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The subject.
    pub subject: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// The headers the handler set.
    pub headers: Vec<(String, String)>,
}

impl Published {
    /// The payload parsed as JSON; panics with the payload when it does not parse.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.payload).unwrap_or_else(|error| {
            panic!(
                "payload published to {} is not the expected JSON ({error}): {}",
                self.subject,
                String::from_utf8_lossy(&self.payload)
            )
        })
    }
}

#[derive(Default)]
struct Run {
    host: TestHost,
    reply_to: Option<String>,
    outbox: Vec<Published>,
    logs: Vec<(Level, String)>,
}

thread_local! {
    static CURRENT: RefCell<Option<Run>> = const { RefCell::new(None) };
}

impl TestHost {
    /// A host with no config that lets the handler publish anywhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a `[config]` value.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Allows publishing to subjects matching `pattern` (NATS wildcards `*` and `>`). Once
    /// any pattern is given, other subjects are refused, as `permissions.publish` does; the
    /// event's reply-to is always allowed.
    pub fn allow_publish(mut self, pattern: &str) -> Self {
        self.allowed.get_or_insert_with(Vec::new).push(pattern.to_owned());
        self
    }

    /// Runs `H::handle(event)` with this host.
    pub fn run<H: Handler>(&self, event: Event) -> Outcome {
        let reply_to = event.reply_to().map(str::to_owned);
        CURRENT.with(|current| {
            *current.borrow_mut() = Some(Run {
                host: self.clone(),
                reply_to,
                ..Run::default()
            });
        });
        let result = H::handle(event);
        let run = CURRENT
            .with(|current| current.borrow_mut().take())
            .expect("run state was set");
        let published = if result.is_ok() {
            run.outbox.clone()
        } else {
            Vec::new()
        };
        Outcome {
            result,
            published,
            attempted: run.outbox,
            logs: run.logs,
        }
    }
}

fn with_run<T>(call: &str, action: impl FnOnce(&mut Run) -> T) -> T {
    CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        let run = current.as_mut().unwrap_or_else(|| {
            panic!("sluice_sdk::{call} called outside a Sluice host; in tests, run the handler with sluice_sdk::testing::TestHost")
        });
        action(run)
    })
}

pub(crate) fn publish(subject: &str, payload: &[u8], headers: &[(String, String)]) -> Result<(), String> {
    with_run("publish", |run| {
        let is_reply = run.reply_to.as_deref() == Some(subject);
        if let Some(allowed) = &run.host.allowed
            && !is_reply
            && !allowed.iter().any(|pattern| matches(pattern, subject))
        {
            return Err(format!(
                "publish to `{subject}` denied: not in permissions.publish"
            ));
        }
        run.outbox.push(Published {
            subject: subject.to_owned(),
            payload: payload.to_vec(),
            headers: headers.to_vec(),
        });
        Ok(())
    })
}

pub(crate) fn config(key: &str) -> Option<String> {
    with_run("config", |run| run.host.config.get(key).cloned())
}

pub(crate) fn log(level: Level, message: &str) {
    with_run("log", |run| run.logs.push((level, message.to_owned())));
}

/// NATS subject matching: `*` is one token, a final `>` one or more. (The host has its own
/// copy in `sluice-runtime`; the SDK must not depend on the host.)
fn matches(pattern: &str, subject: &str) -> bool {
    let mut tokens = subject.split('.');
    for want in pattern.split('.') {
        match (want, tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (want, Some(got)) if want == got => {}
            _ => return false,
        }
    }
    tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Flaky;

    impl Handler for Flaky {
        fn handle(event: Event) -> Result<(), Error> {
            crate::log::info("starting");
            crate::publish("audit.seen", event.id())?;
            if event.attempt() < 2 {
                return Err(Error::retryable("not yet"));
            }
            crate::publish("forbidden", "x")
        }
    }

    #[test]
    fn failed_runs_publish_nothing() {
        let outcome = TestHost::new().run::<Flaky>(Event::new("e", "s", ""));
        assert!(outcome.result.unwrap_err().is_retryable());
        assert!(outcome.published.is_empty());
        assert_eq!(outcome.attempted.len(), 1);
        assert_eq!(outcome.logs, [(Level::Info, "starting".to_owned())]);
    }

    #[test]
    fn permissions_are_enforced_like_the_host() {
        let host = TestHost::new().allow_publish("audit.>");
        let outcome = host.run::<Flaky>(Event::new("e", "s", "").with_attempt(2));
        let error = outcome.result.unwrap_err();
        assert!(!error.is_retryable());
        assert!(error.message().contains("`forbidden` denied"), "{error}");
        assert!(matches("a.*.c", "a.b.c") && !matches("a.*", "a.b.c") && matches("a.>", "a.b.c"));
    }
}
