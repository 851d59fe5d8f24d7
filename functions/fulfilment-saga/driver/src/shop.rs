//! The shop's side of the saga over NATS: waits for the functions, stocks the warehouse,
//! places orders (with duplicates), and waits for every order's saga to end.

use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::jetstream::{self, consumer::PullConsumer, stream};
use futures::TryStreamExt;
use saga_events::stock::{self, StockLevel};
use saga_events::{Order, subject};
use tokio::time::Instant;

use crate::catalogue::CATALOGUE;

/// The saga's functions, in the order an order meets them.
pub const FUNCTIONS: [&str; 4] = ["saga-inventory", "saga-payment", "saga-shipping", "saga-email"];

/// The stream the host creates for `function`'s trigger subjects.
pub fn stream_of(function: &str) -> String {
    format!("SLUICE_{}", function.to_uppercase().replace('-', "_"))
}

/// The stream keeping the e-mails for the mail relay (`saga.email.sent`).
pub const MAIL_STREAM: &str = "SAGA_MAIL";

/// The stream keeping dead letters, and the subject of the payment step's.
pub const DEAD_LETTERS: (&str, &str) = ("SLUICE_DLQ", "sluice.dlq.saga-payment");

/// The inventory's bucket (stock levels and claims).
pub const INVENTORY_BUCKET: &str = "saga-inventory";

/// The payment step's bucket (its claims `charge.ORDER` and `refund.ORDER`).
pub const PAYMENTS_BUCKET: &str = "saga-payments";

/// How many orders are re-sent with the same `Nats-Msg-Id` (every Nth), which the stream
/// drops, and how many are re-submitted under a new id (every Mth), which the inventory's
/// claim ignores.
pub const RESEND_EVERY: usize = 20;
/// See [`RESEND_EVERY`].
pub const RESUBMIT_EVERY: usize = 25;

/// What [`Shop::place`] sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Placed {
    /// Orders published.
    pub orders: usize,
    /// Copies sent with the same message id, and how many of them the stream dropped.
    pub resent: (usize, usize),
    /// Copies sent under a new message id.
    pub resubmitted: usize,
}

/// How far the sagas got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// E-mails sent: one per ended saga.
    pub emailed: u64,
    /// Payments dead-lettered after their attempts and not replayed (their orders end when
    /// the payment timeout fires).
    pub dead_lettered: u64,
}

/// A connection to the shop's streams and buckets.
pub struct Shop {
    js: jetstream::Context,
    /// Messages the mail stream held when the run started.
    mail_before: u64,
}

