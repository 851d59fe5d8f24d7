//! Sluice's integration tests: real `nats-server`, real components, one binary.

mod admin;
mod apps;
mod auth;
mod batch;
mod commands;
mod delayed;
mod delivery;
mod dev;
mod dlq;
mod failures;
mod fleet;
mod http;
mod jetstream;
mod limits;
mod loading;
mod ordering;
mod polyglot;
mod reload;
mod reuse;
mod scaffold;
mod schedules;
mod schema;
mod shutdown;
mod state;
mod wasmcloud;
mod wasmcloud_upstream;
