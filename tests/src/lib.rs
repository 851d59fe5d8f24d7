//! Support for Sluice's integration tests: a real `nats-server` per test, the guest
//! components built by `build.rs`, functions folders, and waiting on conditions instead of
//! the clock.

pub mod cluster;
pub mod fixtures;
pub mod http;
pub mod nats_server;
pub mod wait;

pub use cluster::NatsCluster;
pub use fixtures::{
    FunctionsDir, guest, polyglot, scaffold_target_dir, sluice_binary, sluice_command, spawn_host,
};
pub use http::{HttpResponse, http_get};
pub use nats_server::NatsServer;
pub use wait::{eventually, next_message, no_message_pending};
