//! A developer's `nats sub '>'`: a connection of its own subscribed to every subject.
//!
//! On a server without JetStream it changes what JetStream API requests get: without it the
//! server answers "no responders" at once; with it the request reaches the subscriber, which
//! does not answer, and the requester waits for its timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;

/// A connection subscribed to `>`, reading and counting what arrives until dropped.
pub struct WildcardSubscriber {
    seen: Arc<AtomicU64>,
    reader: tokio::task::JoinHandle<()>,
}

impl WildcardSubscriber {
    /// Connects to `url` and subscribes to `>`; returns once the server has processed the
    /// subscription.
    pub async fn connect(url: &str) -> Self {
        let client = async_nats::connect(url)
            .await
            .expect("the wildcard subscriber connects");
        let mut subscriber = client.subscribe(">").await.expect("subscribe to `>`");
        sluice_runtime::nats::round_trip(&client)
            .await
            .expect("the server processed the `>` subscription");
        let seen = Arc::new(AtomicU64::new(0));
        let reader = tokio::spawn({
            let seen = seen.clone();
            async move {
                // The connection lives as long as the reader.
                let _client = client;
                while subscriber.next().await.is_some() {
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Self { seen, reader }
    }

    /// How many messages it received so far.
    pub fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }
}

impl Drop for WildcardSubscriber {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
