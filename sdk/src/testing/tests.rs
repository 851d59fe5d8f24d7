//! The test host's own tests.

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
    let matches = |pattern: &str, subject: &str| SubjectPattern::parse(pattern).unwrap().matches(subject);
    assert!(matches("a.*.c", "a.b.c") && !matches("a.*", "a.b.c") && matches("a.>", "a.b.c"));
}

struct Labelled;

impl Handler for Labelled {
    fn handle(event: Event) -> Result<(), Error> {
        let name = event.text()?;
        crate::publish_with_headers("labelled", "x", &[(name, "v")])
    }
}

#[test]
fn header_names_are_checked_like_the_host() {
    let host = TestHost::new();
    let outcome = host.run::<Labelled>(Event::new("e", "s", "x-label"));
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(
        outcome.published[0].headers,
        [("x-label".to_owned(), "v".to_owned())]
    );
    for name in ["prix-\u{e9}", "a:b", "two words"] {
        let outcome = host.run::<Labelled>(Event::new("e", "s", name));
        let error = outcome.result.unwrap_err();
        assert!(
            error.message().contains("invalid header name"),
            "{name}: {error:?}"
        );
        assert!(outcome.published.is_empty());
    }
}

struct Stateful;

impl Handler for Stateful {
    fn handle(event: Event) -> Result<(), Error> {
        let bucket = event.header("bucket").unwrap_or("state");
        let revision = crate::kv::set(bucket, "orders.1", event.payload())?;
        crate::kv::compare_and_swap(bucket, "orders.1", "again", revision)?;
        crate::kv::set(bucket, "orders.2", "x")?;
        crate::kv::delete(bucket, "orders.2")?;
        let keys = crate::kv::keys(bucket, "orders.")?;
        crate::publish("keys", keys.join(","))?;
        crate::kv::compare_and_swap(bucket, "orders.1", "stale", revision)?;
        Ok(())
    }
}

#[test]
fn key_value_state_has_revisions_conflicts_and_allowed_buckets() {
    let host = TestHost::new().allow_bucket("state");
    let outcome = host.run::<Stateful>(Event::new("e", "s", "first"));
    let error = outcome.result.unwrap_err();
    assert!(error.is_retryable(), "a conflict is retryable: {error:?}");
    assert_eq!(outcome.attempted[0].payload, b"orders.1");
    let entry = host.kv_entry("state", "orders.1").unwrap();
    assert_eq!((entry.value.as_slice(), entry.revision), (&b"again"[..], 2));

    let denied = host.run::<Stateful>(Event::new("e", "s", "").with_header("bucket", "other"));
    let error = denied.result.unwrap_err();
    assert!(!error.is_retryable());
    assert!(error.message().contains("`other` denied"), "{error:?}");
    let seeded = TestHost::new().with_value("state", "orders.9", "v");
    assert_eq!(seeded.kv_entry("state", "orders.9").unwrap().revision, 1);
}

struct Asker;

impl Handler for Asker {
    fn handle(event: Event) -> Result<(), Error> {
        let timeout = std::time::Duration::from_millis(100);
        let reply = crate::request(event.text()?, "q", timeout)?;
        crate::publish("answers", reply.payload())
    }
}

#[test]
fn requests_get_canned_answers_timeouts_or_denials() {
    let host = TestHost::new()
        .allow_request("svc.>")
        .answer("svc.a", "42")
        .time_out("svc.slow");
    let outcome = host.run::<Asker>(Event::new("e", "s", "svc.a"));
    assert_eq!(outcome.published[0].payload, b"42");
    assert_eq!(outcome.requests[0].subject, "svc.a");
    let slow = host
        .run::<Asker>(Event::new("e", "s", "svc.slow"))
        .result
        .unwrap_err();
    assert!(
        slow.is_retryable() && slow.message().contains("timed out"),
        "{slow:?}"
    );
    let nobody = host
        .run::<Asker>(Event::new("e", "s", "svc.b"))
        .result
        .unwrap_err();
    assert!(nobody.is_retryable() && nobody.message().contains("nobody listens"));
    let denied = host
        .run::<Asker>(Event::new("e", "s", "other"))
        .result
        .unwrap_err();
    assert!(!denied.is_retryable() && denied.message().contains("denied"));
}

/// Schedules a timeout, cancels an earlier one named in the payload, and fails on `fail`.
struct Timer;

impl Handler for Timer {
    fn handle(event: Event) -> Result<(), Error> {
        let id = crate::publish_after("timeouts.payment", event.id(), std::time::Duration::from_secs(30))?;
        crate::log::info(&format!("scheduled {id}"));
        let earlier = event.text()?;
        if earlier == "fail" {
            return Err(Error::retryable("not yet"));
        }
        if !earlier.is_empty() {
            crate::cancel_scheduled(earlier)?;
        }
        Ok(())
    }
}

#[test]
fn delayed_publishes_are_recorded_only_when_the_run_succeeds() {
    let host = TestHost::new().allow_publish("timeouts.>");
    let outcome = host.run::<Timer>(Event::new("order-1", "orders", "0123456789abcdef"));
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(outcome.scheduled.len(), 1);
    let scheduled = &outcome.scheduled[0];
    assert_eq!(scheduled.subject, "timeouts.payment");
    assert_eq!(scheduled.payload, b"order-1");
    assert_eq!(scheduled.fires, Fires::After(std::time::Duration::from_secs(30)));
    assert_eq!(outcome.cancelled, ["0123456789abcdef"]);
    // The id is the one the handler got, and the same on a retry of the event.
    assert_eq!(outcome.logs[0].1, format!("scheduled {}", scheduled.id));
    let again = host.run::<Timer>(Event::new("order-1", "orders", "").with_attempt(2));
    assert_eq!(again.scheduled[0].id, scheduled.id);

    let failed = host.run::<Timer>(Event::new("order-2", "orders", "fail"));
    assert!(failed.result.is_err());
    assert!(failed.scheduled.is_empty() && failed.cancelled.is_empty());
}

#[test]
fn delayed_publishes_follow_the_hosts_rules() {
    let denied = TestHost::new()
        .allow_publish("orders.>")
        .run::<Timer>(Event::new("e", "s", ""));
    let error = denied.result.unwrap_err();
    assert!(error.message().contains("`timeouts.payment` denied"), "{error}");
    let bad_id = TestHost::new().run::<Timer>(Event::new("e", "s", "not-an-id"));
    let error = bad_id.result.unwrap_err();
    assert!(error.message().contains("not a delayed event's id"), "{error}");
}

struct Charger;

impl Handler for Charger {
    fn handle(event: Event) -> Result<(), Error> {
        let name = event.text()?.to_owned();
        let key = crate::secret(&name).map_err(Error::permanent)?;
        crate::publish("charged", format!("key of {} bytes", key.len()))
    }
}

#[test]
fn secrets_are_read_by_name_and_other_names_are_refused() {
    let host = TestHost::new().secret("stripe_key", "sk_test_123");
    let outcome = host.run::<Charger>(Event::new("e", "s", "stripe_key"));
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(outcome.published[0].payload, b"key of 11 bytes");
    let outcome = host.run::<Charger>(Event::new("e", "s", "db_password"));
    let error = outcome.result.unwrap_err();
    assert!(error.message().contains("secret `db_password` denied"), "{error}");
}
