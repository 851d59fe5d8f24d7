//! A fleet host's share of each partitioned function's partitions: after each report it
//! reads the hosts' reports and takes its place among the live, undrained hosts that serve
//! the function (see [`crate::dispatch::jetstream::partition::Share`]).

use std::time::Duration;

use super::control::{SeenHost, read_hosts};
use super::member::{DrainState, Member};
use crate::dispatch::jetstream::partition::Share;

/// A host whose report is older than this many report intervals no longer holds partitions:
/// sooner than `sluice status` calls it gone, so its partitions move within seconds.
const MISSED_REPORTS: u32 = 3;

/// Recomputes this host's shares from the hosts' reports.
pub async fn refresh(member: &Member) {
    let partitioned: Vec<String> = member
        .host
        .registry
        .names()
        .into_iter()
        .filter(|name| {
            member
                .host
                .registry
                .get(name)
                .is_some_and(|deployment| deployment.function().manifest().trigger.partitions().is_some())
        })
        .collect();
    if partitioned.is_empty() {
        return;
    }
    let hosts = match read_hosts(&member.buckets.hosts).await {
        Ok(hosts) => hosts,
        Err(error) => {
            tracing::debug!("fleet: cannot read the hosts' reports ({error}); partition shares unchanged");
            return;
        }
    };
    let me = member.config.host_id.as_str();
    let serving_here = member.drain_state() == DrainState::Serving;
    let shares = partitioned
        .into_iter()
        .map(|name| {
            let share = share_of(&hosts, &name, me, serving_here, member.config.report_every);
            (name, share)
        })
        .collect();
    member.host.dispatcher.shares.set(shares);
}

/// Host `me`'s share of `function` among `hosts`.
fn share_of(hosts: &[SeenHost], function: &str, me: &str, serving_here: bool, every: Duration) -> Share {
    let mut serving: Vec<&str> = hosts
        .iter()
        .filter(|seen| {
            !seen.report.stopped
                && seen.age <= every * MISSED_REPORTS
                && seen.report.drain.is_none()
                && seen.report.functions.contains_key(function)
        })
        .map(|seen| seen.report.host.as_str())
        .filter(|host| *host != me)
        .collect();
    if serving_here {
        // This host's own report may not show the function yet.
        serving.push(me);
    }
    serving.sort_unstable();
    Share {
        index: serving.iter().position(|host| *host == me),
        of: serving.len(),
    }
}

/// Shares for tests: every partitioned function's share of `hosts`, seen from `me`.
#[cfg(test)]
fn shares(hosts: &[SeenHost], functions: &[&str], me: &str) -> std::collections::HashMap<String, Share> {
    functions
        .iter()
        .map(|name| {
            (
                (*name).to_owned(),
                share_of(hosts, name, me, true, Duration::from_secs(2)),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::report::{FunctionReport, HostReport};

    fn seen(host: &str, serves: bool, age_s: u64, drain: Option<&str>) -> SeenHost {
        let mut report = HostReport {
            host: host.into(),
            sluice_version: "0.1.0".into(),
            started_at: "2026-12-03T06:00:00Z".into(),
            uptime_s: 1,
            report_every_ms: 2000,
            functions: Default::default(),
            failed: Default::default(),
            stopped: false,
            paused: Default::default(),
            drain: None,
        };
        if serves {
            report.functions.insert(
                "lines".into(),
                FunctionReport {
                    version: "v1".into(),
                    origin: "fleet".into(),
                    in_flight: 0,
                    events_per_s: 0.0,
                    dead_letters_last_minute: 0,
                },
            );
        }
        report.drain = drain.map(str::to_owned);
        SeenHost {
            report,
            age: Duration::from_secs(age_s),
        }
    }

    #[test]
    fn live_serving_undrained_hosts_split_the_partitions() {
        let hosts = [
            seen("c", true, 0, None),
            seen("a", true, 1, None),
            seen("d", true, 60, None),
            seen("e", true, 0, Some("draining")),
            seen("f", false, 0, None),
        ];
        // d reported too long ago, e is draining, f does not serve the function.
        let by_a = shares(&hosts, &["lines"], "a");
        assert_eq!(
            by_a["lines"],
            Share {
                index: Some(0),
                of: 2
            }
        );
        assert_eq!(
            shares(&hosts, &["lines"], "c")["lines"],
            Share {
                index: Some(1),
                of: 2
            }
        );
        // b serves it but has not reported yet: it counts itself in, the others do not yet.
        let by_b = shares(&hosts, &["lines"], "b");
        assert_eq!(
            by_b["lines"],
            Share {
                index: Some(1),
                of: 3
            }
        );
    }
}
