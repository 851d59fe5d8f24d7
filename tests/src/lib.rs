//! Support for Sluice's integration tests: a real `nats-server` per test, the guest
//! components built by `build.rs`, functions folders with typed manifests, one fixture for
//! server + folder + client + host, and waiting on conditions instead of the clock.

pub mod cluster;
pub mod events;
pub mod fixture;
pub mod fleet;
pub mod folder;
pub mod http;
pub mod manifest;
pub mod nats_server;
pub mod otlp;
pub mod process;
pub mod wait;
pub mod wildcard;

pub use cluster::NatsCluster;
pub use events::{consumer_info, drained, header, publish_event, publish_js, publish_many};
pub use fixture::{HostOptions, Sluice, SluiceBuilder, Stage, init_logging};
pub use fleet::{
    FleetHost, bundle, deployer, spawn_fleet_process, spawn_fleet_process_with_admin, succeeded_on,
};
pub use folder::{
    FunctionsDir, KillOnDrop, guest, polyglot, scaffold_target_dir, sluice_binary, sluice_command,
    sluice_schedules_json, spawn_host,
};
pub use http::{HttpResponse, http_get};
pub use manifest::Manifest;
pub use nats_server::NatsServer;
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use process::SluiceProcess;
pub use wait::{WAIT, eventually, next_message, no_message_pending, until_ok};
pub use wildcard::WildcardSubscriber;
