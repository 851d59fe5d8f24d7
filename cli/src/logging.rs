//! The host's log: `tracing` lines to stderr, written by a thread of their own.
//!
//! A host logs a line per event at its default level (every handler's `info!`), so the event
//! path must not pay a `write` system call per line: lines go into a shared buffer, and one
//! writer thread empties it into stderr. Under load the thread finds many lines waiting and
//! writes them at once; when the host is quiet each line is written at once. Nothing is
//! dropped: when stderr cannot keep up and [`MAX_BUFFERED`] bytes wait, loggers wait for the
//! thread. [`LogGuard`] writes out what is left when `main` returns.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};

use crate::commands::LogFormat;

/// Bytes of log lines that may wait for the writer thread before loggers wait for it.
const MAX_BUFFERED: usize = 4 << 20;

/// How long the writer thread lets lines gather after a write, so a busy host's lines go out
/// a few hundred at a time rather than one `write` each (and a quiet host's within this).
const GATHER: Duration = Duration::from_millis(2);

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

/// Timestamps as tracing's default writes them (`2026-12-03T09:52:08.287040Z`, UTC,
/// microseconds), with the date and time formatted once per second per thread rather than
/// for every line.
struct UtcSeconds;

thread_local! {
    /// The second last formatted on this thread, and its text up to the seconds.
    static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for UtcSeconds {
    fn format_time(&self, writer: &mut Writer<'_>) -> std::fmt::Result {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let seconds = now.as_secs();
        SECOND.with_borrow_mut(|(formatted, text)| {
            if *formatted != seconds {
                *formatted = seconds;
                *text = time::OffsetDateTime::from_unix_timestamp(seconds as i64)
                    .ok()
                    .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
                    .map(|at| at.trim_end_matches('Z').to_owned())
                    .unwrap_or_default();
            }
            writer.write_str(text)
        })?;
        let mut fraction = *b".000000Z";
        let mut micros = now.subsec_micros();
        for digit in fraction[1..7].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        writer.write_str(std::str::from_utf8(&fraction).expect("ASCII digits"))
    }
}

/// Text fields as `name=value`, strings quoted, like tracing's default, with less work per
/// field: a string that needs no escaping is copied as it is (the default escapes every
/// string character by character, and every host log line and event span has several).
struct TextFields;

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> std::fmt::Result {
        let ansi = writer.has_ansi_escapes();
        let mut visitor = TextVisitor {
            writer: &mut writer,
            ansi,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

/// Writes one record's fields for [`TextFields`].
struct TextVisitor<'a, 'writer> {
    writer: &'a mut Writer<'writer>,
    ansi: bool,
    first: bool,
    result: std::fmt::Result,
}

impl TextVisitor<'_, '_> {
    /// Writes the separator and `name=` (the message has no name), then `value`.
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> std::fmt::Result) {
        // As the default formatter: the `log` crate's metadata (lines forwarded from it) is
        // shown as the line's target, not as fields.
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        self.result = (|| {
            if !std::mem::take(&mut self.first) {
                self.writer.write_char(' ')?;
            }
            if field.name() != "message" {
                let name = field.name().trim_start_matches("r#");
                match self.ansi {
                    true => write!(self.writer, "\x1b[3m{name}\x1b[0m\x1b[2m=\x1b[0m")?,
                    false => {
                        self.writer.write_str(name)?;
                        self.writer.write_char('=')?;
                    }
                }
            }
            value(self.writer)
        })();
    }
}

impl Visit for TextVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let plain = !value.chars().any(|c| c == '"' || c == '\\' || c.is_control());
        self.field(field, |writer| match plain {
            true => {
                writer.write_char('"')?;
                writer.write_str(value)?;
                writer.write_char('"')
            }
            false => write!(writer, "{value:?}"),
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.field(field, |writer| write!(writer, "{value:?}"));
    }
}

/// Writes out every buffered line when dropped (at the end of `main`).
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake_writer.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The buffer loggers append to and the writer thread empties.
struct Shared {
    state: Mutex<Buffer>,
    /// Signalled when lines arrive while the writer thread waits, or on close.
    wake_writer: Condvar,
    /// Signalled when the writer thread took the buffer, for loggers waiting for room.
    room: Condvar,
}

struct Buffer {
    lines: Vec<u8>,
    /// The writer thread is waiting for lines (and must be woken for new ones).
    idle: bool,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A logger that panicked mid-append leaves whole lines at worst; keep logging.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A [`MakeWriter`] whose writers append to the shared buffer.
#[derive(Clone)]
struct BufferedStderr {
    shared: Arc<Shared>,
}

impl BufferedStderr {
    /// A buffer and the thread that writes it out.
    fn start() -> (Self, LogGuard) {
        let make = Self::unwritten();
        let shared = make.shared.clone();
        let thread = std::thread::Builder::new()
            .name("sluice-log".into())
            .spawn(move || write_out(&shared))
            .ok();
        let shared = make.shared.clone();
        (make, LogGuard { shared, thread })
    }

    /// A buffer no thread writes out yet.
    fn unwritten() -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(Buffer {
                lines: Vec::with_capacity(64 << 10),
                idle: false,
                closed: false,
            }),
            wake_writer: Condvar::new(),
            room: Condvar::new(),
        });
        Self { shared }
    }
}

