//! What deployers do to the fleet: ship a function, remove it, list its versions, roll it
//! back, and read what the hosts report. Deploying is writing to the buckets; hosts only
//! read them (and write their own report).

use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use async_nats::jetstream::object_store::ObjectMetadata;
use futures::TryStreamExt;

use super::buckets::Buckets;
use super::bundle::Bundle;
use super::desired::{DesiredState, current_user, now_rfc3339};
use super::records::{Records, read_all};
use super::report::HostReport;

/// A deployer's handle on the fleet's buckets.
#[derive(Clone)]
pub struct Fleet {
    buckets: Buckets,
}

/// What [`Fleet::deploy`] did for one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipped {
    /// The desired state as written (or as it already was).
    pub state: DesiredState,
    /// Whether the component was uploaded (`false`: the store already had it).
    pub uploaded: bool,
    /// Whether the desired state already named this version (nothing was written).
    pub unchanged: bool,
}

/// One entry of a function's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// A deploy (or rollback) of this state.
    Deployed(DesiredState),
    /// An undeploy, at this time (RFC 3339).
    Undeployed(String),
}

/// A host's last report and how long ago it was written.
#[derive(Debug, Clone)]
pub struct SeenHost {
    /// The report.
    pub report: HostReport,
    /// Its age when read.
    pub age: Duration,
}

impl SeenHost {
    /// Whether the host stopped reporting: it shut down, or its report is older than
    /// [`super::GONE_AFTER`] (or three of its report intervals, whichever is longer).
    pub fn is_gone(&self) -> bool {
        let every = Duration::from_millis(self.report.report_every_ms);
        self.report.stopped || self.age > super::GONE_AFTER.max(every * 3)
    }
}

impl Fleet {
    /// A handle on opened buckets.
    pub fn new(buckets: Buckets) -> Self {
        Self { buckets }
    }

    /// The buckets.
    pub fn buckets(&self) -> &Buckets {
        &self.buckets
    }

    /// Uploads `bundle`'s component (unless the store has it) and records it as the desired
    /// state of its function, deployed by `by` (default: `user@machine`).
    pub async fn deploy(&self, bundle: &Bundle, by: Option<&str>) -> anyhow::Result<Shipped> {
        let state = DesiredState::of(bundle, by);
        let uploaded = self.upload(&state.component, &bundle.component).await?;
        if let Some(current) = self.desired(&state.name).await?
            && current.version == state.version
        {
            return Ok(Shipped {
                state: current,
                uploaded,
                unchanged: true,
            });
        }
        self.write(&state).await?;
        Ok(Shipped {
            state,
            uploaded,
            unchanged: false,
        })
    }

    /// Stores `bytes` under their SHA-256 `hash` unless an object of that name exists;
    /// returns whether it uploaded.
    pub(super) async fn upload(&self, hash: &str, bytes: &[u8]) -> anyhow::Result<bool> {
        let store = &self.buckets.components;
        if store.info(hash).await.is_ok() {
            return Ok(false);
        }
        let meta = ObjectMetadata {
            name: hash.to_owned(),
            description: Some("a Sluice function component".into()),
            ..Default::default()
        };
        retry_while_failing_over(async || store.put(meta.clone(), &mut &bytes[..]).await)
            .await
            .map_err(|error| {
                anyhow::anyhow!(
                    "cannot upload the component to bucket `{}`: {error}{}",
                    self.buckets.names.components,
                    permission_hint(&error.to_string())
                )
            })?;
        Ok(true)
    }

    pub(super) async fn write(&self, state: &DesiredState) -> anyhow::Result<()> {
        let functions = &self.buckets.functions;
        retry_while_failing_over(async || functions.put(&state.name, state.to_json().into()).await)
            .await
            .map_err(|error| {
                anyhow::anyhow!(
                    "cannot write the desired state of `{}` to bucket `{}`: {error}{}",
                    state.name,
                    self.buckets.names.functions,
                    permission_hint(&error.to_string())
                )
            })?;
        Ok(())
    }

