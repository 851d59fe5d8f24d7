//! Firings against an in-memory host with the manifest's own permissions and buckets.

use serde_json::json;
use sluice_sdk::Event;
use sluice_sdk::testing::{Outcome, TestHost};

use super::*;

/// The manifest the tests run under, as `run.sh` deploys it.
const MANIFEST: &str = include_str!("../revenue-report.toml");

/// A host allowing what the manifest allows.
fn host() -> TestHost {
    let manifest: toml::Table = toml::from_str(MANIFEST).expect("the manifest parses");
    let list = |table: &str, key: &str| -> Vec<String> {
        let values = manifest[table][key].as_array().expect("a list");
        values
            .iter()
            .map(|v| v.as_str().expect("a string").to_owned())
            .collect()
    };
    let mut host = TestHost::new();
    for subject in list("permissions", "publish") {
        host = host.allow_publish(&subject);
    }
    for bucket in list("state", "buckets") {
        host = host.allow_bucket(&bucket);
    }
    host
}

fn total(customer: &str, total: u64) -> String {
    json!({"order_id": "ignored", "customer": customer, "total": total}).to_string()
}

/// The firing of 02:00:00 on 3 December, as the host delivers it.
fn firing() -> Event {
    let payload =
        json!({"function": "revenue-report", "schedule": "0 0 2 * * *", "time_zone": "Europe/Berlin"});
    Event::new(
        "schedule:revenue-report:2026-12-03T01:00:00Z",
        "sluice.ticks.revenue-report",
        payload.to_string(),
    )
}

fn report(outcome: &Outcome) -> RevenueReport {
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    let [published] = outcome.published.as_slice() else {
        panic!("one report per firing: {:?}", outcome.published);
    };
    assert_eq!(published.subject, REPORT);
    published.json()
}

#[test]
fn a_firing_reports_every_recorded_total() {
    let host = host()
        .with_value(PROCESSED, "event/o-1", total("c-1", 599))
        .with_value(PROCESSED, "event/o-2", total("c-1", 401))
        .with_value(PROCESSED, "event/o-3", total("c-2", 1000))
        .with_value(PROCESSED, "event/o-4", "not a total")
        .with_value(PROCESSED, "other/o-5", total("c-3", 7));
    let expected = RevenueReport {
        orders: 3,
        revenue: 2000,
        average: 666,
        customers: 2,
        unreadable: 1,
        fired_at: "2026-12-03T01:00:00Z".into(),
    };
    assert_eq!(report(&host.run::<RevenueReportFunction>(firing())), expected);
}

#[test]
fn an_empty_bucket_reports_nothing_sold() {
    let report = report(&host().run::<RevenueReportFunction>(firing()));
    assert_eq!((report.orders, report.revenue, report.average), (0, 0, 0));
}

#[test]
fn each_firing_reports_what_is_recorded_by_then() {
    let host = host().with_value(PROCESSED, "event/o-1", total("c-1", 100));
    assert_eq!(report(&host.run::<RevenueReportFunction>(firing())).orders, 1);
    let host = host.with_value(PROCESSED, "event/o-2", total("c-2", 50));
    let later = report(&host.run::<RevenueReportFunction>(firing()));
    assert_eq!((later.orders, later.revenue), (2, 150));
}

#[test]
fn an_event_that_is_not_a_firing_fails_permanently() {
    let outcome = host().run::<RevenueReportFunction>(Event::new("e-1", "shop.orders.placed", "{}"));
    let error = outcome.result.unwrap_err();
    assert!(
        !error.is_retryable() && error.message().contains("not a firing"),
        "{}",
        error.message()
    );
    assert!(outcome.published.is_empty());
}