impl Shop {
    /// A shop on `client`'s server.
    pub fn new(client: async_nats::Client) -> Self {
        Self {
            js: jetstream::new(client),
            mail_before: 0,
        }
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Waits until the host has deployed every saga function (its stream and consumer exist).
    pub async fn wait_until_deployed(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        for function in FUNCTIONS {
            while self.consumer(function).await.is_err() {
                if Instant::now() > deadline {
                    bail!("{function} is not deployed after {timeout:?} (no consumer sluice-{function})");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    async fn consumer(&self, function: &str) -> anyhow::Result<PullConsumer> {
        Ok(self
            .js
            .get_consumer_from_stream(format!("sluice-{function}"), stream_of(function))
            .await?)
    }

    /// Creates the mail stream if missing and stocks the warehouse from the catalogue.
    pub async fn open(&mut self) -> anyhow::Result<()> {
        let mut mail = self
            .js
            .get_or_create_stream(stream::Config {
                name: MAIL_STREAM.into(),
                subjects: vec![subject::EMAIL_SENT.into()],
                description: Some("e-mails of the fulfilment saga, for the mail relay".into()),
                ..Default::default()
            })
            .await
            .context("mail stream")?;
        self.mail_before = mail.info().await?.state.messages;
        let bucket = self
            .js
            .get_key_value(INVENTORY_BUCKET)
            .await
            .context("the inventory's bucket")?;
        for product in &CATALOGUE {
            let level = StockLevel {
                available: product.initial,
                ..StockLevel::default()
            };
            bucket
                .put(stock::key(product.sku), serde_json::to_vec(&level)?.into())
                .await?;
        }
        Ok(())
    }

    /// Publishes `orders` to `saga.order.placed`, each with its id as `Nats-Msg-Id` and as
    /// correlation id; re-sends every [`RESEND_EVERY`]th with the same id and re-submits every
    /// [`RESUBMIT_EVERY`]th under a new one.
    pub async fn place(&self, orders: &[Order]) -> anyhow::Result<Placed> {
        let mut placed = Placed::default();
        let mut acks = Vec::new();
        for (n, order) in orders.iter().enumerate() {
            let payload = bytes::Bytes::from(serde_json::to_vec(order)?);
            let mut copies = vec![(order.order_id.clone(), false)];
            if n % RESEND_EVERY == 0 {
                copies.push((order.order_id.clone(), true));
            }
            if n % RESUBMIT_EVERY == 0 {
                copies.push((format!("{}.resubmitted", order.order_id), false));
                placed.resubmitted += 1;
            }
            for (id, resend) in copies {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", id.as_str());
                headers.insert("Sluice-Correlation-Id", order.order_id.as_str());
                let ack = self
                    .js
                    .publish_with_headers(subject::ORDER_PLACED, headers, payload.clone())
                    .await?;
                acks.push((ack, resend));
            }
            placed.orders += 1;
            if acks.len() >= 500 {
                confirm(&mut acks, &mut placed).await?;
            }
        }
        confirm(&mut acks, &mut placed).await?;
        Ok(placed)
    }

    /// E-mails sent since [`open`](Self::open) and payments waiting in the dead-letter stream.
    pub async fn progress(&self) -> anyhow::Result<Progress> {
        let mut mail = self.js.get_stream(MAIL_STREAM).await?;
        let emailed = mail.info().await?.state.messages - self.mail_before;
        let (stream, subject) = DEAD_LETTERS;
        let mut dead_lettered = 0;
        if let Ok(letters) = self.js.get_stream(stream).await {
            let mut counts = letters.info_with_subjects(subject).await?;
            while let Some((_, count)) = counts.try_next().await? {
                dead_lettered += count as u64;
            }
        }
        Ok(Progress {
            emailed,
            dead_lettered,
        })
    }

    /// Waits until each of `orders` sagas sent its e-mail. Every saga ends, those whose
    /// payment never answered too: their payment timeout cancels them.
    pub async fn wait_until_ended(&self, orders: usize, timeout: Duration) -> anyhow::Result<Progress> {
        let deadline = Instant::now() + timeout;
        loop {
            let progress = self.progress().await?;
            if progress.emailed >= orders as u64 {
                return Ok(progress);
            }
            if Instant::now() > deadline {
                bail!(
                    "after {timeout:?}, {} of {orders} orders have ended ({} payments are dead letters)",
                    progress.emailed,
                    progress.dead_lettered
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until no saga function has an event pending or unacknowledged, twice in a row.
    pub async fn wait_until_idle(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut idle_checks = 0;
        while idle_checks < 2 {
            let mut busy = Vec::new();
            for function in FUNCTIONS {
                let mut consumer = self.consumer(function).await?;
                let info = consumer.info().await?;
                if info.num_pending + info.num_ack_pending as u64 > 0 {
                    busy.push(format!(
                        "{function}: {} pending, {} unacked",
                        info.num_pending, info.num_ack_pending
                    ));
                }
            }
            idle_checks = if busy.is_empty() { idle_checks + 1 } else { 0 };
            if Instant::now() > deadline {
                bail!("still busy after {timeout:?}: {}", busy.join("; "));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }
}

/// Awaits the stream's acks of `acks`, counting the copies it dropped as duplicates.
async fn confirm(
    acks: &mut Vec<(jetstream::context::PublishAckFuture, bool)>,
    placed: &mut Placed,
) -> anyhow::Result<()> {
    for (ack, resend) in acks.drain(..) {
        let ack = ack.await.context("the stream did not confirm an order")?;
        if resend {
            placed.resent.0 += 1;
            placed.resent.1 += usize::from(ack.duplicate);
        }
    }
    Ok(())
}