    /// The desired state of `name`, if it is deployed.
    pub async fn desired(&self, name: &str) -> anyhow::Result<Option<DesiredState>> {
        let functions = &self.buckets.functions;
        // Right after a node is lost the bucket may have no leader for a moment.
        let entry = retry_while_failing_over(async || functions.entry(name).await).await?;
        Ok(match entry {
            Some(entry) if entry.operation == Operation::Put => Some(DesiredState::from_json(&entry.value)?),
            _ => None,
        })
    }

    /// Every deployed function's desired state, by name.
    pub async fn all_desired(&self) -> anyhow::Result<Vec<DesiredState>> {
        Ok(self.records().await?.functions)
    }

    /// Everything the functions bucket holds: desired states, pauses and drain requests.
    pub async fn records(&self) -> anyhow::Result<Records> {
        read_while_failing_over(async || read_all(&self.buckets.functions).await).await
    }

    /// Removes `name` from the fleet; returns whether it was deployed. A scheduled
    /// function's schedule is removed here too, so it stops firing even when no host runs
    /// the function (the hosts that do remove it again, harmlessly).
    pub async fn undeploy(&self, name: &str) -> anyhow::Result<bool> {
        let Some(desired) = self.desired(name).await? else {
            return Ok(false);
        };
        let functions = &self.buckets.functions;
        // A pause or a shadow outlives nothing it paused or shadowed.
        for record in [super::records::pause_key(name), super::records::shadow_key(name)] {
            if functions.get(record.as_str()).await?.is_some() {
                retry_while_failing_over(async || functions.delete(record.as_str()).await).await?;
            }
        }
        retry_while_failing_over(async || functions.delete(name).await)
            .await
            .map_err(|error| {
                anyhow::anyhow!(
                    "cannot remove `{name}` from bucket `{}`: {error}{}",
                    self.buckets.names.functions,
                    permission_hint(&error.to_string())
                )
            })?;
        self.remove_schedule(&desired).await;
        Ok(true)
    }

    /// Removes the schedule of `desired`'s function, if its manifest has one.
    async fn remove_schedule(&self, desired: &DesiredState) {
        let path = std::path::PathBuf::from(format!("{}.toml", desired.name));
        let Ok(manifest) = crate::Manifest::parse(&desired.name, &desired.manifest, &path) else {
            return;
        };
        if let (Some(_), crate::manifest::DeliveryMode::JetStream(trigger)) =
            (&manifest.trigger.schedule, &manifest.trigger.mode)
        {
            crate::provision::schedule::remove(&self.buckets.js, &desired.name, &trigger.stream).await;
        }
    }

    /// `name`'s history, oldest first (the bucket keeps the last [`super::HISTORY`]).
    pub async fn versions(&self, name: &str) -> anyhow::Result<Vec<Version>> {
        read_while_failing_over(async || self.read_versions(name).await).await
    }

    async fn read_versions(&self, name: &str) -> anyhow::Result<Vec<Version>> {
        let history = match self.buckets.functions.history(name).await {
            Ok(history) => history,
            Err(error)
                if error.to_string().contains("no keys") || error.to_string().contains("not found") =>
            {
                return Ok(Vec::new());
            }
            Err(error) => return Err(error.into()),
        };
        let entries: Vec<kv::Entry> = history.try_collect().await?;
        entries
            .into_iter()
            .map(|entry| match entry.operation {
                Operation::Put => Ok(Version::Deployed(DesiredState::from_json(&entry.value)?)),
                Operation::Delete | Operation::Purge => Ok(Version::Undeployed(
                    entry
                        .created
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                )),
            })
            .collect()
    }

