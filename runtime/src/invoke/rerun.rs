//! Running a recorded attempt again, offline: the same event, and every host call answered
//! from the transcript (`sluice dlq debug`), with the function that failed or a new version.

use std::sync::Arc;

use super::{Outcome, Runner};
use crate::engine::SluiceEngine;
use crate::function::{Function, FunctionPre};
use crate::imports::Services;
use crate::transcript::Transcript;

/// Why a transcript cannot be run again.
#[derive(Debug, thiserror::Error)]
pub enum RerunError {
    /// A batch function's calls are not recorded.
    #[error(
        "{function} is a batch function (handle-batch): its attempts are not recorded, so they cannot be replayed"
    )]
    Batch {
        /// The function.
        function: String,
    },
}

/// What running a transcript again gave.
#[derive(Debug)]
pub struct Rerun {
    /// How it ended: the messages it would publish (never sent), or its failure.
    pub outcome: Outcome,
    /// What it did: the calls it made with the answers it got, its clock readings, random
    /// bytes and log lines, and where it diverged from the transcript.
    pub replay: Transcript,
}

impl Rerun {
    /// The first call the transcript did not have, if the rerun made one.
    pub fn diverged(&self) -> Option<&str> {
        self.replay.diverged.as_deref()
    }

    /// Whether it failed exactly as `recorded` did (same error text, no divergence).
    pub fn reproduces(&self, recorded: &Transcript) -> bool {
        let failure = self.outcome.as_ref().err().map(ToString::to_string);
        self.diverged().is_none() && failure.is_some() && failure == recorded.outcome
    }

    /// Whether it handled the event, without diverging.
    pub fn handled(&self) -> bool {
        self.diverged().is_none() && self.outcome.is_ok()
    }
}

/// Runs `function` on `transcript`'s event with every host call answered from the
/// transcript. A call the transcript lacks fails (the rerun *diverged*), or with `live` goes
/// to `services`: give offline services ([`Services::in_memory`]) for a rerun that reaches
/// nothing. What the handler publishes is returned, never sent.
pub async fn rerun(
    engine: Arc<SluiceEngine>,
    function: Arc<Function>,
    transcript: Arc<Transcript>,
    services: Arc<Services>,
    live: bool,
) -> Result<Rerun, RerunError> {
    if matches!(function.pre(), FunctionPre::Batch(_)) {
        return Err(RerunError::Batch {
            function: function.name().to_string(),
        });
    }
    let event = Arc::new(transcript.event.to_event());
    let attempt = transcript.attempt;
    let runner = Runner::replaying(engine, function, services, transcript, live);
    let (outcome, replay) = runner.invoke_taped(&event, attempt).await;
    let replay = replay.expect("a replaying runner tapes every attempt");
    Ok(Rerun { outcome, replay })
}
