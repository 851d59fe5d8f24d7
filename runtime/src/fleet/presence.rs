//! A fleet host's reporting task: keeps the host's report fresh in the presence bucket,
//! every [`super::REPORT_EVERY`] and at once after each change, and marks it stopped when
//! the host shuts down.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::member::{DrainState, Member};
use super::report::{FunctionReport, HostReport};

/// How far back the per-minute rates look.
const WINDOW: Duration = Duration::from_secs(60);

/// Received and dead-lettered counts of each function at one moment.
type Counts = BTreeMap<String, (u64, u64)>;

/// Reports `member` until `stop` is cancelled, then writes a last report marked stopped.
pub async fn run(member: Arc<Member>, stop: CancellationToken) {
    let mut samples: VecDeque<(Instant, Counts)> = VecDeque::new();
    let mut every = tokio::time::interval(member.config.report_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        let stopping = tokio::select! {
            _ = stop.cancelled() => true,
            _ = every.tick() => false,
            _ = member.changed.notified() => false,
        };
        let report = report(&member, &mut samples, stopping);
        let put = member
            .buckets
            .hosts
            .put(&member.config.host_id, report.to_json().into())
            .await;
        match put {
            Ok(_) if failing => {
                tracing::info!(
                    "fleet: reporting to bucket `{}` again",
                    member.buckets.names.hosts
                );
                failing = false;
            }
            Ok(_) => {}
            Err(error) if !failing => {
                tracing::warn!(
                    "fleet: cannot report to bucket `{}` ({error}); `sluice status` will show this host as gone until it can",
                    member.buckets.names.hosts
                );
                failing = true;
            }
            Err(_) => {}
        }
        if stopping {
            return;
        }
        super::shares::refresh(&member).await;
    }
}

/// The host's report now; `samples` keeps the counts of the last minute for the rates.
fn report(member: &Member, samples: &mut VecDeque<(Instant, Counts)>, stopped: bool) -> HostReport {
    let host = &member.host;
    let now = Instant::now();
    let counts: Counts = host
        .registry
        .names()
        .into_iter()
        .filter_map(|name| {
            let stats = host.registry.stats(&name)?;
            Some((name, (stats.received, stats.dead_lettered)))
        })
        .collect();
    while samples.front().is_some_and(|(at, _)| now - *at > WINDOW) {
        samples.pop_front();
    }
    let (since, oldest) = samples.front().cloned().unwrap_or((now, Counts::new()));
    let seconds = (now - since).as_secs_f64().max(1.0);
    samples.push_back((now, counts.clone()));
    let fleet = host.fleet_functions();
    let functions = counts
        .iter()
        .filter_map(|(name, &(received, dead))| {
            let deployment = host.registry.get(name)?;
            let stats = host.registry.stats(name)?;
            let (received_then, dead_then) = oldest.get(name).copied().unwrap_or((received, dead));
            let report = FunctionReport {
                version: deployment.function().version().to_owned(),
                origin: if fleet.contains(name) { "fleet" } else { "folder" }.to_owned(),
                in_flight: stats.in_flight,
                events_per_s: received.saturating_sub(received_then) as f64 / seconds,
                dead_letters_last_minute: dead.saturating_sub(dead_then),
            };
            Some((name.clone(), report))
        })
        .collect();
    let failed = member
        .loads()
        .failed
        .iter()
        .map(|(name, (failure, _))| (name.clone(), failure.clone()))
        .collect();
    let (paused, drain) = {
        let loads = member.loads();
        (loads.paused.clone(), member.drain_state())
    };
    HostReport {
        paused,
        drain: match drain {
            DrainState::Serving => None,
            DrainState::Draining => Some("draining".to_owned()),
            DrainState::Drained => Some("drained".to_owned()),
        },
        host: member.config.host_id.clone(),
        sluice_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: member.started_at.clone(),
        uptime_s: member.started.elapsed().as_secs(),
        report_every_ms: member.config.report_every.as_millis() as u64,
        functions,
        failed,
        stopped,
    }
}
