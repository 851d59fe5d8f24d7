//! Running a handler in a plain `cargo test`, without WebAssembly or NATS.
//!
//! [`TestHost`] plays the Sluice host: it gives the handler a `[config]` table, checks
//! publishes against the function's allowed subjects, keeps them in an outbox that is only
//! "sent" when the handler succeeds, records log lines, keeps key-value buckets in memory
//! (shared by every run of one host, so a test can run several events against the same
//! state), answers requests with canned replies and HTTP requests with canned responses.
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

mod batch;
mod delay;
mod http;
mod kv;
mod request;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use sluice_protocol::{AuthorityPattern, SubjectPattern};

use crate::http::error::HttpError;
use crate::http::response::Response;
use crate::kv::entry::Entry;
use crate::level::Level;
use crate::request::reply::Reply;
use crate::{Error, Event, Handler};
pub(crate) use batch::begin_event;
use batch::{BatchRun, EventRun};
pub use delay::{Fires, Scheduled};
pub(crate) use delay::{cancel_scheduled, publish_after, publish_at};
pub use http::HttpCall;
pub(crate) use http::http_send;
pub(crate) use kv::{kv_compare_and_swap, kv_delete, kv_get, kv_keys, kv_set};
pub(crate) use request::request;

/// A stand-in for the Sluice host in native tests.
///
/// Clones share one set of key-value buckets.
#[derive(Debug, Clone, Default)]
pub struct TestHost {
    config: BTreeMap<String, String>,
    secrets: BTreeMap<String, String>,
    allowed: Option<Vec<SubjectPattern>>,
    buckets: Option<Vec<String>>,
    requests_allowed: Option<Vec<SubjectPattern>>,
    answers: BTreeMap<String, request::Answer>,
    http_allowed: Option<Vec<AuthorityPattern>>,
    http_answers: BTreeMap<String, http::Canned>,
    kv: Arc<Mutex<kv::MemoryKv>>,
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
    /// The delayed events the host would schedule: the handler's `publish_after` and
    /// `publish_at` calls when it succeeded, nothing otherwise.
    pub scheduled: Vec<Scheduled>,
    /// The delayed events the host would cancel (`cancel_scheduled`), when it succeeded.
    pub cancelled: Vec<String>,
    /// Log lines, with their level.
    pub logs: Vec<(Level, String)>,
    /// Every request the handler sent (requests go out at once, so also in a failed run).
    pub requests: Vec<Published>,
    /// Every HTTP request the handler sent that `permissions.http` let through (they go out
    /// at once too).
    pub http: Vec<HttpCall>,
}

/// One message a handler published, or one request it sent.
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
    event_id: String,
    reply_to: Option<String>,
    outbox: Vec<Published>,
    scheduled: Vec<Scheduled>,
    cancelled: Vec<String>,
    logs: Vec<(Level, String)>,
    requests: Vec<Published>,
    http: Vec<HttpCall>,
    batch: Option<BatchRun>,
}

thread_local! {
    static CURRENT: RefCell<Option<Run>> = const { RefCell::new(None) };
}

