//! A handler's stdout and stderr: captured in memory (bounded) and written to the host's log
//! after the call, tagged with the function and event.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Most bytes of output kept per call; the rest is counted and dropped.
const CAPACITY: usize = 64 << 10;

/// Shared buffer for one call's stdout and stderr.
#[derive(Clone, Default)]
pub struct CapturedOutput {
    inner: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    dropped: usize,
}

impl CapturedOutput {
    /// The complete lines written so far, and how many bytes were dropped past the cap.
    pub fn lines(&self) -> (Vec<String>, usize) {
        let captured = self.inner.lock().expect("output lock poisoned");
        let text = String::from_utf8_lossy(&captured.bytes);
        let lines = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect();
        (lines, captured.dropped)
    }

    /// Whether the handler wrote nothing (most calls): then there is nothing to log.
    fn is_empty(&self) -> bool {
        let captured = self.inner.lock().expect("output lock poisoned");
        captured.bytes.is_empty() && captured.dropped == 0
    }

    /// Empties the buffer, for an instance that goes on to its next event.
    pub fn clear(&self) {
        let mut captured = self.inner.lock().expect("output lock poisoned");
        captured.bytes.clear();
        captured.dropped = 0;
    }

    /// Writes the captured lines to the log at info level, under the event id `label` gives
    /// (asked for only when there is something to log).
    pub fn log(
        &self,
        function: &str,
        label: impl FnOnce() -> String,
        revealed: &super::Revealed,
        budget: &super::LogBudget,
    ) {
        if self.is_empty() {
            return;
        }
        let event_id = label();
        let event_id = event_id.as_str();
        let (lines, dropped) = self.lines();
        // Lines the log filter would not write take nothing from the budget.
        let shown = tracing::enabled!(target: "sluice::handler::stdio", tracing::Level::INFO);
        for line in lines {
            if !shown || !budget.admit(function) {
                continue;
            }
            let line = revealed.redact(&line);
            tracing::info!(target: "sluice::handler::stdio", function, event_id, "{line}");
        }
        if dropped > 0 {
            tracing::warn!(target: "sluice::handler::stdio", function, event_id, "{dropped} bytes of output dropped (more than {CAPACITY} bytes)");
        }
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let mut captured = self.inner.lock().expect("output lock poisoned");
        let room = CAPACITY.saturating_sub(captured.bytes.len()).min(buf.len());
        captured.bytes.extend_from_slice(&buf[..room]);
        captured.dropped += buf.len() - room;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
