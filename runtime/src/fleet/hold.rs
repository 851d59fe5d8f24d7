//! A fleet host's side of pauses and drains: stopping a paused function (its intake first,
//! then waiting for its events in flight) before reporting it paused, and draining the
//! whole host when asked.
//!
//! A stopped function's deployment is dropped by everything that used it (intake, event
//! tasks, queued events) once the last of its events is settled; that is how the host knows
//! nothing of it runs any more.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::member::{DrainState, Member};
use super::records::{Drain, Pause};
use crate::deployment::Deployment;
use crate::host::ReloadEvent;

/// How long after the grace period a stopped function's events get to be handed back.
const HAND_BACK: Duration = Duration::from_secs(2);

/// How often a stopping function is checked for events still in flight.
const POLL: Duration = Duration::from_millis(5);

/// Whether function `name` is paused now (by the pauses `member` last read).
pub fn is_paused(member: &Member, name: &str) -> bool {
    member
        .loads()
        .pauses
        .get(name)
        .is_some_and(|pause| pause.in_force(OffsetDateTime::now_utc()))
}

/// Takes the pauses read from the bucket; forgets functions no longer paused.
pub fn set_pauses(member: &Member, pauses: BTreeMap<String, Pause>) {
    let now = OffsetDateTime::now_utc();
    let mut loads = member.loads();
    let ended = |name: &String| !pauses.get(name).is_some_and(|pause| pause.in_force(now));
    let before = loads.paused.len() + loads.pausing.len();
    loads.paused.retain(|name| !ended(name));
    loads.pausing.retain(|name| !ended(name));
    let changed = before != loads.paused.len() + loads.pausing.len();
    loads.pauses = pauses;
    drop(loads);
    if changed {
        member.changed.notify_one();
    }
}

/// When the earliest timed pause ends, if one is in force.
pub fn next_pause_end(member: &Member) -> Option<tokio::time::Instant> {
    let now = OffsetDateTime::now_utc();
    let end = member
        .loads()
        .pauses
        .values()
        .filter(|pause| pause.in_force(now))
        .filter_map(Pause::until_time)
        .min()?;
    let wait = Duration::try_from(end - now).unwrap_or_default();
    Some(tokio::time::Instant::now() + wait)
}

/// Stops fleet function `name` for its pause; reports it paused once nothing of it runs.
pub fn hold(member: &Arc<Member>, name: &str) {
    {
        let loads = member.loads();
        if loads.paused.contains(name) || loads.pausing.contains(name) {
            return;
        }
    }
    let host = &member.host;
    let running = host.registry.get(name).filter(|_| host.is_from_fleet(name));
    let Some(deployment) = running else {
        member.loads().paused.insert(name.to_owned());
        member.changed.notify_one();
        return;
    };
    member.loads().pausing.insert(name.to_owned());
    // Still the fleet's while paused, so the functions folder cannot take the name.
    host.registry.undeploy(name, host.grace);
    tracing::info!(function = name, "fleet: paused; waiting for events in flight");
    host.report(ReloadEvent::Undeployed {
        name: name.to_owned(),
    });
    let member = member.clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        settled(deployment, member.host.grace + HAND_BACK).await;
        let mut loads = member.loads();
        if loads.pausing.remove(&name) {
            loads.paused.insert(name.clone());
            tracing::info!(function = name, "fleet: paused, nothing in flight");
        }
        drop(loads);
        member.changed.notify_one();
    });
}

/// Marks `name` as running again (its pause ended); the caller deploys it.
pub fn release(member: &Member, name: &str) {
    let mut loads = member.loads();
    let was = loads.paused.remove(name) | loads.pausing.remove(name);
    drop(loads);
    if was {
        tracing::info!(function = name, "fleet: resumed");
    }
}

/// Acts on the drain requests read from the bucket: one made for this host process stops it
/// taking events and, once those in flight are done, exits it or leaves it idle. Returns
/// whether this host is draining (or drained).
pub fn drain_if_asked(member: &Arc<Member>, drains: &BTreeMap<String, Drain>) -> bool {
    if member.drain_state() != DrainState::Serving {
        return true;
    }
    let Some(drain) = drains
        .get(&member.config.host_id)
        .filter(|drain| drain.started_at == member.started_at)
    else {
        return false;
    };
    tracing::info!(
        by = drain.by,
        stay = drain.stay,
        "fleet: drain requested: taking no new events; events in flight get {:?}",
        member.host.grace
    );
    if !drain.stay {
        // `sluice up` shuts the host down: the same graceful path as SIGTERM.
        member.set_drain_state(DrainState::Draining);
        member.exit_requested.cancel();
        return true;
    }
    member.set_drain_state(DrainState::Draining);
    member
        .host
        .refuse_deploys("the host is drained (`sluice drain --stay`); restart it to serve again");
    let host = &member.host;
    let stopping: Vec<Arc<Deployment>> = host
        .registry
        .names()
        .into_iter()
        .filter_map(|name| {
            let deployment = host.registry.get(&name)?;
            host.registry.undeploy(&name, host.grace);
            host.report(ReloadEvent::Undeployed { name });
            Some(deployment)
        })
        .collect();
    let member = member.clone();
    tokio::spawn(async move {
        for deployment in stopping {
            settled(deployment, member.host.grace + HAND_BACK).await;
        }
        tracing::info!("fleet: drained; staying up with nothing deployed");
        member.set_drain_state(DrainState::Drained);
    });
    true
}

/// Waits until nothing but this handle holds `deployment` (its intake, event tasks and
/// queued events are done), at most `limit`.
async fn settled(deployment: Arc<Deployment>, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while Arc::strong_count(&deployment) > 1 {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                function = &**deployment.function().name(),
                "fleet: events still held after the grace period; reporting the function stopped anyway"
            );
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}
