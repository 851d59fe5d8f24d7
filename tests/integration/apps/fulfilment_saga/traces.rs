//! The saga as one OpenTelemetry trace per order: a host exporting OTLP to a real receiver,
//! three orders (paid at once, paid on the second attempt, payment dead-lettered and ended
//! by its timeout), and each order's spans checked as a tree: one root, every other span's
//! parent in the same trace, each function's attempt a child of the publish that sent its
//! event, a retry as two attempt spans and the dead letter marked as an error.

use std::collections::BTreeMap;
use std::time::Duration;

use saga_driver::Shop;
use saga_driver::shop::FUNCTIONS;
use saga_events::{Line, Order, subject};
use sluice_runtime::telemetry::TracingConfig;
use sluice_tests::{FunctionsDir, OtlpReceiver, ReceivedSpan, Sluice};

use super::{failures, manifest};

const CONSUMER: i32 = 5;
const PRODUCER: i32 = 4;

/// An order id whose payment fails `failed` times before it goes through (`None`: every
/// attempt fails).
fn order_failing(failed: Option<u32>) -> String {
    (0..)
        .map(|n| format!("trace-{n}"))
        .find(|id| failures(id, 0) == failed)
        .expect("some id fails so")
}

fn order(id: &str) -> Order {
    Order {
        order_id: id.to_owned(),
        customer: "trace@example.com".to_owned(),
        lines: vec![Line {
            sku: "tea".to_owned(),
            qty: 1,
        }],
        amount: 1_200,
    }
}

/// One order's trace.
struct Trace {
    spans: Vec<ReceivedSpan>,
}

impl Trace {
    /// The trace whose root is the inventory's attempt on `order`.
    fn of(order: &str, spans: &[ReceivedSpan]) -> Option<Self> {
        let root = spans.iter().find(|span| {
            span.parent_id().is_none() && span.attribute("messaging.message.id").as_deref() == Some(order)
        })?;
        let trace = root.trace_id();
        Some(Self {
            spans: spans
                .iter()
                .filter(|span| span.trace_id() == trace)
                .cloned()
                .collect(),
        })
    }

    fn by_id(&self, id: &str) -> &ReceivedSpan {
        self.spans
            .iter()
            .find(|span| span.span_id() == id)
            .unwrap_or_else(|| panic!("span {id} is not in the trace"))
    }

    /// The attempt spans of `function`, by attempt number.
    fn attempts(&self, function: &str) -> Vec<&ReceivedSpan> {
        let mut attempts: Vec<&ReceivedSpan> = self
            .spans
            .iter()
            .filter(|span| {
                span.span.kind == CONSUMER && span.attribute("sluice.function").as_deref() == Some(function)
            })
            .collect();
        attempts.sort_by_key(|span| span.attribute("sluice.attempt"));
        attempts
    }

    /// Whether `function` ended an attempt on `subject` with `outcome`.
    fn has(&self, function: &str, subject: &str, outcome: &str) -> bool {
        self.attempts(function).iter().any(|span| {
            span.attribute("messaging.destination.name").as_deref() == Some(subject)
                && span.attribute("sluice.outcome").as_deref() == Some(outcome)
        })
    }

    /// `(function, subject)` of each attempt from the root down to `last`, checking each
    /// link: an attempt's parent is the producer span of the message it handled (named
    /// `publish SUBJECT` or `schedule SUBJECT`), whose parent is the attempt that sent it.
    fn chain_to(&self, last: &ReceivedSpan) -> Vec<(String, String)> {
        let mut chain = Vec::new();
        let mut span = last;
        loop {
            let subject = span.attribute("messaging.destination.name").unwrap();
            chain.push((span.attribute("sluice.function").unwrap(), subject.clone()));
            let Some(parent) = span.parent_id() else { break };
            let producer = self.by_id(&parent);
            assert_eq!(producer.span.kind, PRODUCER, "{producer:?}");
            assert!(
                [format!("publish {subject}"), format!("schedule {subject}")].contains(&producer.span.name),
                "{producer:?}"
            );
            span = self.by_id(&producer.parent_id().expect("a producer has a parent"));
            assert_eq!(span.span.kind, CONSUMER, "{span:?}");
        }
        chain.reverse();
        chain
    }

