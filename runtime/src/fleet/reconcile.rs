//! A fleet host's reconciling task: watches the desired state and brings the host in line
//! through the same deploy, redeploy and undeploy path as hot reload, so a swap drops and
//! duplicates nothing and a version that fails to load leaves the previous one serving.
//!
//! The watch delivers each change at once; a full comparison every [`RESYNC`] catches
//! whatever a watch can miss (a reconnect, a restarted bucket leader), so a host that was cut
//! off converges without a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{Entry, Operation};
use futures::StreamExt;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::bundle::write_files;
use super::desired::{DesiredState, sha256_hex};
use super::hold;
use super::member::Member;
use super::records::{Record, ShadowRecord, read_all};
use super::report::FailedLoad;
use crate::function::Function;
use crate::host::ReloadEvent;

/// How often the whole desired state is compared with what the host runs.
pub const RESYNC: Duration = Duration::from_secs(5);

/// How long one component's download may take.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest component a host downloads.
pub const MAX_COMPONENT_BYTES: u64 = 256 << 20;

/// Reconciles `member`'s host with the desired state until `stop` is cancelled.
pub async fn run(member: Arc<Member>, stop: CancellationToken) {
    let mut resync = tokio::time::interval(RESYNC);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut watch = match member.buckets.functions.watch_with_history(">").await {
            Ok(watch) => watch,
            Err(error) => {
                tracing::warn!("fleet: cannot watch the desired state ({error}); retrying");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        loop {
            let pause_ends = hold::next_pause_end(&member);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = sleep_until(pause_ends) => resync_all(&member).await,
                entry = watch.next() => match entry {
                    Some(Ok(entry)) => apply_entry(&member, entry).await,
                    Some(Err(error)) => {
                        tracing::warn!("fleet: the desired-state watch failed ({error}); watching again");
                        break;
                    }
                    None => break,
                },
                _ = resync.tick() => resync_all(&member).await,
            }
        }
    }
}

/// Sleeps until `at`, or forever.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Applies one change of the desired state. A pause or drain record changing makes the host
/// read everything again.
async fn apply_entry(member: &Arc<Member>, entry: Entry) {
    let put = entry.operation == Operation::Put;
    match Record::of(&entry.key) {
        Record::Function(_) if put => match DesiredState::from_json(&entry.value) {
            Ok(state) => apply_or_hold(member, &state).await,
            Err(error) => tracing::error!(
                function = entry.key,
                "fleet: unreadable desired state ({error}); ignored"
            ),
        },
        Record::Function(name) => remove(member, name),
        Record::Pause(_) | Record::Drain(_) | Record::Shadow(_) => resync_all(member).await,
    }
}

/// Compares the whole desired state with what the host runs.
async fn resync_all(member: &Arc<Member>) {
    let records = match read_all(&member.buckets.functions).await {
        Ok(records) => records,
        Err(error) => {
            tracing::debug!("fleet: cannot read the desired state ({error:#}); next try in {RESYNC:?}");
            return;
        }
    };
    if hold::drain_if_asked(member, &records.drains) {
        return;
    }
    hold::set_pauses(member, records.pauses);
    let states = records.functions;
    for state in &states {
        apply_or_hold(member, state).await;
    }
    let stale: Vec<String> = member
        .host
        .fleet_functions()
        .into_iter()
        .filter(|name| !states.iter().any(|state| &state.name == name))
        .collect();
    for name in stale {
        remove(member, &name);
    }
    apply_shadows(member, &records.shadows).await;
}

