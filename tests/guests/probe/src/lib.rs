//! `probe`: the test guest of the Sluice integration tests.
//!
//! The tests deploy this one component under many names with different manifests; the event
//! payload, a JSON object `{"op": ..., ...}`, chooses what it does:
//!
//! | payload | behaviour |
//! |---|---|
//! | a firing of its schedule (subject `sluice.ticks.NAME`) | as echo |
//! | `{"op":"echo"}` | answers a request (the reply-to), else publishes the payload to config `out` (default `probe.out`), with headers `probe-attempt` and `probe-event-id`; ok |
//! | `{"op":"publish","subject":"x"}` | publishes the payload to `x`; a refusal is a permanent error |
//! | `{"op":"fail","retryable":true,"until":N,"retry_after_ms":M}` | retryable error `failing attempt <attempt>` while attempt < N (always without `until`), then echo; `"retryable":false` is a permanent `rejected by probe` |
//! | `{"op":"publish-then-fail"}` | publishes to `out`, then fails retryably (the outbox must drop it) |
//! | `{"op":"trap"}` | panics: a wasm trap |
//! | `{"op":"spin"}` | loops forever: a timeout |
//! | `{"op":"hog"}` | allocates 1 MiB blocks until allocation fails: out of memory |
//! | `{"op":"sleep","ms":N}` | sleeps, then publishes `{"id","start_ns","end_ns"}` (unix nanoseconds) to `out` |
//! | `{"op":"config","key":"k"}` | publishes `{"key":k,"value":<value or null>}` to `out` |
//! | `{"op":"secret","name":n}` | publishes `{"name":n,"value":v}` (or `{"name":n,"error":e}`) to `out` |
//! | `{"op":"leak-secret","name":n}` | logs and prints the secret's value, then fails permanently with it in the message |
//! | `{"op":"count"}` | publishes `{"count": n}`, the number of count events this instance handled |
//! | `{"op":"log","message":"m"}` | logs `m` at info, prints it to stdout and stderr, then echo |
//! | `{"op":"ordered","key":"k","seq":N,"ms":M,"fail_first":B}` | fails its first attempt (retryable, retry after 5 ms) when B; sleeps M ms; publishes `{"key","seq","attempt","start_ns","end_ns"}` to `out` |
//! | `{"op":"recurse"}` | recurses without end: a stack overflow |
//! | `{"op":"flood","count":N}` | publishes N messages to `out`; a refused publish is a permanent error |
//! | `{"op":"kv-set","bucket":b,"key":k,"value":v}` | sets `k` to the string `v`; publishes `{"revision":r}` to `out` |
//! | `{"op":"kv-get","bucket":b,"key":k}` | publishes `{"value":v,"revision":r}` (or `{"value":null}`) to `out` |
//! | `{"op":"kv-cas","bucket":b,"key":k,"value":v,"revision":r}` | compare-and-swap; publishes `{"revision":r}` or `{"error":kind,"message":m}` to `out` |
//! | `{"op":"kv-delete","bucket":b,"key":k}` | deletes `k`; publishes `{"deleted":k}` to `out` |
//! | `{"op":"kv-keys","bucket":b,"prefix":p}` | publishes `{"keys":[...]}` to `out` |
//! | `{"op":"request","subject":s,"payload":p,"timeout_ms":t}` | sends the string `p` to `s`; publishes `{"reply":text,"correlation":id}` to `out` |
//! | `{"op":"delay","subject":s,"ms":N,"at_ms":T,"count":C,"fail_until":A}` | schedules C (default 1) delayed events to `s`, `N` ms from now with `publish_after` (or at unix ms `T` with `publish_at`), each `{"n","due_ms","event"}`; while attempt < A fails retryably (the outbox must drop them); else publishes `{"ids":[...],"attempt"}` to `out` (nothing with `"quiet":true`) |
//! | `{"op":"cancel","id":x}` | cancels delayed event `x`, then echo |
//! | `{"op":"http","url":"http://host:port/path","body":"...","timeout_ms":T}` | POSTs `body` with `sluice_sdk::http` (with the request timeout T when given), then publishes `{"status":N,"body":"..."}` or `{"error":"<HttpError kind>","message":m}` to `out`; ok |
//!
//! A key-value or request error other than a `kv-cas` conflict fails the event as the SDK
//! maps it (conflict, unavailable, timeout, no responders: retryable; denied, invalid:
//! permanent), with the host's message.
//!
//! Anything else (an unknown op, a payload that is not JSON) is a permanent error.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod http;

