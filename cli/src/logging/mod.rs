//! The host's log: `tracing` lines to stderr, written by a thread of their own
//! ([`writer`]) and formatted with less work per line than `tracing-subscriber`'s defaults,
//! to the same text ([`format`](mod@format)).
//!
//! A host logs a line per event at its default level (every handler's `info!`), so the cost
//! of a line is paid per event: the event path pays no `write` system call, and a line's
//! timestamp and fields are written without the formatting machinery where they can be.

mod format;
mod writer;

use std::io::IsTerminal;

use crate::commands::LogFormat;
use format::{TextFields, UtcSeconds};
use writer::BufferedStderr;
pub use writer::LogGuard;

/// Starts logging to stderr: at info for commands that run functions (`up`, `dev`, `invoke`),
/// at warn for the others (their output is what they print), at debug with `--verbose`;
/// `SLUICE_LOG` overrides the level. Colours only on a terminal, and not with `NO_COLOR`.
pub fn init(verbose: bool, format: LogFormat, host: bool) -> LogGuard {
    let default = match (verbose, host) {
        (true, _) => "sluice=debug,sluice_runtime=debug,info",
        (false, true) => "info",
        (false, false) => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (writer, guard) = BufferedStderr::start();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_timer(UtcSeconds)
        .with_writer(writer);
    match format {
        LogFormat::Text => logs.fmt_fields(TextFields).init(),
        // Span fields (function, subject, event_id, correlation_id, attempt) are in "span".
        LogFormat::Json => logs.json().with_current_span(true).with_span_list(false).init(),
    }
    guard
}
