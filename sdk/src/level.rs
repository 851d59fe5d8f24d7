//! Log levels, shared by the [`log`](crate::log) functions and the
//! [`TestHost`](crate::testing::TestHost)'s record of them.

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