impl<'a> MakeWriter<'a> for BufferedStderr {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { shared: &self.shared }
    }
}

/// Appends one formatted line (the formatter writes it whole) to the buffer.
struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self.shared.lock();
        while buffer.lines.len() >= MAX_BUFFERED && !buffer.closed {
            buffer = self
                .shared
                .room
                .wait(buffer)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if buffer.closed {
            // After `main` returned (a late line from a runtime thread): straight out.
            drop(buffer);
            return std::io::stderr().write(bytes);
        }
        buffer.lines.extend_from_slice(bytes);
        if std::mem::take(&mut buffer.idle) {
            self.shared.wake_writer.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The writer thread: takes whatever lines wait, writes them, lets more gather, until closed.
fn write_out(shared: &Shared) {
    let mut spare = Vec::with_capacity(64 << 10);
    loop {
        let mut buffer = shared.lock();
        while buffer.lines.is_empty() && !buffer.closed {
            buffer.idle = true;
            buffer = shared
                .wake_writer
                .wait(buffer)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let closed = buffer.closed;
        std::mem::swap(&mut buffer.lines, &mut spare);
        drop(buffer);
        shared.room.notify_all();
        // A log that cannot be written has nowhere to report it.
        let _ = std::io::stderr().write_all(&spare);
        spare.clear();
        if closed {
            return;
        }
        std::thread::sleep(GATHER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A span and a line inside it, formatted with `fields`.
    fn render<N>(fields: N) -> String
    where
        N: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        let make = BufferedStderr::unwritten();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(make.clone())
            .with_ansi(false)
            .without_time()
            .fmt_fields(fields)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("event", function = "order-total", subject = %"orders.placed", attempt = 2);
            let _entered = span.enter();
            tracing::info!(target: "sluice::handler", event_id = "e-1", quoted = "a \"b\"", "order {} totals {}", "o-1", 3998);
        });
        String::from_utf8(make.shared.lock().lines.clone()).unwrap()
    }

    #[test]
    fn text_fields_read_as_the_default_formatter_writes_them() {
        let line = render(TextFields);
        assert_eq!(
            line,
            " INFO event{function=\"order-total\" subject=orders.placed attempt=2}: sluice::handler: \
             order o-1 totals 3998 event_id=\"e-1\" quoted=\"a \\\"b\\\"\"\n"
        );
        assert_eq!(
            line,
            render(tracing_subscriber::fmt::format::DefaultFields::new())
        );
    }

    #[test]
    fn timestamps_read_as_the_default_timer_writes_them() {
        let mine = BufferedStderr::unwritten();
        let theirs = BufferedStderr::unwritten();
        for (make, timer) in [(&mine, true), (&theirs, false)] {
            let builder = tracing_subscriber::fmt()
                .with_writer(make.clone())
                .with_ansi(false);
            let line = || tracing::info!("tick");
            match timer {
                true => tracing::subscriber::with_default(builder.with_timer(UtcSeconds).finish(), line),
                false => tracing::subscriber::with_default(builder.finish(), line),
            }
        }
        let mine = String::from_utf8(mine.shared.lock().lines.clone()).unwrap();
        let theirs = String::from_utf8(theirs.shared.lock().lines.clone()).unwrap();
        let (stamp, rest) = mine.split_once(' ').unwrap();
        let (their_stamp, their_rest) = theirs.split_once(' ').unwrap();
        assert_eq!(rest, their_rest);
        assert_eq!(stamp.len(), their_stamp.len(), "{stamp} against {their_stamp}");
        assert!(stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.', "{stamp}");
        // Written within the same few seconds: the same date and hour.
        assert_eq!(stamp[..13], their_stamp[..13], "{stamp} against {their_stamp}");
    }

    #[test]
    fn lines_written_from_many_threads_arrive_whole_and_in_each_threads_order() {
        // This test takes the writer thread's place: it collects instead of writing out.
        let make = BufferedStderr::unwritten();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let make = make.clone();
                std::thread::spawn(move || {
                    for n in 0..1000 {
                        // As the formatter does: the whole line in one write.
                        let line = format!("thread {t} line {n}\n");
                        make.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        let mut seen = Vec::new();
        let mut collected = 0;
        while collected < 4000 {
            let mut buffer = make.shared.lock();
            seen.extend_from_slice(&buffer.lines);
            collected = seen.iter().filter(|&&b| b == b'\n').count();
            buffer.lines.clear();
            drop(buffer);
            make.shared.room.notify_all();
        }
        for thread in threads {
            thread.join().unwrap();
        }
        let text = String::from_utf8(seen).unwrap();
        for t in 0..4 {
            let numbers: Vec<usize> = text
                .lines()
                .filter_map(|line| line.strip_prefix(&format!("thread {t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(numbers, (0..1000).collect::<Vec<_>>(), "thread {t}");
        }
    }
}
