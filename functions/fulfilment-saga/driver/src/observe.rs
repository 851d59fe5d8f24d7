//! Reading back what happened: every event in the saga's streams and the stock levels.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::jetstream::{self, consumer::AckPolicy, consumer::pull};
use futures::StreamExt;
use saga_events::stock::{self, StockLevel};
use tokio::time::Instant;

use crate::catalogue::CATALOGUE;
use crate::shop::{DEAD_LETTERS, FUNCTIONS, INVENTORY_BUCKET, MAIL_STREAM, stream_of};

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
    let bucket = js.get_key_value(INVENTORY_BUCKET).await?;
    let mut stock = BTreeMap::new();
    for product in &CATALOGUE {
        let level = match bucket.get(stock::key(product.sku)).await? {
            Some(value) => serde_json::from_slice(&value)?,
            None => StockLevel::default(),
        };
        stock.insert(product.sku.to_owned(), level);
    }
    Ok(Observation { events, stock })
}
