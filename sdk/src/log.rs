//! Logging into the host's structured log.
//!
//! Each line is tagged with the function name, event id and subject. The macros
//! [`trace!`](crate::trace), [`debug!`](crate::debug), [`info!`](crate::info),
//! [`warn!`](crate::warn) and [`error!`](crate::error) take format arguments; these functions
//! take a finished message. Anything printed to stdout or stderr also reaches the log.

use crate::host;
use crate::level::Level;

/// Logs `message` at trace level: very detailed tracing.
pub fn trace(message: &str) {
    host::log(Level::Trace, message);
}

/// Logs `message` at debug level: debugging detail.
pub fn debug(message: &str) {
    host::log(Level::Debug, message);
}

/// Logs `message` at info level: normal operation.
pub fn info(message: &str) {
    host::log(Level::Info, message);
}

/// Logs `message` at warn level: something unexpected that the handler coped with.
pub fn warn(message: &str) {
    host::log(Level::Warn, message);
}

/// Logs `message` at error level: something failed.
pub fn error(message: &str) {
    host::log(Level::Error, message);
}