use serde::Deserialize;
use serde_json::json;
use sluice_sdk::kv::{self, KvError};
use sluice_sdk::{Error, Event, Handler};

/// Events this instance handled with `{"op":"count"}`.
static HANDLED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The subject `out` defaults to when the manifest's `[config]` does not set it.
pub const DEFAULT_OUT: &str = "probe.out";

/// What the payload asks the probe to do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// Answer the request (reply-to), else publish the payload to `out`.
    Echo,
    /// Publish the payload to `subject`.
    Publish {
        /// Where to publish.
        subject: String,
    },
    /// Fail until attempt `until`, then echo.
    Fail {
        /// Retryable (the default) or permanent.
        #[serde(default = "yes")]
        retryable: bool,
        /// The first attempt that succeeds; `None` fails forever.
        until: Option<u32>,
        /// The retry-after to ask for.
        retry_after_ms: Option<u64>,
    },
    /// Publish to `out`, then fail retryably.
    PublishThenFail {
        /// The retry-after to ask for.
        retry_after_ms: Option<u64>,
    },
    /// Panic.
    Trap,
    /// Loop forever.
    Spin,
    /// Allocate until memory runs out.
    Hog,
    /// Sleep for `ms` milliseconds and report when.
    Sleep {
        /// How long to sleep.
        ms: u64,
    },
    /// Report a config value.
    Config {
        /// The config key to read.
        key: String,
    },
    /// Report a secret's value, or why there is none.
    Secret {
        /// The secret's name.
        name: String,
    },
    /// Read a secret, log it, print it, then fail permanently with it in the message (the
    /// host must redact all three).
    LeakSecret {
        /// The secret's name.
        name: String,
    },
    /// Count the events this instance has handled and publish the count: 1 every time in a
    /// fresh instance, 1, 2, 3, ... when instances are reused.
    Count,
    /// Log, print, then echo.
    Log {
        /// What to log and print.
        message: String,
    },
    /// Report `key` and `seq` after sleeping, for per-key ordering tests.
    Ordered {
        /// The ordering key.
        key: String,
        /// The event's position among its key's events.
        seq: u64,
        /// How long to sleep.
        #[serde(default)]
        ms: u64,
        /// Fail the first attempt.
        #[serde(default)]
        fail_first: bool,
    },
    /// Recurse until the stack overflows.
    Recurse,
    /// Schedule delayed events.
    Delay {
        /// Where they are published when they fire.
        subject: String,
        /// How far ahead (`publish_after`).
        #[serde(default)]
        ms: u64,
        /// When (`publish_at`), instead of `ms`.
        at_ms: Option<u64>,
        /// How many.
        #[serde(default = "one")]
        count: u32,
        /// Fail (retryably) while the attempt is below this.
        fail_until: Option<u32>,
        /// Report nothing (benchmarks: the delayed publish is the only output).
        #[serde(default)]
        quiet: bool,
    },
    /// Cancel a delayed event.
    Cancel {
        /// Its id.
        id: String,
    },
    /// Publish `count` messages to `out`.
    Flood {
        /// How many.
        count: u32,
    },
    /// Send a request and report the answer.
    Request {
        /// Where to send it.
        subject: String,
        /// What to send.
        #[serde(default)]
        payload: String,
        /// How long to wait.
        #[serde(default)]
        timeout_ms: u64,
    },
    /// POST `body` to `url` and report the response or the error.
    Http {
        /// `scheme://authority/path`.
        url: String,
        /// The request body.
        #[serde(default)]
        body: String,
        /// The request's own timeout, if any.
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    /// A key-value call, reported to `out` (its own enum, tried when no op above matches).
    #[serde(untagged)]
    Kv(KvOp),
}