/// Brings the shadow of each fleet function this host runs in line with its shadow record:
/// starts, replaces or stops it. A candidate that fails to load is logged once and left.
async fn apply_shadows(member: &Member, shadows: &std::collections::BTreeMap<String, ShadowRecord>) {
    let host = &member.host;
    for name in host.fleet_functions() {
        let running = host.shadow_of(&name);
        let Some(record) = shadows.get(&name) else {
            if running.is_some() {
                let _ = host.set_shadow(&name, None).await;
            }
            continue;
        };
        let version = &record.candidate.version;
        if running
            .as_ref()
            .is_some_and(|(v, sample)| v == version && *sample == record.sample)
            || host.registry.get(&name).is_none()
            || member
                .loads()
                .failed_shadows
                .get(&name)
                .is_some_and(|(failed, _)| failed == version)
        {
            continue;
        }
        let started = match load_shadow(member, record).await {
            Ok(function) => {
                let options = crate::shadow::ShadowOptions {
                    sample: record.sample,
                };
                host.set_shadow(&name, Some((function, options)))
                    .await
                    .map_err(|error| format!("{error:#}"))
            }
            Err(error) => Err(error),
        };
        match started {
            Ok(()) => {
                member.loads().failed_shadows.remove(&name);
            }
            Err(error) => {
                tracing::error!(function = name, version, "fleet: shadow not started: {error}");
                member
                    .loads()
                    .failed_shadows
                    .insert(name.clone(), (version.clone(), error));
            }
        }
    }
}

/// The candidate of `record`, downloaded, checked and loaded as a shadow version.
async fn load_shadow(member: &Member, record: &ShadowRecord) -> Result<Function, String> {
    let state = &record.candidate;
    let bytes = download(member, state).await.map_err(|failed| failed.error)?;
    let dir = member.config.files_dir.join(format!("{}.shadow", state.name));
    let engine = member.host.dispatcher.engine.clone();
    let (state, http) = (state.clone(), record.http.clone());
    let loaded = tokio::task::spawn_blocking(move || {
        let wasm = write_files(&dir, &state.name, &bytes, &state.manifest, &state.schemas)
            .map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
        let function = Function::load(&engine, &wasm).map_err(|e| e.to_string())?;
        function
            .shadowed(&http)
            .map_err(|why| format!("--shadow-http: {why}"))
    })
    .await;
    loaded.unwrap_or_else(|panic| Err(format!("loading panicked: {panic}")))
}

/// Stops `state`'s function while it is paused, else brings it to its desired version;
/// nothing while the host drains.
async fn apply_or_hold(member: &Arc<Member>, state: &DesiredState) {
    if member.drain_state() != super::member::DrainState::Serving {
        return;
    }
    if hold::is_paused(member, &state.name) {
        return hold::hold(member, &state.name);
    }
    hold::release(member, &state.name);
    apply(member, state).await;
}

/// Brings function `state.name` to `state.version` unless it is there already or that
/// version failed here for good.
async fn apply(member: &Member, state: &DesiredState) {
    let host = &member.host;
    let name = state.name.as_str();
    let serving = host.registry.get(name).map(|d| d.function().version().to_owned());
    let from_fleet = host.fleet_functions().contains(name);
    if serving.as_deref() == Some(&state.version) && from_fleet {
        if member.loads().failed.remove(name).is_some() {
            member.changed.notify_one();
        }
        return;
    }
    if let Some((failed, retry)) = member.loads().failed.get(name)
        && failed.version == state.version
        && !retry
    {
        return;
    }
    if serving.is_some() && !from_fleet {
        let error = format!(
            "`{name}` is deployed from this host's functions folder; a function comes from the folder or from the fleet, not both"
        );
        // Tried again at each resync: once the folder's function is removed, the fleet's runs.
        return failed(member, state, error, true);
    }
    let started = Instant::now();
    let bytes = match download(member, state).await {
        Ok(bytes) => bytes,
        Err(Download { error, retry }) => return failed(member, state, error, retry),
    };
    let function = match load(member, state, bytes).await {
        Ok(function) => function,
        Err(error) => return failed(member, state, error, false),
    };
    host.claim_for_fleet(name);
    match host.deploy(function).await {
        Ok(_) => {
            member.loads().failed.remove(name);
            let took_ms = started.elapsed().as_millis() as u64;
            tracing::info!(
                function = name,
                version = state.version,
                took_ms,
                "fleet: deployed"
            );
            host.report(ReloadEvent::Deployed {
                name: name.to_owned(),
                version: state.version.clone(),
            });
            member.changed.notify_one();
        }
        Err(error) => {
            if serving.is_none() {
                host.release_from_fleet(name);
            }
            // The component loaded: what failed is NATS or JetStream (a request timed out while
            // the cluster elects a leader, a stream it cannot create), tried again at each resync.
            failed(member, state, format!("{error:#}"), true);
        }
    }
}

