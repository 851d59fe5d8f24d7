//! The fleet: many hosts on one NATS cluster behaving as one runtime, with JetStream as the
//! only moving part (no registry, no orchestrator).
//!
//! ```text
//!  sluice deploy ──► components bucket (Object Store, by SHA-256)
//!                └─► functions bucket (KV: name → desired state, with history)
//!                          │ watched by every `sluice up --fleet`
//!                          ▼
//!  host: reconcile (download, check the hash, load, deploy/redeploy/undeploy as hot reload)
//!        presence  ──► hosts bucket (KV: host id → what it runs, failed loads, rates)
//!                          │ read by `sluice status` and `sluice deploy --wait`
//! ```
//!
//! - `bundle`: what a deploy ships (component, manifest, schemas), validated as `check` does.
//! - `buckets`: the three buckets, opened or created.
//! - `control`: what deployers do ([`Fleet`]): deploy, undeploy, versions, rollback, hosts.
//! - `records`, `operate`: pauses and drains, the records that ask for them and the
//!   commands that write them.
//! - `member`, `reconcile`, `hold`, `presence`: a host's side.
//! - `status`: the fleet table of `sluice status`.

mod buckets;
mod bundle;
mod control;
mod desired;
mod hold;
mod member;
mod operate;
mod presence;
mod reconcile;
mod records;
mod report;
mod shadowing;
mod shares;
mod status;

use std::time::Duration;

pub(crate) use buckets::default_replicas;
pub use buckets::{BucketError, BucketNames, Buckets, HISTORY, HOST_REPORT_MAX_AGE};
pub use bundle::{Bundle, BundleError, component_paths};
pub use control::{Fleet, SeenHost, Shipped, Version};
pub use desired::DesiredState;
pub use member::{DrainState, FleetConfig};
pub use operate::{ConsumerName, consumer_of};
pub use reconcile::RESYNC;
pub use records::{Drain, Pause, Records, ShadowRecord};
pub use report::{FailedLoad, FunctionReport, HostReport, Progress};
pub use status::{Cell, FleetStatus, HostRow};

pub(crate) use member::Member;

/// How often a host reports when nothing changes.
pub const REPORT_EVERY: Duration = Duration::from_secs(2);

/// A host whose report is older than this is shown as gone.
pub const GONE_AFTER: Duration = Duration::from_secs(10);

/// Starts `member`'s reconciling and reporting tasks; both end when `stop` is cancelled (the
/// reporting task after a last report marked stopped).
pub(crate) fn start(
    member: std::sync::Arc<Member>,
    stop: &tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(reconcile::run(member.clone(), stop.clone())),
        tokio::spawn(presence::run(member, stop.clone())),
    ]
}
