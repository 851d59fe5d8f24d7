//! A `sluice` command run as its own process, with its (JSON) log lines read as they come.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use serde_json::Value;

use crate::WAIT;

/// A `sluice` process, killed on drop, whose stderr lines arrive on a channel. Run it with
/// `--log-format json`: [`line_where`](Self::line_where) parses every line.
pub struct SluiceProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl SluiceProcess {
    /// Starts `command` with stdout discarded and stderr read line by line.
    pub fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice");
        let stderr = child.stderr.take().expect("piped stderr");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next log line (parsed as JSON: every line must be) for which `wanted` holds;
    /// panics with the lines seen so far when none comes within [`WAIT`].
    pub fn line_where(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                panic!(
                    "no log line {what} within {WAIT:?}; stderr so far:\n{}",
                    self.seen.join("\n")
                );
            };
            self.seen.push(line.clone());
            let parsed: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            for key in ["timestamp", "level", "target", "fields"] {
                assert!(parsed.get(key).is_some(), "no {key:?} in {line}");
            }
            if wanted(&parsed) {
                return parsed;
            }
        }
    }

    /// The log lines read so far, as they came.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }
}

impl Drop for SluiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The message of a JSON log line (empty when it has none).
pub fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or_default()
}
