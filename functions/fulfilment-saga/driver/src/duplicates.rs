//! Duplicates of the saga's own events, as a redelivery beyond a stream's dedupe window
//! would make them: the same payload and headers under a new `Nats-Msg-Id`.

use async_nats::jetstream;
use saga_events::subject;

use crate::observe::Seen;

/// How the message ids of copies start.
pub const COPY_PREFIX: &str = "copy:";

/// The subjects whose events get copies: every step's input after the order itself.
pub const COPIED: [&str; 9] = [
    subject::STOCK_RESERVED,
    subject::PAYMENT_SUCCEEDED,
    subject::PAYMENT_FAILED,
    subject::PAYMENT_TIMEOUT,
    subject::ORDER_CONFIRMED,
    subject::REFUND_REQUESTED,
    subject::SHIPMENT_DISPATCHED,
    subject::ORDER_COMPLETED,
    subject::ORDER_CANCELLED,
];

/// Re-publishes every `every`th event of each [`COPIED`] subject among `events` under a new
/// message id; returns how many were sent.
pub async fn send_copies(js: &jetstream::Context, events: &[Seen], every: usize) -> anyhow::Result<usize> {
    let mut sent = 0;
    for subject in COPIED {
        let originals = events
            .iter()
            .filter(|seen| seen.subject == subject && !seen.is_copy());
        for seen in originals.step_by(every.max(1)) {
            let mut headers = seen.headers.clone();
            headers.insert("Nats-Msg-Id", format!("{COPY_PREFIX}{}", seen.event_id).as_str());
            let payload = serde_json::to_vec(&seen.payload)?;
            js.publish_with_headers(seen.subject.clone(), headers, payload.into())
                .await?
                .await?;
            sent += 1;
        }
    }
    Ok(sent)
}
