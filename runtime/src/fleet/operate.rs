//! What operators do to running functions and hosts: pause a function on every host and
//! resume it, and drain a host. Each writes a record into the functions bucket that hosts
//! act on; a JetStream function's consumer is also paused on the server, so its events wait
//! in the stream whatever the hosts do.

use std::path::Path;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::control::{Fleet, SeenHost, permission_hint, retry_while_failing_over};
use super::desired::{DesiredState, current_user, now_rfc3339};
use super::records::{Drain, Pause, drain_key, pause_key, to_json};
use crate::manifest::{DeliveryMode, Manifest};

/// The oldest nats-server that pauses consumers.
const PAUSE_SERVER: (u64, u64) = (2, 11);

/// How far ahead an open-ended pause sets the consumer's `pause_until`.
const OPEN_ENDED: time::Duration = time::Duration::days(3650);

/// A function's JetStream consumer, by stream and consumer name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerName {
    /// The stream.
    pub stream: String,
    /// The durable consumer.
    pub consumer: String,
}

impl Fleet {
    /// Pauses `name` on every host until `until` (`None`: until [`Fleet::resume`]). Returns
    /// the pause as written and the JetStream consumer it paused on the server, if any.
    pub async fn pause(
        &self,
        name: &str,
        until: Option<OffsetDateTime>,
        by: Option<&str>,
    ) -> anyhow::Result<(Pause, Option<ConsumerName>)> {
        let state = self.deployed(name).await?;
        if let Some(until) = until
            && until <= OffsetDateTime::now_utc()
        {
            anyhow::bail!("--until {} is not in the future", format_time(until));
        }
        let consumer = consumer_of(&state)?;
        if consumer.is_some() {
            self.require_pause_support(name)?;
        }
        let pause = Pause {
            name: name.to_owned(),
            until: until.map(format_time),
            paused_by: by.map_or_else(current_user, str::to_owned),
            paused_at: now_rfc3339(),
        };
        self.put(&pause_key(name), to_json(&pause)).await?;
        if let Some(consumer) = &consumer {
            self.pause_consumer(consumer, until).await?;
        }
        Ok((pause, consumer))
    }

    /// Sets the server-side pause of `consumer` again: once every host has stopped the
    /// function, none can have undone it by updating the consumer meanwhile.
    pub async fn pause_consumer(
        &self,
        consumer: &ConsumerName,
        until: Option<OffsetDateTime>,
    ) -> anyhow::Result<()> {
        let until = until.unwrap_or_else(|| OffsetDateTime::now_utc() + OPEN_ENDED);
        let stream = match self.buckets().js.get_stream(&consumer.stream).await {
            Ok(stream) => stream,
            // No host created it yet: there is nothing to deliver.
            Err(_) => return Ok(()),
        };
        match stream.pause_consumer(&consumer.consumer, until).await {
            Ok(_) => Ok(()),
            Err(error) if error.to_string().contains("not found") => Ok(()),
            Err(error) => Err(anyhow::anyhow!(
                "cannot pause consumer `{}` of stream `{}`: {error}",
                consumer.consumer,
                consumer.stream
            )),
        }
    }

    /// Resumes `name` on every host; returns whether it was paused.
    pub async fn resume(&self, name: &str) -> anyhow::Result<bool> {
        let key = pause_key(name);
        let Some(_) = self.buckets().functions.get(key.as_str()).await? else {
            return Ok(false);
        };
        if let Some(state) = self.desired(name).await?
            && let Some(consumer) = consumer_of(&state)?
            && let Ok(stream) = self.buckets().js.get_stream(&consumer.stream).await
            && let Err(error) = stream.resume_consumer(&consumer.consumer).await
            && !error.to_string().contains("not found")
        {
            anyhow::bail!(
                "cannot resume consumer `{}` of stream `{}`: {error}",
                consumer.consumer,
                consumer.stream
            );
        }
        self.delete(&key).await?;
        Ok(true)
    }

    /// Asks live host `host` to drain: stop taking events, finish those in flight within its
    /// grace period, hand the rest back, then exit (or, with `stay`, stay up idle).
    pub async fn drain(&self, host: &str, stay: bool, by: Option<&str>) -> anyhow::Result<Drain> {
        let seen = self.live_host(host).await?;
        let drain = Drain {
            host: host.to_owned(),
            started_at: seen.report.started_at,
            stay,
            by: by.map_or_else(current_user, str::to_owned),
            at: now_rfc3339(),
        };
        self.put(&drain_key(host), to_json(&drain)).await?;
        Ok(drain)
    }

    /// Removes the drain request of `host` (it applies only to the process it was made for).
    pub async fn forget_drain(&self, host: &str) -> anyhow::Result<()> {
        self.delete(&drain_key(host)).await
    }

    /// The report of `host`, which must be live.
    pub async fn live_host(&self, host: &str) -> anyhow::Result<SeenHost> {
        let hosts = self.hosts().await?;
        match hosts.into_iter().find(|seen| seen.report.host == host) {
            Some(seen) if !seen.is_gone() => Ok(seen),
            Some(_) => anyhow::bail!("host `{host}` is not running (see `sluice status`)"),
            None => anyhow::bail!("no host `{host}` has reported to the fleet (see `sluice status`)"),
        }
    }

    async fn deployed(&self, name: &str) -> anyhow::Result<DesiredState> {
        self.desired(name)
            .await?
            .ok_or_else(|| anyhow::anyhow!("`{name}` is not deployed to the fleet (see `sluice status`)"))
    }

    /// Fails when the server cannot pause consumers, naming what `name` needs.
    fn require_pause_support(&self, name: &str) -> anyhow::Result<()> {
        match crate::nats::older_than(&self.buckets().js.client(), PAUSE_SERVER) {
            Some(connected) => anyhow::bail!(
                "pausing JetStream function `{name}` needs nats-server 2.11 or newer (consumer pause); connected to {connected}"
            ),
            None => Ok(()),
        }
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> anyhow::Result<()> {
        let functions = &self.buckets().functions;
        retry_while_failing_over(async || functions.put(key, value.clone().into()).await)
            .await
            .map(drop)
            .map_err(|error| self.write_error(key, &error.to_string()))
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let functions = &self.buckets().functions;
        retry_while_failing_over(async || functions.delete(key).await)
            .await
            .map_err(|error| self.write_error(key, &error.to_string()))
    }

    fn write_error(&self, key: &str, error: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "cannot write `{key}` to bucket `{}`: {error}{}",
            self.buckets().names.functions,
            permission_hint(error)
        )
    }
}

/// The JetStream consumer `state`'s function takes its events from, if it is a JetStream
/// function.
pub fn consumer_of(state: &DesiredState) -> anyhow::Result<Option<ConsumerName>> {
    let file = format!("{}.toml", state.name);
    let manifest = Manifest::parse(&state.name, &state.manifest, Path::new(&file))?;
    Ok(match manifest.trigger.mode {
        DeliveryMode::JetStream(trigger) => Some(ConsumerName {
            stream: trigger.stream,
            consumer: trigger.consumer,
        }),
        DeliveryMode::Core => None,
    })
}

/// `time` in RFC 3339, whole seconds.
fn format_time(time: OffsetDateTime) -> String {
    time.replace_nanosecond(0)
        .unwrap_or(time)
        .format(&Rfc3339)
        .expect("a time formats as RFC 3339")
}