    /// One root; every other span's parent is in the trace; every attempt says what it
    /// handled for which order.
    fn check_tree(&self, order: &str) {
        let roots = self
            .spans
            .iter()
            .filter(|span| span.parent_id().is_none())
            .count();
        assert_eq!(roots, 1, "one root span");
        for span in &self.spans {
            if let Some(parent) = span.parent_id() {
                self.by_id(&parent);
            }
            assert_eq!(span.service, "sluice");
            assert!(span.span.end_time_unix_nano >= span.span.start_time_unix_nano);
        }
        for span in self.spans.iter().filter(|span| span.span.kind == CONSUMER) {
            assert_eq!(
                span.attribute("sluice.correlation_id").as_deref(),
                Some(order),
                "{span:?}"
            );
            assert_eq!(span.attribute("messaging.system").as_deref(), Some("nats"));
            assert!(FUNCTIONS.contains(&span.span.name.as_str()), "{span:?}");
            for key in ["messaging.message.id", "sluice.attempt", "sluice.outcome"] {
                assert!(span.attribute(key).is_some(), "{key} missing: {span:?}");
            }
        }
    }
}

fn pairs(chain: &[(&str, &str)]) -> Vec<(String, String)> {
    chain
        .iter()
        .map(|(f, s)| ((*f).to_owned(), (*s).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_order_is_one_trace_through_the_saga_with_its_retries_and_its_dead_letter() {
    let receiver = OtlpReceiver::start().await;
    let dir = FunctionsDir::new();
    for name in FUNCTIONS {
        // A shorter payment timeout, so the dead-lettered order ends sooner.
        let text = manifest(name).replace("payment_timeout = \"5s\"", "payment_timeout = \"2s\"");
        dir.add(name, name, text);
    }
    let endpoint = receiver.endpoint();
    let sluice = Sluice::in_folder(dir)
        .host(|host| {
            host.configure(move |config| {
                let mut tracing = TracingConfig::from_env(Some(&endpoint), |_| None)
                    .unwrap()
                    .unwrap();
                tracing.schedule_delay = Duration::from_millis(100);
                config.tracing = Some(tracing);
            })
        })
        .start()
        .await;
    let mut shop = Shop::new(sluice.client.clone());
    shop.wait_until_deployed(Duration::from_secs(10)).await.unwrap();
    shop.open().await.unwrap();

    let paid = order_failing(Some(0));
    let retried = order_failing(Some(1));
    let dead = order_failing(None);
    let js = shop.jetstream();
    for id in [&paid, &retried, &dead] {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.as_str());
        headers.insert("Sluice-Correlation-Id", id.as_str());
        let payload = serde_json::to_vec(&order(id)).unwrap();
        js.publish_with_headers(subject::ORDER_PLACED, headers, payload.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }

    let ended = |spans: &[ReceivedSpan]| {
        let done = |id: &str, last: &str| {
            Trace::of(id, spans).is_some_and(|trace| trace.has("saga-email", last, "ok"))
        };
        done(&paid, subject::ORDER_COMPLETED)
            && done(&retried, subject::ORDER_COMPLETED)
            && done(&dead, subject::ORDER_CANCELLED)
    };
    let spans = receiver
        .wait_for("every order's e-mail attempt", Duration::from_secs(30), ended)
        .await;

    // Paid at once: six functions' attempts, each the child of the publish that sent its event.
    let trace = Trace::of(&paid, &spans).unwrap();
    trace.check_tree(&paid);
    let email = trace.attempts("saga-email")[0];
    assert_eq!(
        trace.chain_to(email),
        pairs(&[
            ("saga-inventory", subject::ORDER_PLACED),
            ("saga-payment", subject::STOCK_RESERVED),
            ("saga-inventory", subject::PAYMENT_SUCCEEDED),
            ("saga-shipping", subject::ORDER_CONFIRMED),
            ("saga-inventory", subject::SHIPMENT_DISPATCHED),
            ("saga-email", subject::ORDER_COMPLETED),
        ])
    );
    let kv_calls: Vec<&ReceivedSpan> = trace
        .spans
        .iter()
        .filter(|span| span.span.name.starts_with("kv "))
        .collect();
    assert!(
        kv_calls
            .iter()
            .any(|span| span.attribute("sluice.kv.bucket").as_deref() == Some("saga-inventory")),
        "the inventory's key-value calls are spans: {kv_calls:?}"
    );
    // (A key-value compare-and-swap may fail on a conflict with another order's reservation
    // and be tried again; no attempt fails.)
    let failed: Vec<&ReceivedSpan> = trace
        .spans
        .iter()
        .filter(|span| span.is_error() && !span.span.name.starts_with("kv compare-and-swap"))
        .collect();
    assert!(failed.is_empty(), "nothing failed: {failed:?}");

    // Paid on the second attempt: two payment attempts of the same delivery, the first failed.
    let trace = Trace::of(&retried, &spans).unwrap();
    trace.check_tree(&retried);
    let payments = trace.attempts("saga-payment");
    assert_eq!(payments.len(), 2, "{payments:?}");
    assert_eq!(payments[0].attribute("sluice.attempt").as_deref(), Some("1"));
    assert_eq!(payments[0].attribute("sluice.outcome").as_deref(), Some("retry"));
    assert!(payments[0].is_error());
    let message = &payments[0].span.status.as_ref().unwrap().message;
    assert!(message.contains("card gateway unavailable"), "{message}");
    assert_eq!(payments[1].attribute("sluice.attempt").as_deref(), Some("2"));
    assert_eq!(payments[1].attribute("sluice.outcome").as_deref(), Some("ok"));
    assert!(!payments[1].is_error());
    assert_eq!(
        payments[0].parent_id(),
        payments[1].parent_id(),
        "both attempts handle one message"
    );
    assert_eq!(trace.chain_to(trace.attempts("saga-email")[0]).len(), 6);

    // Dead-lettered: three failed attempts, the last marked as the dead letter; the payment
    // timeout the inventory scheduled ends the order in the same trace.
    let trace = Trace::of(&dead, &spans).unwrap();
    trace.check_tree(&dead);
    let payments = trace.attempts("saga-payment");
    let outcomes: Vec<Option<String>> = payments
        .iter()
        .map(|span| span.attribute("sluice.outcome"))
        .collect();
    assert_eq!(
        outcomes,
        [
            Some("retry".into()),
            Some("retry".into()),
            Some("dead_letter".into())
        ]
    );
    assert!(payments.iter().all(|span| span.is_error()));
    assert_eq!(
        payments[2].attribute("sluice.dead_letter.reason").as_deref(),
        Some("exhausted")
    );
    assert_eq!(
        trace.chain_to(trace.attempts("saga-email")[0]),
        pairs(&[
            ("saga-inventory", subject::ORDER_PLACED),
            ("saga-inventory", subject::PAYMENT_TIMEOUT),
            ("saga-email", subject::ORDER_CANCELLED),
        ])
    );

    // Three orders, three traces, nothing else exported.
    let traces: BTreeMap<String, usize> = spans.iter().fold(BTreeMap::new(), |mut traces, span| {
        *traces.entry(span.trace_id()).or_default() += 1;
        traces
    });
    assert_eq!(traces.len(), 3, "{traces:?}");
    let headers = receiver.export_headers();
    assert!(headers[0].contains(&("content-type".to_owned(), "application/x-protobuf".to_owned())));
    sluice.shutdown().await;
}
