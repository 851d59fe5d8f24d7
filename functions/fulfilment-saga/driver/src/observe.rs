//! Reading back what happened: every event in the saga's streams, the stock levels, the
//! refunds made and the payment timeouts still waiting to fire.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::jetstream::{self, consumer::AckPolicy, consumer::pull};
use futures::{StreamExt, TryStreamExt};
use saga_events::stock::{self, StockLevel};
use sluice_protocol::delay::{HOLDER_PREFIX, STREAM as DELAY_STREAM};
use sluice_protocol::headers::dead_letter::REPLAYS;
use tokio::time::Instant;

use crate::catalogue::CATALOGUE;
use crate::shop::{DEAD_LETTERS, FUNCTIONS, INVENTORY_BUCKET, MAIL_STREAM, PAYMENTS_BUCKET, stream_of};

/// One message found in a stream.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The stream holding it, and its sequence there.
    pub stream: String,
    /// Its sequence in the stream.
    pub sequence: u64,
    /// Its subject.
    pub subject: String,
    /// Its event id: `Nats-Msg-Id`, else `Sluice-Event-Id` (a replayed dead letter).
    pub event_id: String,
    /// `Sluice-Correlation-Id`.
    pub correlation: String,
    /// `Sluice-Causation-Id`: the event that led to it (none for an order placed).
    pub causation: String,
    /// When the stream stored it, in nanoseconds since the Unix epoch.
    pub at_nanos: i128,
    /// The headers, as published.
    pub headers: async_nats::HeaderMap,
    /// The payload, parsed as JSON (`null` when it is not).
    pub payload: serde_json::Value,
}

impl Seen {
    /// The order the message is about (`order_id` in its payload), or "".
    pub fn order_id(&self) -> &str {
        self.payload["order_id"].as_str().unwrap_or("")
    }

    /// Whether it is a copy the driver re-sent (see [`crate::duplicates`]).
    pub fn is_copy(&self) -> bool {
        self.event_id.starts_with(crate::duplicates::COPY_PREFIX)
    }

    /// Whether `sluice dlq replay` published it again from the dead letters.
    pub fn is_replay(&self) -> bool {
        self.headers.get(REPLAYS).is_some()
    }

    fn header(headers: &async_nats::HeaderMap, name: &str) -> String {
        headers
            .get(name)
            .map_or_else(String::new, |value| value.as_str().to_owned())
    }
}

/// Every message `stream` holds, oldest first, read by an ephemeral consumer.
pub async fn read_stream(js: &jetstream::Context, name: &str) -> anyhow::Result<Vec<Seen>> {
    let stream = js
        .get_stream(name)
        .await
        .with_context(|| format!("stream {name}"))?;
    let expected = stream.cached_info().state.messages as usize;
    let consumer = stream
        .create_consumer(pull::Config {
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::with_capacity(expected);
    while seen.len() < expected {
        if Instant::now() > deadline {
            bail!("read {} of the {expected} messages of {name} in 30s", seen.len());
        }
        let mut batch = consumer.fetch().max_messages(1000).messages().await?;
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| anyhow::anyhow!("reading {name}: {e}"))?;
            let info = message.info().map_err(|e| anyhow::anyhow!("{e}"))?;
            let (sequence, at_nanos) = (info.stream_sequence, info.published.unix_timestamp_nanos());
            let headers = message.headers.clone().unwrap_or_default();
            let mut event_id = Seen::header(&headers, "Nats-Msg-Id");
            if event_id.is_empty() {
                event_id = Seen::header(&headers, "Sluice-Event-Id");
            }
            seen.push(Seen {
                stream: name.to_owned(),
                sequence,
                subject: message.subject.to_string(),
                event_id,
                correlation: Seen::header(&headers, "Sluice-Correlation-Id"),
                causation: Seen::header(&headers, "Sluice-Causation-Id"),
                at_nanos,
                payload: serde_json::from_slice(&message.payload).unwrap_or_default(),
                headers,
            });
        }
    }
    Ok(seen)
}