impl TestHost {
    /// A host with no config that lets the handler publish anywhere, use any bucket and
    /// send requests to any subject, but, as a manifest without `permissions.http`, sends no
    /// HTTP request until [`allow_http`](Self::allow_http).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a `[config]` value.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Sets secret `name` (as if the manifest's `[secrets]` named it and its source held
    /// `value`); [`secret`](crate::secret) of any other name is refused.
    pub fn secret(mut self, name: &str, value: &str) -> Self {
        self.secrets.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Allows publishing to subjects matching `pattern` (NATS wildcards `*` and `>`). Once
    /// any pattern is given, other subjects are refused, as `permissions.publish` does; the
    /// event's reply-to is always allowed.
    ///
    /// Panics if `pattern` is not a subject pattern, as a manifest with it would not load.
    pub fn allow_publish(mut self, pattern: &str) -> Self {
        let pattern = subject_pattern("allow_publish", pattern);
        self.allowed.get_or_insert_with(Vec::new).push(pattern);
        self
    }

    /// Allows key-value bucket `bucket`. Once any bucket is given, other buckets are
    /// refused, as `[state] buckets` does; before that every bucket is allowed.
    pub fn allow_bucket(mut self, bucket: &str) -> Self {
        self.buckets.get_or_insert_with(Vec::new).push(bucket.to_owned());
        self
    }

    /// Stores `value` under `key` in `bucket` before the handler runs.
    pub fn with_value(self, bucket: &str, key: &str, value: impl Into<Vec<u8>>) -> Self {
        self.lock_kv().write(bucket, key, Some(value.into()));
        self
    }

    /// What `bucket` holds under `key` now, with its revision.
    pub fn kv_entry(&self, bucket: &str, key: &str) -> Option<Entry> {
        self.lock_kv().get(bucket, key)
    }

    /// Allows requests to subjects matching `pattern`. Once any pattern is given, other
    /// subjects are refused, as `permissions.request` does; before that every subject is
    /// allowed.
    ///
    /// Panics if `pattern` is not a subject pattern, as a manifest with it would not load.
    pub fn allow_request(mut self, pattern: &str) -> Self {
        let pattern = subject_pattern("allow_request", pattern);
        self.requests_allowed.get_or_insert_with(Vec::new).push(pattern);
        self
    }

    /// Answers requests to `subject` with `payload`. A request to a subject with no answer
    /// fails with no responders.
    pub fn answer(mut self, subject: &str, payload: impl Into<Vec<u8>>) -> Self {
        let reply = Reply::new(payload, Vec::new());
        self.answers
            .insert(subject.to_owned(), request::Answer::Reply(reply));
        self
    }

    /// Lets requests to `subject` time out.
    pub fn time_out(mut self, subject: &str) -> Self {
        self.answers.insert(subject.to_owned(), request::Answer::Timeout);
        self
    }

    /// Allows HTTP requests to `entry`, a `permissions.http` entry: `host` (the scheme's
    /// default port only), `host:port` or `*.domain` (subdomains, not the domain). As in a
    /// manifest, a host allows nothing until some entry is given: every request is
    /// [`HttpError::Denied`].
    ///
    /// Panics if `entry` is not a `permissions.http` entry, as a manifest with it would not
    /// load.
    pub fn allow_http(mut self, entry: &str) -> Self {
        let entry = AuthorityPattern::parse(entry)
            .unwrap_or_else(|why| panic!("TestHost::allow_http: permissions.http: {why}"));
        self.http_allowed.get_or_insert_with(Vec::new).push(entry);
        self
    }

    /// Answers HTTP requests to `url_or_host` with `status` and `body`, no headers.
    /// `url_or_host` is a whole URL (matched with or without the request's query), a
    /// `host:port`, or a host (any port); the most specific one that matches answers. An
    /// allowed request nothing answers fails with [`HttpError::Connection`].
    pub fn respond(self, url_or_host: &str, status: u16, body: impl Into<Vec<u8>>) -> Self {
        self.respond_with(url_or_host, Response::new(status, Vec::new(), body))
    }

    /// Answers HTTP requests to `url_or_host` (as for [`respond`](Self::respond)) with
    /// `response`, headers included.
    pub fn respond_with(mut self, url_or_host: &str, response: Response) -> Self {
        let key = http::answer_key(url_or_host);
        self.http_answers.insert(key, http::Canned::Respond(response));
        self
    }

    /// Fails HTTP requests to `url_or_host` (as for [`respond`](Self::respond)) with
    /// `error`: [`HttpError::Timeout`] for a slow server, [`HttpError::Connection`] for one
    /// that is down.
    pub fn fail_http(mut self, url_or_host: &str, error: HttpError) -> Self {
        let key = http::answer_key(url_or_host);
        self.http_answers.insert(key, http::Canned::Fail(error));
        self
    }

    fn lock_kv(&self) -> std::sync::MutexGuard<'_, kv::MemoryKv> {
        self.kv.lock().expect("test key-value lock poisoned")
    }

    /// Runs `H::handle(event)` with this host.
    pub fn run<H: Handler>(&self, event: Event) -> Outcome {
        let reply_to = event.reply_to().map(str::to_owned);
        CURRENT.with(|current| {
            *current.borrow_mut() = Some(Run {
                host: self.clone(),
                event_id: event.id().to_owned(),
                reply_to,
                ..Run::default()
            });
        });
        let result = H::handle(event);
        let run = CURRENT
            .with(|current| current.borrow_mut().take())
            .expect("run state was set");
        let event = EventRun {
            event_id: run.event_id,
            reply_to: run.reply_to,
            outbox: run.outbox,
            scheduled: run.scheduled,
            cancelled: run.cancelled,
            logs: run.logs,
            requests: run.requests,
            http: run.http,
        };
        outcome(result, event)
    }
}

/// The outcome of one event's run.
fn outcome(result: Result<(), Error>, event: EventRun) -> Outcome {
    let (published, scheduled, cancelled) = if result.is_ok() {
        (event.outbox.clone(), event.scheduled, event.cancelled)
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    Outcome {
        result,
        published,
        attempted: event.outbox,
        scheduled,
        cancelled,
        logs: event.logs,
        requests: event.requests,
        http: event.http,
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
        if run.batch.as_ref().is_some_and(|batch| batch.current.is_none()) {
            return Err(format!(
                "cannot publish to `{subject}`: in a batch handler, publish inside Batch::each"
            ));
        }
        let is_reply = run.reply_to.as_deref() == Some(subject);
        if let Some(allowed) = &run.host.allowed
            && !is_reply
            && !allowed.iter().any(|pattern| pattern.matches(subject))
        {
            return Err(format!(
                "publish to `{subject}` denied: not in permissions.publish"
            ));
        }
        for (name, value) in headers {
            sluice_protocol::headers::validate(name, value)?;
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

pub(crate) fn secret(name: &str) -> Result<String, String> {
    with_run("secret", |run| {
        run.host
            .secrets
            .get(name)
            .cloned()
            .ok_or_else(|| format!("secret `{name}` denied: not in [secrets]"))
    })
}

pub(crate) fn log(level: Level, message: &str) {
    with_run("log", |run| run.logs.push((level, message.to_owned())));
}

/// `pattern` parsed by the host's rules, or a panic naming the `TestHost` method `method`.
fn subject_pattern(method: &str, pattern: &str) -> SubjectPattern {
    SubjectPattern::parse(pattern).unwrap_or_else(|why| panic!("TestHost::{method}: {why}"))
}

#[cfg(test)]
mod tests;
