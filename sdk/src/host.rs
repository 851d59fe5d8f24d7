//! The three host calls, routed to the Sluice host inside WebAssembly and to
//! [`testing::TestHost`](crate::testing::TestHost) in native unit tests.

/// How important a log line is (mirrors the WIT `logging.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the handler coped with.
    Warn,
    /// Something failed.
    Error,
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Level;
    use crate::bindings::sluice::function::{config, log as logging, publisher};

    pub fn publish(subject: &str, payload: &[u8], headers: &[(String, String)]) -> Result<(), String> {
        publisher::publish(subject, payload, headers)
    }

    pub fn config(key: &str) -> Option<String> {
        config::get(key)
    }

    pub fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => logging::Level::Trace,
            Level::Debug => logging::Level::Debug,
            Level::Info => logging::Level::Info,
            Level::Warn => logging::Level::Warn,
            Level::Error => logging::Level::Error,
        };
        logging::log(level, message);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub(crate) use crate::testing::{config, log, publish};
}

pub(crate) use imp::{config, log, publish};