/// Everything a run left behind.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// The run's messages in the functions' streams, the mail stream and the dead-letter
    /// stream, in the order the streams stored them.
    pub events: Vec<Seen>,
    /// Every catalogue product's stock level now.
    pub stock: BTreeMap<String, StockLevel>,
    /// The run's orders `saga-payment` refunded (its claims `refund.ORDER`).
    pub refunds: BTreeSet<String>,
    /// The run's payment timeouts scheduled and neither fired nor cancelled yet.
    pub pending_timeouts: usize,
}

/// Reads the messages of run `run` (orders `RUN-…`) and the stock levels.
pub async fn observe(js: &jetstream::Context, run: &str) -> anyhow::Result<Observation> {
    let prefix = format!("{run}-");
    let mut streams: Vec<String> = FUNCTIONS.iter().map(|f| stream_of(f)).collect();
    streams.push(MAIL_STREAM.to_owned());
    streams.push(DEAD_LETTERS.0.to_owned());
    let mut events = Vec::new();
    for name in &streams {
        if name == DEAD_LETTERS.0 && js.get_stream(name).await.is_err() {
            continue; // nothing was ever dead-lettered
        }
        let found = read_stream(js, name).await?;
        events.extend(
            found
                .into_iter()
                .filter(|seen| seen.order_id().starts_with(&prefix)),
        );
    }
    events.sort_by_key(|seen| seen.at_nanos);
    Ok(Observation {
        events,
        stock: stock_levels(js).await?,
        refunds: refunds(js, &prefix).await?,
        pending_timeouts: pending_timeouts(js, &prefix).await?,
    })
}

/// Every catalogue product's stock level.
async fn stock_levels(js: &jetstream::Context) -> anyhow::Result<BTreeMap<String, StockLevel>> {
    let bucket = js.get_key_value(INVENTORY_BUCKET).await?;
    let mut stock = BTreeMap::new();
    for product in &CATALOGUE {
        let level = match bucket.get(stock::key(product.sku)).await? {
            Some(value) => serde_json::from_slice(&value)?,
            None => StockLevel::default(),
        };
        stock.insert(product.sku.to_owned(), level);
    }
    Ok(stock)
}

/// The orders (ids starting with `prefix`) the payment step refunded.
async fn refunds(js: &jetstream::Context, prefix: &str) -> anyhow::Result<BTreeSet<String>> {
    let bucket = js.get_key_value(PAYMENTS_BUCKET).await?;
    let keys: Vec<String> = bucket.keys().await?.try_collect().await?;
    Ok(keys
        .into_iter()
        .filter_map(|key| key.strip_prefix("refund.").map(str::to_owned))
        .filter(|order| order.starts_with(prefix))
        .collect())
}

/// The inventory's delayed events about orders starting with `prefix` that are still
/// scheduled: a holder subject in the delay stream whose last message is a schedule (a
/// fired one is gone, a cancelled one is an empty marker).
async fn pending_timeouts(js: &jetstream::Context, prefix: &str) -> anyhow::Result<usize> {
    let Ok(stream) = js.get_stream(DELAY_STREAM).await else {
        return Ok(0); // nothing was ever scheduled
    };
    let holders: Vec<(String, usize)> = stream
        .info_with_subjects(format!("{HOLDER_PREFIX}saga-inventory.>"))
        .await?
        .try_collect()
        .await?;
    let mut pending = 0;
    for (holder, _) in holders {
        let Ok(message) = stream.get_last_raw_message_by_subject(&holder).await else {
            continue; // fired or expired meanwhile
        };
        let payload: serde_json::Value = serde_json::from_slice(&message.payload).unwrap_or_default();
        let ours = payload["order_id"]
            .as_str()
            .is_some_and(|id| id.starts_with(prefix));
        if ours && message.headers.get("Nats-Schedule").is_some() {
            pending += 1;
        }
    }
    Ok(pending)
}