/// The probe's key-value ops.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum KvOp {
    /// Set a key.
    KvSet {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The value, as text.
        value: String,
    },
    /// Read a key.
    KvGet {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// Compare-and-swap a key.
    KvCas {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The value, as text.
        value: String,
        /// The revision expected (0: no value).
        revision: u64,
    },
    /// Delete a key.
    KvDelete {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// List keys by prefix.
    KvKeys {
        /// The bucket.
        bucket: String,
        /// The prefix.
        #[serde(default)]
        prefix: String,
    },
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// The decision of a `fail` op for the given attempt: `None` means behave like echo.
pub fn failure(
    attempt: u32,
    retryable: bool,
    until: Option<u32>,
    retry_after_ms: Option<u64>,
) -> Option<Error> {
    if !retryable {
        return Some(Error::permanent("rejected by probe"));
    }
    if until.is_some_and(|until| attempt >= until) {
        return None;
    }
    Some(with_retry_after(
        Error::retryable(format!("failing attempt {attempt}")),
        retry_after_ms,
    ))
}

fn with_retry_after(error: Error, retry_after_ms: Option<u64>) -> Error {
    match retry_after_ms {
        Some(ms) => error.retry_after(Duration::from_millis(ms)),
        None => error,
    }
}

/// The subject the probe reports to: config `out`, else [`DEFAULT_OUT`].
fn out() -> String {
    sluice_sdk::config("out").unwrap_or_else(|| DEFAULT_OUT.to_owned())
}

/// Publishes `payload` to `subject` with the probe's `probe-attempt` and `probe-event-id`
/// headers.
fn publish_tagged(event: &Event, subject: &str, payload: &[u8]) -> Result<(), Error> {
    let attempt = event.attempt().to_string();
    sluice_sdk::publish_with_headers(
        subject,
        payload,
        &[("probe-attempt", &attempt), ("probe-event-id", event.id())],
    )
}

fn echo(event: &Event) -> Result<(), Error> {
    match event.reply_to() {
        Some(reply_to) => publish_tagged(event, reply_to, event.payload()),
        None => publish_tagged(event, &out(), event.payload()),
    }
}

fn unix_nanos() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}

fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter).wrapping_add(1);
    }
}

/// Recurses without end; the frame's buffer keeps the optimiser from turning it into a loop.
#[allow(unconditional_recursion, reason = "the stack overflow is the point")]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 64]);
    recurse(black_box(frame[7]) + 1) + frame[3]
}

fn flood(count: u32) -> Result<(), Error> {
    let subject = out();
    for n in 0..count {
        sluice_sdk::publish(&subject, n.to_string().as_bytes())?;
    }
    Ok(())
}

fn hog() -> ! {
    const MIB: usize = 1 << 20;
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; MIB];
        // Touch every page so the memory is really used.
        for byte in block.iter_mut().step_by(4096) {
            *byte = 1;
        }
        blocks.push(black_box(block));
    }
}

/// Runs a key-value op and publishes its result to `out`.
fn kv_op(op: KvOp) -> Result<(), Error> {
    let report = match op {
        KvOp::KvSet { bucket, key, value } => json!({ "revision": kv::set(&bucket, &key, value)? }),
        KvOp::KvGet { bucket, key } => match kv::get(&bucket, &key)? {
            Some(entry) => json!({ "value": entry.text()?, "revision": entry.revision }),
            None => json!({ "value": null }),
        },
        KvOp::KvCas {
            bucket,
            key,
            value,
            revision,
        } => match kv::compare_and_swap(&bucket, &key, value, revision) {
            Ok(revision) => json!({ "revision": revision }),
            Err(KvError::Conflict(message)) => json!({ "error": "conflict", "message": message }),
            Err(error) => return Err(error.into()),
        },
        KvOp::KvDelete { bucket, key } => {
            kv::delete(&bucket, &key)?;
            json!({ "deleted": key })
        }
        KvOp::KvKeys { bucket, prefix } => json!({ "keys": kv::keys(&bucket, &prefix)? }),
    };
    sluice_sdk::publish_json(&out(), &report)
}

