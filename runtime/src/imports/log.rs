//! `sluice:function/log`: handler log lines in the host's structured log.

use super::State;
use crate::bindings::sluice::function::log::{Host, Level};

/// Longest log line kept from a handler; longer lines are cut so a handler cannot flood the log.
pub(super) const MAX_LINE: usize = 4096;

impl Host for State {
    fn log(&mut self, level: Level, message: String) {
        let written = super::log_budget::shown(tracing_level(level))
            && self.call.services.log_budget.admit(&self.call.function);
        if !written && self.tape.is_none() {
            return;
        }
        let message = self.revealed().redact(&message);
        let message = crate::text::truncate(&message, MAX_LINE);
        let function = &*self.call.function;
        let event_id = &*self.call.event.id;
        if let Some(tape) = &self.tape {
            tape.log(level_name(level), &message);
        }
        if !written {
            return;
        }
        match level {
            Level::Trace => tracing::trace!(target: "sluice::handler", function, event_id, "{message}"),
            Level::Debug => tracing::debug!(target: "sluice::handler", function, event_id, "{message}"),
            Level::Info => tracing::info!(target: "sluice::handler", function, event_id, "{message}"),
            Level::Warn => tracing::warn!(target: "sluice::handler", function, event_id, "{message}"),
            Level::Error => tracing::error!(target: "sluice::handler", function, event_id, "{message}"),
        }
    }
}

/// The level a line is logged at.
fn tracing_level(level: Level) -> tracing::Level {
    match level {
        Level::Trace => tracing::Level::TRACE,
        Level::Debug => tracing::Level::DEBUG,
        Level::Info => tracing::Level::INFO,
        Level::Warn => tracing::Level::WARN,
        Level::Error => tracing::Level::ERROR,
    }
}

/// The level's name in a transcript.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}
