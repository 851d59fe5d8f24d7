//! Log lines into a shared buffer, and one thread that writes the buffer to stderr. Under load
//! the thread finds many lines waiting and writes them at once; when the host is quiet each
//! line is written within [`GATHER`]. Nothing is dropped: when stderr cannot keep up and
//! [`MAX_BUFFERED`] bytes wait, loggers wait for the thread. [`LogGuard`] writes out what is
//! left when `main` returns.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Bytes of log lines that may wait for the writer thread before loggers wait for it.
const MAX_BUFFERED: usize = 4 << 20;

/// How long the writer thread lets lines gather after a write, so a busy host's lines go out
/// a few hundred at a time rather than one `write` each (and a quiet host's within this).
const GATHER: Duration = Duration::from_millis(2);

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
pub(super) struct BufferedStderr {
    shared: Arc<Shared>,
}

impl BufferedStderr {
    /// A buffer and the thread that writes it out.
    pub(super) fn start() -> (Self, LogGuard) {
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
    pub(super) fn unwritten() -> Self {
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

impl BufferedStderr {
    /// What was logged and not yet written out (for tests, which take the writer thread's
    /// place).
    #[cfg(test)]
    pub(super) fn contents(&self) -> String {
        String::from_utf8(self.shared.lock().lines.clone()).expect("log lines are UTF-8")
    }
}

impl<'a> MakeWriter<'a> for BufferedStderr {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { shared: &self.shared }
    }
}

/// Appends one formatted line (the formatter writes it whole) to the buffer.
pub(super) struct LineWriter<'a> {
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
