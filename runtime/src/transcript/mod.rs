//! Transcripts: what a handler's attempt got from the host, recorded while it runs, kept
//! beside its dead letter, and answered again by `sluice dlq debug` so the same failure comes
//! back offline.
//!
//! Sluice owns every boundary of a handler, so an attempt's inputs are all host calls: the
//! event, key-value reads and writes and their results, request replies, HTTP responses
//! (bodies up to [`MAX_HTTP_BODY`]), `[config]` values, whether a secret could be read (never
//! its value), the wall and monotonic clocks, and random bytes. A [`Tape`] in the store records
//! them in order ([`Transcript`]); a tape made from a transcript answers the same calls with
//! the same answers, so the handler runs the same way. A call the transcript lacks (a new
//! version reading another key or URL) *diverges*: it fails, and the replay says which call it
//! was, or with `--live` it is made for real.
//!
//! Running a transcript again is [`crate::invoke::rerun`].
//!
//! What is not replayed: the state an instance kept from earlier events
//! (`limits.events_per_instance` > 1) and a batch function's calls (batches are not recorded).

mod record;
mod sources;
pub mod store;
mod tape;

pub use record::{
    FORMAT, HostCall, LogLine, MAX_BYTES, MAX_HTTP_BODY, RecordedCall, RecordedEvent, Transcript,
};
pub use sources::install;
pub use tape::{Cue, Source, Tape};

/// Whether a runner's stores record, replay, or do neither.
#[derive(Clone, Default)]
pub enum Taping {
    /// No tape: calls go to the host unrecorded.
    #[default]
    Off,
    /// Each attempt is recorded (`dead_letter.transcript`).
    Record,
    /// Each attempt is answered from `transcript`; with `live`, a call it lacks is made for
    /// real instead of diverging.
    Replay {
        /// The transcript answered from.
        transcript: std::sync::Arc<Transcript>,
        /// Whether missing calls go live.
        live: bool,
    },
}

impl Taping {
    /// A tape for one store, or none.
    pub fn tape(&self) -> Option<Tape> {
        match self {
            Self::Off => None,
            Self::Record => Some(Tape::recording()),
            Self::Replay { transcript, live } => Some(Tape::replaying(transcript.clone(), *live)),
        }
    }
}