    /// Makes an earlier version of `name` the desired state again: the one whose version or
    /// component hash starts with `to`, else the latest one before the current version.
    pub async fn rollback(
        &self,
        name: &str,
        to: Option<&str>,
        by: Option<&str>,
    ) -> anyhow::Result<DesiredState> {
        let history = self.versions(name).await?;
        let current = self.desired(name).await?;
        let deployed = history.iter().rev().filter_map(|v| match v {
            Version::Deployed(state) => Some(state),
            Version::Undeployed(_) => None,
        });
        let target = match to {
            Some(to) => deployed
                .clone()
                .find(|s| s.version.starts_with(to) || s.component.starts_with(to))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "`{name}` has no version {to} in its history (see `sluice versions {name}`)"
                    )
                })?,
            None => deployed
                .clone()
                .find(|s| current.as_ref().is_none_or(|c| c.version != s.version))
                .ok_or_else(|| anyhow::anyhow!("`{name}` has no earlier version to roll back to"))?,
        };
        let components = &self.buckets.components;
        if read_while_failing_over(async || components.info(&target.component).await)
            .await
            .is_err()
        {
            anyhow::bail!(
                "the component of `{name}` version {} (sha256 {}) is no longer in bucket `{}`",
                target.version,
                target.short_component(),
                self.buckets.names.components
            );
        }
        let state = DesiredState {
            deployed_by: by.map_or_else(current_user, str::to_owned),
            deployed_at: now_rfc3339(),
            rolled_back_from: current.map(|c| c.version),
            ..target.clone()
        };
        self.write(&state).await?;
        Ok(state)
    }

    /// Every host's last report, by host id.
    pub async fn hosts(&self) -> anyhow::Result<Vec<SeenHost>> {
        read_while_failing_over(async || read_hosts(&self.buckets.hosts).await).await
    }
}

/// Every host's report in the hosts bucket `store`, with its age.
pub async fn read_hosts(store: &async_nats::jetstream::kv::Store) -> anyhow::Result<Vec<SeenHost>> {
    let keys: Vec<String> = store.keys().await?.try_collect().await?;
    let now = time::OffsetDateTime::now_utc();
    let mut hosts = Vec::new();
    for key in keys {
        let Some(entry) = store.entry(key).await? else {
            continue;
        };
        if entry.operation != Operation::Put {
            continue;
        }
        let Ok(report) = HostReport::from_json(&entry.value) else {
            continue;
        };
        let age = (now - entry.created).try_into().unwrap_or_default();
        hosts.push(SeenHost { report, age });
    }
    Ok(hosts)
}

/// How long a write is retried while the cluster moves a bucket's leader (a node was lost).
const FAILOVER: Duration = Duration::from_secs(15);

/// Runs `write` until it succeeds, fails for a reason other than a cluster failing over
/// (the stream briefly has no leader: "no stream found", "no responders"), or
/// [`FAILOVER`] has passed.
pub(super) async fn retry_while_failing_over<T, E: std::fmt::Display>(
    write: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    retry_while(write, is_failing_over).await
}

/// Runs `read` like [`retry_while_failing_over`], and also again when it timed out: listing
/// a bucket's keys or history creates a consumer on the stream's leader, and while a lost
/// node's leadership moves that request goes unanswered. A read is safe to run twice.
async fn read_while_failing_over<T, E: std::fmt::Display>(
    read: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    retry_while(read, |error| {
        is_failing_over(error) || error.contains("timed out")
    })
    .await
}

async fn retry_while<T, E: std::fmt::Display>(
    mut attempt: impl AsyncFnMut() -> Result<T, E>,
    retriable: impl Fn(&str) -> bool,
) -> Result<T, E> {
    let deadline = tokio::time::Instant::now() + FAILOVER;
    loop {
        match attempt().await {
            Err(error) if retriable(&error.to_string()) && tokio::time::Instant::now() < deadline => {
                tracing::debug!("fleet: {error}; the cluster is failing over, trying again");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            result => return result,
        }
    }
}

fn is_failing_over(error: &str) -> bool {
    error.contains("no stream found") || error.contains("no responders")
}

/// A hint when a write to a bucket timed out, the usual sign of a permissions violation (the
/// server drops the publish and the client waits for an acknowledgement that never comes).
pub(super) fn permission_hint(cause: &str) -> &'static str {
    if cause.contains("timed out") || cause.to_lowercase().contains("permission") {
        " (does this NATS user have permission to publish there? see README, \"Running a fleet\")"
    } else {
        ""
    }
}