/// Sends a request and publishes the answer, with the correlation id the answer carried.
fn request(event: &Event, subject: &str, payload: &str, timeout_ms: u64) -> Result<(), Error> {
    let reply = sluice_sdk::request(subject, payload, Duration::from_millis(timeout_ms))?;
    let report = json!({
        "reply": String::from_utf8_lossy(reply.payload()),
        "correlation": reply.header("Sluice-Correlation-Id"),
        "attempt": event.attempt(),
    });
    sluice_sdk::publish_json(&out(), &report)
}

/// Schedules `count` delayed events to `subject` (`ms` ahead, or at `at_ms`); fails while the
/// attempt is below `fail_until`, else returns their ids.
fn delay(
    event: &Event,
    subject: &str,
    ms: u64,
    at_ms: Option<u64>,
    count: u32,
    fail_until: Option<u32>,
) -> Result<Vec<String>, Error> {
    let mut ids = Vec::new();
    for n in 0..count {
        let due_ms = at_ms.unwrap_or_else(|| unix_nanos() / 1_000_000 + ms);
        let payload = json!({ "n": n, "due_ms": due_ms, "event": event.id() }).to_string();
        let id = match at_ms {
            Some(at) => sluice_sdk::publish_at(subject, &payload, UNIX_EPOCH + Duration::from_millis(at))?,
            None => sluice_sdk::publish_after(subject, &payload, Duration::from_millis(ms))?,
        };
        ids.push(id);
    }
    if fail_until.is_some_and(|until| event.attempt() < until) {
        return Err(
            Error::retryable(format!("failing after scheduling, attempt {}", event.attempt()))
                .retry_after(Duration::from_millis(50)),
        );
    }
    Ok(ids)
}

/// The `probe` function.
pub struct Probe;

impl Handler for Probe {
    fn handle(event: Event) -> Result<(), Error> {
        // A firing of the function's own schedule (`trigger.schedule`): reported like echo.
        if event.subject().starts_with("sluice.ticks.") {
            return echo(&event);
        }
        match event.json::<Op>()? {
            Op::Echo => echo(&event),
            Op::Publish { subject } => publish_tagged(&event, &subject, event.payload()),
            Op::Fail {
                retryable,
                until,
                retry_after_ms,
            } => match failure(event.attempt(), retryable, until, retry_after_ms) {
                Some(error) => Err(error),
                None => echo(&event),
            },
            Op::PublishThenFail { retry_after_ms } => {
                publish_tagged(&event, &out(), event.payload())?;
                Err(with_retry_after(
                    Error::retryable(format!("failing after publishing, attempt {}", event.attempt())),
                    retry_after_ms,
                ))
            }
            Op::Trap => panic!("probe trap"),
            Op::Spin => spin(),
            Op::Hog => hog(),
            Op::Sleep { ms } => {
                let start_ns = unix_nanos();
                std::thread::sleep(Duration::from_millis(ms));
                let end_ns = unix_nanos();
                let report = json!({ "id": event.id(), "start_ns": start_ns, "end_ns": end_ns });
                sluice_sdk::publish_json(&out(), &report)
            }
            Op::Count => {
                let count = HANDLED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                sluice_sdk::publish_json(&out(), &json!({ "count": count }))
            }
            Op::Config { key } => {
                let value = sluice_sdk::config(&key);
                sluice_sdk::publish_json(&out(), &json!({ "key": key, "value": value }))
            }
            Op::Secret { name } => {
                let report = match sluice_sdk::secret(&name) {
                    Ok(value) => json!({ "name": name, "value": value }),
                    Err(error) => json!({ "name": name, "error": error }),
                };
                sluice_sdk::publish_json(&out(), &report)
            }
            Op::LeakSecret { name } => {
                let value = sluice_sdk::secret(&name).map_err(Error::permanent)?;
                sluice_sdk::info!("the secret is {value}");
                println!("printed: {value}");
                Err(Error::permanent(format!("failed with {value}")))
            }
            Op::Ordered {
                key,
                seq,
                ms,
                fail_first,
            } => {
                if fail_first && event.attempt() == 1 {
                    return Err(Error::retryable("first attempt fails").retry_after(Duration::from_millis(5)));
                }
                let start_ns = unix_nanos();
                std::thread::sleep(Duration::from_millis(ms));
                let report = json!({
                    "key": key, "seq": seq, "attempt": event.attempt(),
                    "start_ns": start_ns, "end_ns": unix_nanos(),
                });
                sluice_sdk::publish_json(&out(), &report)
            }
            Op::Recurse => {
                recurse(0);
                Ok(())
            }
            Op::Flood { count } => flood(count),
            Op::Delay {
                subject,
                ms,
                at_ms,
                count,
                fail_until,
                quiet,
            } => {
                let ids = delay(&event, &subject, ms, at_ms, count, fail_until)?;
                match quiet {
                    true => Ok(()),
                    false => {
                        sluice_sdk::publish_json(&out(), &json!({ "ids": ids, "attempt": event.attempt() }))
                    }
                }
            }
            Op::Cancel { id } => {
                sluice_sdk::cancel_scheduled(&id)?;
                echo(&event)
            }
            Op::Kv(op) => kv_op(op),
            Op::Request {
                subject,
                payload,
                timeout_ms,
            } => request(&event, &subject, &payload, timeout_ms),
            Op::Http {
                url,
                body,
                timeout_ms,
            } => sluice_sdk::publish_json(&out(), &http::post(&url, &body, timeout_ms)),
            Op::Log { message } => {
                sluice_sdk::log::info(&message);
                println!("{message}");
                eprintln!("{message}");
                echo(&event)
            }
        }
    }
}

