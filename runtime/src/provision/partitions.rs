//! The JetStream resources of a function with `trigger.partitions = N` (per-key order across
//! hosts):
//!
//! ```text
//! trigger.stream ──► consumer `C` (pinned client: one router at a time)
//!                      │ router: key → FNV-1a(key) mod N, republished once (Nats-Msg-Id)
//!                      ▼
//! SLUICE_PARTS_<FN> (work queue) on sluice.parts.<fn>.<0..N>
//!                      │ consumers `C-p0` … `C-p(N-1)`: one event in flight each,
//!                      ▼ pinned client: one host pulls each partition at a time
//!                   handlers
//! ```
//!
//! The router consumer keeps the function's consumer name, so a function's pending events
//! are where `sluice status` and the metrics already look.

use std::time::Duration;

use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::consumer::{AckPolicy, PriorityPolicy, PullConsumer};
use async_nats::jetstream::{self, stream};

use super::SetupError;
use crate::manifest::{JetStreamTrigger, Manifest};

/// The priority group every partition consumer (and the router's) pins its client in.
pub const GROUP: &str = "sluice";

/// How long a pinned host may go without pulling before the server pins another: how soon a
/// partition of a host that died moves (its event in flight comes back after `ack_wait`).
pub const PIN_TTL: Duration = Duration::from_secs(5);

/// How many events the router may have taken and not yet acknowledged.
pub const ROUTER_WINDOW: i64 = 256;

/// The oldest nats-server with priority groups (pinned clients).
const PARTITIONS_SERVER: (u64, u64) = (2, 11);

/// The names of a partitioned function's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionNames {
    /// The stream holding the routed events.
    pub stream: String,
    /// How many partitions.
    pub count: u16,
    function: String,
    consumer: String,
}

impl PartitionNames {
    /// The names for function `function` consuming through `trigger` with `count` partitions.
    pub fn new(function: &str, trigger: &JetStreamTrigger, count: u16) -> Self {
        Self {
            stream: format!("SLUICE_PARTS_{}", function.to_uppercase().replace('-', "_")),
            count,
            function: function.to_owned(),
            consumer: trigger.consumer.clone(),
        }
    }

    /// The subject events of `partition` are routed to.
    pub fn subject(&self, partition: u16) -> String {
        format!("sluice.parts.{}.{partition}", self.function)
    }

    /// The consumer of `partition`.
    pub fn consumer(&self, partition: u16) -> String {
        format!("{}-p{partition}", self.consumer)
    }

    /// The partition of an event with ordering key `key`: FNV-1a (32 bit) of its bytes,
    /// modulo the partition count, so every host and version agrees.
    pub fn partition_of(&self, key: &str) -> u16 {
        let hash = key.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
            (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
        });
        (hash % u32::from(self.count)) as u16
    }
}

/// `config` of the function's consumer as the router's: a window of events in flight, one
/// client pinned at a time.
pub fn router_consumer(mut config: pull::Config) -> pull::Config {
    config.max_ack_pending = ROUTER_WINDOW;
    pinned(&mut config);
    config
}

fn pinned(config: &mut pull::Config) {
    config.priority_policy = PriorityPolicy::PinnedClient;
    config.priority_groups = vec![GROUP.to_owned()];
    config.priority_timeout = PIN_TTL;
}

/// Fails on a server without priority groups, naming the version connected.
pub fn require_server(js: &jetstream::Context, function: &str) -> Result<(), SetupError> {
    match crate::nats::older_than(&js.client(), PARTITIONS_SERVER) {
        Some(connected) => Err(SetupError::new(
            function,
            "trigger.partitions",
            format!("needs nats-server 2.11 or newer (priority groups); connected to {connected}"),
        )),
        None => Ok(()),
    }
}

/// Creates (or updates) the partition stream and one consumer per partition, returning the
/// consumers in partition order.
pub async fn prepare_partitions(
    js: &jetstream::Context,
    function: &str,
    manifest: &Manifest,
    names: &PartitionNames,
    source_stream: &str,
) -> Result<Vec<PullConsumer>, SetupError> {
    let what = || format!("partition stream `{}`", names.stream);
    let replicas = js
        .get_stream(source_stream)
        .await
        .map_err(|e| SetupError::new(function, format!("stream `{source_stream}`"), e))?
        .cached_info()
        .config
        .num_replicas;
    let config = stream::Config {
        name: names.stream.clone(),
        description: Some(format!(
            "events of sluice function {function}, by partition of their key"
        )),
        subjects: vec![format!("sluice.parts.{function}.*")],
        retention: stream::RetentionPolicy::WorkQueue,
        // Longer than an event can stay unacknowledged at the router, so a router that takes
        // over republishes nothing twice.
        duplicate_window: (manifest.delivery.ack_wait * 4).max(Duration::from_secs(120)),
        num_replicas: replicas,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| SetupError::new(function, what(), e))?;
    let consumers = (0..names.count).map(|partition| async move {
        let mut config = pull::Config {
            durable_name: Some(names.consumer(partition)),
            description: Some(format!("sluice function {function}, partition {partition}")),
            ack_policy: AckPolicy::Explicit,
            ack_wait: manifest.delivery.ack_wait,
            max_deliver: -1,
            // One event of the partition at a time, fleet-wide: the next is handed out only
            // once this one is settled, and an unsettled one always comes back first.
            max_ack_pending: 1,
            filter_subject: names.subject(partition),
            ..Default::default()
        };
        pinned(&mut config);
        js.create_consumer_on_stream(config, &names.stream)
            .await
            .map_err(|e| SetupError::new(function, format!("consumer `{}`", names.consumer(partition)), e))
    });
    futures::future::try_join_all(consumers).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::DeliverFrom;

    fn names(count: u16) -> PartitionNames {
        let trigger = JetStreamTrigger {
            stream: "ORDERS".into(),
            consumer: "sluice-orders".into(),
            deliver: DeliverFrom::All,
            partitions: Some(count),
        };
        PartitionNames::new("order-lines", &trigger, count)
    }

    #[test]
    fn partitions_are_named_after_the_function_and_its_consumer() {
        let names = names(16);
        assert_eq!(names.stream, "SLUICE_PARTS_ORDER_LINES");
        assert_eq!(names.subject(3), "sluice.parts.order-lines.3");
        assert_eq!(names.consumer(3), "sluice-orders-p3");
    }

    #[test]
    fn keys_spread_over_every_partition_and_always_land_in_the_same_one() {
        let names = names(16);
        // FNV-1a test vectors: "" → 0x811c9dc5, "a" → 0xe40c292c.
        assert_eq!(names.partition_of(""), (0x811c_9dc5_u32 % 16) as u16);
        assert_eq!(names.partition_of("a"), (0xe40c_292c_u32 % 16) as u16);
        let mut used = [0; 16];
        for key in 0..1600 {
            let partition = names.partition_of(&format!("key-{key}"));
            assert_eq!(partition, names.partition_of(&format!("key-{key}")));
            used[partition as usize] += 1;
        }
        assert!(used.iter().all(|&n| n > 50), "{used:?}");
    }
}
