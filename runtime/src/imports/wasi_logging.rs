//! `wasi:logging/logging@0.1.0-draft`, which wasmCloud components import: lines go to the
//! host's log like `sluice:function/log`'s, with the component's context as a field.

use super::State;
use crate::bindings::wasmcloud::wasi::logging::logging::{Host, Level};

/// Longest context string kept from a component.
const MAX_CONTEXT: usize = 256;

impl Host for State {
    async fn log(&mut self, level: Level, context: String, message: String) {
        let shown = super::log_budget::shown(match level {
            Level::Trace => tracing::Level::TRACE,
            Level::Debug => tracing::Level::DEBUG,
            Level::Info => tracing::Level::INFO,
            Level::Warn => tracing::Level::WARN,
            Level::Error | Level::Critical => tracing::Level::ERROR,
        });
        let written = shown && self.call.services.log_budget.admit(&self.call.function);
        if !written && self.tape.is_none() {
            return;
        }
        let message = self.revealed().redact(&message);
        let message = crate::text::truncate(&message, super::log::MAX_LINE);
        let context = &*crate::text::truncate(&context, MAX_CONTEXT);
        let function = &*self.call.function;
        let event_id = &*self.call.event.id;
        if let Some(tape) = &self.tape {
            let name = match level {
                Level::Trace => "trace",
                Level::Debug => "debug",
                Level::Info => "info",
                Level::Warn => "warn",
                Level::Error => "error",
                Level::Critical => "critical",
            };
            tape.log(name, &format!("{context}: {message}"));
        }
        if !written {
            return;
        }
        match level {
            Level::Trace => {
                tracing::trace!(target: "sluice::handler", function, event_id, context, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "sluice::handler", function, event_id, context, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "sluice::handler", function, event_id, context, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "sluice::handler", function, event_id, context, "{message}")
            }
            Level::Error | Level::Critical => {
                tracing::error!(target: "sluice::handler", function, event_id, context, "{message}")
            }
        }
    }
}