sluice_sdk::export!(Probe);

#[cfg(test)]
mod tests {
    use super::*;

    fn op(json: &str) -> Result<Op, Error> {
        Event::new("e-1", "probe", json).json()
    }

    #[test]
    fn parses_ops_and_ignores_extra_fields() {
        assert_eq!(op(r#"{"op":"echo","n":1}"#).unwrap(), Op::Echo);
        assert_eq!(op(r#"{"op":"trap","x":[1]}"#).unwrap(), Op::Trap);
        assert_eq!(
            op(r#"{"op":"fail","until":3}"#).unwrap(),
            Op::Fail {
                retryable: true,
                until: Some(3),
                retry_after_ms: None
            }
        );
        assert_eq!(
            op(r#"{"op":"publish-then-fail"}"#).unwrap(),
            Op::PublishThenFail { retry_after_ms: None }
        );
        assert_eq!(op(r#"{"op":"sleep","ms":5}"#).unwrap(), Op::Sleep { ms: 5 });
        assert_eq!(
            op(r#"{"op":"kv-keys","bucket":"b"}"#).unwrap(),
            Op::Kv(KvOp::KvKeys {
                bucket: "b".into(),
                prefix: String::new()
            })
        );
    }

    #[test]
    fn unknown_ops_and_non_json_are_permanent() {
        for json in [r#"{"op":"dance"}"#, "nope", r#"{"op":"publish"}"#, "{}"] {
            let err = op(json).unwrap_err();
            assert!(!err.is_retryable(), "{json}");
        }
    }

    #[test]
    fn fail_until_then_succeed() {
        let err = failure(1, true, Some(3), Some(250)).unwrap();
        assert!(err.is_retryable());
        assert_eq!(err.message(), "failing attempt 1");
        assert_eq!(err.retry_delay(), Some(Duration::from_millis(250)));
        assert!(failure(2, true, Some(3), None).is_some());
        assert!(failure(3, true, Some(3), None).is_none());
        assert!(failure(99, true, None, None).is_some());
        let err = failure(1, false, Some(1), None).unwrap();
        assert!(!err.is_retryable());
        assert_eq!(err.message(), "rejected by probe");
    }
}
