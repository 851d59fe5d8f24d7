//! Scheduled functions (`trigger.schedule`): firings are NATS message schedules in the
//! function's stream, fired by the server once per cluster and handled by one host each,
//! whichever hosts are up; redeploying replaces the schedule, undeploying removes it.

use std::time::Duration;

use async_nats::jetstream::stream::LastRawMessageErrorKind;
use sluice_tests::{
    FleetHost, HostOptions, Manifest, NatsServer, Sluice, WAIT, bundle, deployer, eventually, header,
    next_message, spawn_host,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const HOLDER: &str = "sluice.schedules.ticker";
const STREAM: &str = "SLUICE_TICKER";

fn ticker(schedule: &str) -> Manifest {
    Manifest::new().schedule(schedule).publish(["probe.out"])
}

/// The second a firing's event id (`schedule:ticker:RFC3339`) names, as a unix timestamp.
fn fired_at(message: &async_nats::Message) -> i64 {
    let id = header(message, "probe-event-id").expect("the probe reports the event id");
    let at = id
        .strip_prefix("schedule:ticker:")
        .unwrap_or_else(|| panic!("a firing's id names the schedule: {id}"));
    OffsetDateTime::parse(at, &Rfc3339).unwrap().unix_timestamp()
}

/// Checks that `fired` (seconds, in any order) covers each second from the first to the last
/// exactly once: no firing repeated, none missing.
fn assert_every_second_once(mut fired: Vec<i64>) {
    fired.sort_unstable();
    let gaps: Vec<i64> = fired.windows(2).map(|pair| pair[1] - pair[0]).collect();
    assert!(
        gaps.iter().all(|&gap| gap == 1),
        "every second handled exactly once (no repeat, no gap): {fired:?}"
    );
}

/// Firings reported on `out` during `window`.
async fn collect(out: &mut async_nats::Subscriber, window: Duration, into: &mut Vec<i64>) {
    let until = tokio::time::Instant::now() + window;
    while let Ok(Some(message)) = tokio::time::timeout_at(until, futures::StreamExt::next(out)).await {
        into.push(fired_at(&message));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_every_second_schedule_fires_once_per_second_whichever_hosts_are_up() {
    let stage = Sluice::builder()
        .add("ticker", "probe", ticker("@every 1s"))
        .stage()
        .await;
    let mut out = stage.subscribe("probe.out").await;
    let hosts = [
        stage.start_host().await,
        stage.start_host().await,
        stage.start_host().await,
    ];
    let mut fired = Vec::new();
    collect(&mut out, Duration::from_secs(4), &mut fired).await;
    // One host goes away and another takes its place.
    let [first, second, third] = hosts;
    third.shutdown().await;
    collect(&mut out, Duration::from_secs(3), &mut fired).await;
    let replacement = stage.start_host().await;
    collect(&mut out, Duration::from_secs(4), &mut fired).await;
    for host in [first, second, replacement] {
        host.shutdown().await;
    }
    assert!(fired.len() >= 9, "about one firing a second for 11 s: {fired:?}");
    assert_every_second_once(fired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_second_for_twenty_seconds_on_three_hosts_one_killed_and_restarted_fires_twenty_times() {
    // A firing in flight on the killed host comes back to another after the ack wait.
    let stage = Sluice::builder()
        .add("ticker", "probe", ticker("@every 1s").ack_wait("2s"))
        .stage()
        .await;
    let mut out = stage.subscribe("probe.out").await;
    let state = tempfile::tempdir().unwrap();
    let in_process = [stage.start_host().await, stage.start_host().await];
    // The third host is a `sluice up` process, killed with SIGKILL and started again.
    let mut child = spawn_host(&stage.server, &stage.dir, state.path());
    next_message(&mut out, WAIT, "a first firing").await;
    let mut fired = Vec::new();
    collect(&mut out, Duration::from_secs(7), &mut fired).await;
    child.kill().expect("SIGKILL the third host");
    child.wait().unwrap();
    collect(&mut out, Duration::from_secs(5), &mut fired).await;
    let mut restarted = spawn_host(&stage.server, &stage.dir, state.path());
    collect(&mut out, Duration::from_secs(8), &mut fired).await;
    restarted.kill().unwrap();
    restarted.wait().unwrap();
    for host in in_process {
        host.shutdown().await;
    }
    assert!(
        (19..=21).contains(&fired.len()),
        "20 ± 1 firings handled in 20 s: {} {fired:?}",
        fired.len()
    );
    assert_every_second_once(fired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_schedule_is_read_in_its_time_zone() {
    // Tokyo is UTC+9 all year: the cron fields name Tokyo's wall clock 8 s from now.
    let fire = OffsetDateTime::now_utc().unix_timestamp() + 8;
    let tokyo = OffsetDateTime::from_unix_timestamp(fire + 9 * 3600).unwrap();
    let cron = format!("{} {} {} * * *", tokyo.second(), tokyo.minute(), tokyo.hour());
    let sluice = Sluice::builder()
        .add("ticker", "probe", ticker(&cron).time_zone("Asia/Tokyo"))
        .start()
        .await;
    let mut out = sluice.subscribe("probe.out").await;
    let message = next_message(&mut out, WAIT, "the cron firing").await;
    assert_eq!(fired_at(&message), fire, "fired at Tokyo's {cron}");
    let mut more = Vec::new();
    collect(&mut out, Duration::from_secs(2), &mut more).await;
    assert!(more.is_empty(), "fired once: {more:?}");
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_at_schedule_fires_once_at_its_time_and_is_gone() {
    let at = OffsetDateTime::now_utc().unix_timestamp() + 6;
    let text = OffsetDateTime::from_unix_timestamp(at)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    let sluice = Sluice::builder()
        .add("ticker", "probe", ticker(&format!("@at {text}")))
        .start()
        .await;
    let mut out = sluice.subscribe("probe.out").await;
    let message = next_message(&mut out, WAIT, "the @at firing").await;
    assert_eq!(fired_at(&message), at);
    let stream = sluice.js().get_stream(STREAM).await.unwrap();
    eventually(WAIT, "the fired schedule removed by the server", async || {
        stream.get_last_raw_message_by_subject(HOLDER).await.is_err()
    })
    .await;
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeploying_replaces_the_schedule_and_undeploying_removes_it() {
    let sluice = Sluice::builder()
        .watch()
        .add("ticker", "probe", ticker("@every 1s"))
        .start()
        .await;
    let mut out = sluice.subscribe("probe.out").await;
    next_message(&mut out, WAIT, "a first firing").await;
    let stream = sluice.js().get_stream(STREAM).await.unwrap();
    let stored = async || {
        stream
            .get_last_raw_message_by_subject(HOLDER)
            .await
            .map(|message| message.headers.get("Nats-Schedule").map(|v| v.to_string()))
    };
    assert_eq!(stored().await.unwrap().as_deref(), Some("@every 1s"));

    sluice.dir.add("ticker", "probe", ticker("@every 2s"));
    eventually(WAIT, "the new schedule stored", async || {
        stored().await.ok().flatten().as_deref() == Some("@every 2s")
    })
    .await;

    std::fs::remove_file(sluice.dir.path().join("ticker.wasm")).unwrap();
    eventually(WAIT, "the schedule removed", async || {
        matches!(stored().await, Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound)
    })
    .await;
    // What fired before the removal may still be reported; nothing fires after it.
    let mut late = Vec::new();
    collect(&mut out, Duration::from_secs(1), &mut late).await;
    let removed = OffsetDateTime::now_utc().unix_timestamp();
    late.clear();
    collect(&mut out, Duration::from_secs(3), &mut late).await;
    assert!(
        late.iter().all(|&at| at < removed),
        "fired after removal: {late:?}"
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_schedule_is_refused_with_one_line_naming_the_key() {
    let sluice = Sluice::builder()
        .add("ticker", "probe", ticker("*/5 * * * *"))
        .start()
        .await;
    let errors = sluice.load_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("trigger.schedule") && errors[0].contains("six fields"),
        "{errors:?}"
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firings_while_no_host_is_up_are_all_handled_when_one_returns() {
    let sluice = Sluice::builder()
        .add("ticker", "probe", ticker("@every 1s"))
        .start()
        .await;
    let mut out = sluice.subscribe("probe.out").await;
    let mut fired = vec![fired_at(&next_message(&mut out, WAIT, "a first firing").await)];
    let (stage, _) = sluice.stop().await;
    // Nobody runs the function: the server keeps firing into the stream.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sluice = stage.start().await;
    collect(&mut out, Duration::from_secs(3), &mut fired).await;
    sluice.shutdown().await;
    assert!(fired.len() >= 5, "the firings while down and after: {fired:?}");
    assert_every_second_once(fired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_schedules_lists_each_schedule_with_its_last_and_next_firing() {
    let sluice = Sluice::builder()
        .add("ticker", "probe", ticker("@every 1s"))
        .add(
            "nightly",
            "probe",
            ticker("0 30 2 * * *").time_zone("Europe/Berlin"),
        )
        .start()
        .await;
    let mut out = sluice.subscribe("probe.out").await;
    next_message(&mut out, WAIT, "a firing of ticker").await;
    let listed = sluice_tests::sluice_schedules_json(sluice.server.url()).await;
    let listed = listed["schedules"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let nightly = &listed[0];
    assert_eq!(nightly["function"], "nightly");
    assert_eq!(nightly["stream"], "SLUICE_NIGHTLY");
    assert_eq!(nightly["schedule"], "0 30 2 * * *");
    assert_eq!(nightly["time_zone"], "Europe/Berlin");
    assert!(nightly["last_fired"].is_null(), "{nightly}");
    let ticker = &listed[1];
    assert_eq!(ticker["function"], "ticker");
    assert_eq!(ticker["schedule"], "@every 1s");
    let last = OffsetDateTime::parse(ticker["last_fired"].as_str().unwrap(), &Rfc3339).unwrap();
    let next = OffsetDateTime::parse(ticker["next"].as_str().unwrap(), &Rfc3339).unwrap();
    let gap = next - last;
    assert!(
        gap > time::Duration::ZERO && gap <= time::Duration::SECOND,
        "the next firing a second after the last: {ticker}"
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleets_undeploy_removes_the_schedule_with_no_host_running() {
    let server = NatsServer::start();
    let client = server.client().await;
    let fleet = deployer(&client).await;
    let cache = tempfile::tempdir().unwrap();
    let host = FleetHost::start(&server.url(), "a", cache.path()).await;
    fleet
        .deploy(&bundle("ticker", "probe", ticker("@every 1s")), None)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client.clone());
    eventually(WAIT, "the fleet's host stored the schedule", async || {
        match js.get_stream(STREAM).await {
            Ok(stream) => stream.get_last_raw_message_by_subject(HOLDER).await.is_ok(),
            Err(_) => false,
        }
    })
    .await;
    host.runtime.shutdown().await;
    assert!(fleet.undeploy("ticker").await.unwrap());
    let stream = js.get_stream(STREAM).await.unwrap();
    let gone = stream.get_last_raw_message_by_subject(HOLDER).await.unwrap_err();
    assert_eq!(gone.kind(), LastRawMessageErrorKind::NoMessageFound, "{gone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_cannot_hold_schedules_is_named_in_one_line() {
    let stage = Sluice::builder()
        .add("ticker", "probe", ticker("@every 1s").stream("TICKS_NEW"))
        .stage()
        .await;
    // A stream of the user's that discards new messages when full: no schedules there.
    let config = async_nats::jetstream::stream::Config {
        name: "TICKS_NEW".into(),
        subjects: vec!["ticks.>".into()],
        discard: async_nats::jetstream::stream::DiscardPolicy::New,
        max_messages: 1000,
        ..Default::default()
    };
    stage.js().create_stream(config).await.unwrap();
    // As any JetStream set-up failure of a folder's function at start-up: the host does not
    // start, and says why in one line.
    let error = HostOptions::default()
        .try_start(stage.server.url(), stage.dir.path())
        .await
        .err()
        .expect("a function whose stream cannot hold its schedule is refused")
        .to_string();
    assert!(
        !error.contains('\n')
            && error.contains("function `ticker`")
            && error.contains("TICKS_NEW")
            && error.contains("discard new"),
        "{error}"
    );
}