/// A download that failed, and whether trying again may help.
struct Download {
    error: String,
    retry: bool,
}

/// The component of `state`, checked against its hash.
async fn download(member: &Member, state: &DesiredState) -> Result<Vec<u8>, Download> {
    let store = &member.buckets.components;
    let transient = |error: String| Download { error, retry: true };
    let mut object = store.get(&state.component).await.map_err(|e| {
        transient(format!(
            "cannot download component sha256 {}: {e}",
            state.short_component()
        ))
    })?;
    let mut bytes = Vec::with_capacity(state.size.min(MAX_COMPONENT_BYTES) as usize);
    let mut limited = (&mut object).take(MAX_COMPONENT_BYTES + 1);
    let read = limited.read_to_end(&mut bytes);
    match tokio::time::timeout(DOWNLOAD_TIMEOUT, read).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(transient(format!(
                "cannot download component sha256 {}: {e}",
                state.short_component()
            )));
        }
        Err(_) => {
            return Err(transient(format!(
                "downloading component sha256 {} took longer than {DOWNLOAD_TIMEOUT:?} (may this NATS user publish to $JS.FC.>, the object store's flow control?)",
                state.short_component()
            )));
        }
    }
    if bytes.len() as u64 > MAX_COMPONENT_BYTES {
        return Err(Download {
            error: format!("component is larger than {MAX_COMPONENT_BYTES} bytes; not loaded"),
            retry: false,
        });
    }
    let actual = sha256_hex(&bytes);
    if actual != state.component {
        return Err(Download {
            error: format!(
                "component bytes do not match their hash: expected sha256 {}, downloaded {} (the object in bucket `{}` was replaced or corrupted); not loaded",
                state.short_component(),
                &actual[..12],
                member.buckets.names.components
            ),
            retry: false,
        });
    }
    Ok(bytes)
}

/// Writes the function's files into the host's fleet folder and loads them as a folder
/// function is loaded.
async fn load(member: &Member, state: &DesiredState, bytes: Vec<u8>) -> Result<Function, String> {
    let dir = member.config.files_dir.join(&state.name);
    let engine = member.host.dispatcher.engine.clone();
    let state = state.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let wasm = write_files(&dir, &state.name, &bytes, &state.manifest, &state.schemas)
            .map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
        let function = Function::load(&engine, &wasm).map_err(|e| e.to_string())?;
        match function.version() == state.version {
            true => Ok(function),
            false => Err(format!(
                "loaded as version {}, not the desired {} (deployed by a different sluice version?)",
                function.version(),
                state.version
            )),
        }
    })
    .await;
    loaded.unwrap_or_else(|panic| Err(format!("loading panicked: {panic}")))
}

/// Records and logs that `state` could not be deployed here.
fn failed(member: &Member, state: &DesiredState, error: String, retry: bool) {
    let name = state.name.as_str();
    let serving = match member.host.registry.get(name) {
        Some(_) => "; the previous version keeps serving",
        None => "",
    };
    let mut loads = member.loads();
    let repeated = loads
        .failed
        .get(name)
        .is_some_and(|(known, _)| known.version == state.version && known.error == error);
    if !repeated {
        tracing::error!(
            function = name,
            version = state.version,
            "fleet: not deployed: {error}{serving}"
        );
        member.host.report(ReloadEvent::Failed {
            name: name.to_owned(),
            error: error.clone(),
        });
    }
    let failure = FailedLoad {
        version: state.version.clone(),
        error,
    };
    loads.failed.insert(name.to_owned(), (failure, retry));
    drop(loads);
    member.changed.notify_one();
}

/// Undeploys fleet function `name` (a folder function of that name stays).
fn remove(member: &Member, name: &str) {
    let had_failure = {
        let mut loads = member.loads();
        let paused = loads.paused.remove(name) | loads.pausing.remove(name);
        loads.failed.remove(name).is_some() || paused
    };
    if member.host.release_from_fleet(name) && member.host.remove_function(name) {
        tracing::info!(function = name, "fleet: undeployed");
        member.host.report(ReloadEvent::Undeployed {
            name: name.to_owned(),
        });
    } else if !had_failure {
        return;
    }
    member.changed.notify_one();
}
