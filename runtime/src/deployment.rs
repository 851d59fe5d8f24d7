//! A function as deployed on this host: everything live about it has its home here.
//!
//! The [`Function`] is the compiled artifact (a value); its [`Deployment`] owns what running
//! it takes: the runner (what its imports reach and its warm instances), the batcher of a
//! batch function, the permits of its concurrency cap, its counters, its circuit breaker, its
//! dedupe store, and the token that hands its JetStream events back when its grace is over.
//! A redeploy makes a new `Deployment` that carries the counters (and the permits, when the
//! cap is unchanged) of the one it replaces.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::batcher::Batcher;
use crate::breaker::Breaker;
use crate::engine::SluiceEngine;
use crate::event::Event;
use crate::function::Function;
use crate::imports::Services;
use crate::invoke::{Outcome, Runner};
use crate::shadow::ShadowSlot;
use crate::stats::FunctionStats;
use crate::transcript::Transcript;

/// A deployed function and all of its live state on this host.
pub struct Deployment {
    /// Runs the function's events in its instances.
    runner: Arc<Runner>,
    /// Groups a batch function's attempts into calls; `None` for other functions.
    batcher: Option<Arc<Batcher>>,
    /// One permit per event allowed in flight at once: `limits.max_concurrency`, times
    /// `batch.max_events` for a batch function.
    pub permits: Arc<Semaphore>,
    /// What happened to its events.
    pub stats: Arc<FunctionStats>,
    /// Pauses the intake while the function keeps failing.
    pub breaker: Breaker,
    /// Ids of handled events, when the manifest asks for `[dedupe]` (JetStream only).
    pub dedupe: Option<async_nats::jetstream::kv::Store>,
    /// Cancelled when the function's JetStream events still running must be handed back to
    /// the server: the grace period after a shutdown or an undeploy is over. Shared by every
    /// version of the function.
    pub abandon: CancellationToken,
    /// The candidate version shadowing the function, if any; shared by every version of it.
    pub shadow: Arc<ShadowSlot>,
}

/// What a deployment is made of besides its counters and permits.
pub struct Parts {
    /// The engine the function was compiled with.
    pub engine: Arc<SluiceEngine>,
    /// The loaded function.
    pub function: Function,
    /// What its imports reach.
    pub services: Arc<Services>,
    /// Its dedupe store, when it has `[dedupe]` in JetStream mode.
    pub dedupe: Option<async_nats::jetstream::kv::Store>,
}

impl Deployment {
    /// The first deployment of a function, with fresh permits and counters; `abandon` is
    /// cancelled when its JetStream events must be handed back.
    pub fn new(parts: Parts, abandon: CancellationToken) -> Self {
        let stats = Arc::<FunctionStats>::default();
        let permits = Arc::new(Semaphore::new(parts.function.event_permits()));
        Self::assemble(parts, permits, stats, abandon, Arc::default())
    }

    /// A new version of `previous`: the counters carry on, and so do the permits unless the
    /// concurrency cap changed (then the new cap applies to events admitted from now on).
    pub fn replacing(parts: Parts, previous: &Deployment) -> Self {
        let cap = parts.function.event_permits();
        let permits = match previous.function().event_permits() == cap {
            true => previous.permits.clone(),
            false => Arc::new(Semaphore::new(cap)),
        };
        let (stats, abandon, shadow) = (
            previous.stats.clone(),
            previous.abandon.clone(),
            previous.shadow.clone(),
        );
        Self::assemble(parts, permits, stats, abandon, shadow)
    }

    fn assemble(
        parts: Parts,
        permits: Arc<Semaphore>,
        stats: Arc<FunctionStats>,
        abandon: CancellationToken,
        shadow: Arc<ShadowSlot>,
    ) -> Self {
        let Parts {
            engine,
            function,
            services,
            dedupe,
        } = parts;
        let breaker = Breaker::new(
            function.name(),
            function.manifest().circuit_breaker,
            stats.clone(),
        );
        let max_concurrency = function.manifest().limits.max_concurrency;
        let batch = function.batch();
        let runner = Arc::new(Runner::new(engine, Arc::new(function), services));
        let batcher = batch.map(|policy| Arc::new(Batcher::new(runner.clone(), policy, max_concurrency)));
        Self {
            runner,
            batcher,
            permits,
            stats,
            breaker,
            dedupe,
            abandon,
            shadow,
        }
    }

    /// The deployed function.
    pub fn function(&self) -> &Arc<Function> {
        self.runner.function()
    }

    /// Traces (when tracing is on) that `event` is dead-lettered for `reason` without
    /// reaching the handler.
    pub fn trace_unhandled(&self, event: &Event, reason: sluice_protocol::DeadLetterReason, error: &str) {
        self.runner.trace_unhandled(event, reason, error);
    }

    /// Runs delivery number `attempt` of `event`: as part of the next batch for a batch
    /// function, else on its own, with its transcript when the function records them.
    pub async fn attempt(&self, event: &Arc<Event>, attempt: u32) -> (Outcome, Option<Transcript>) {
        match &self.batcher {
            Some(batcher) => (batcher.attempt(event, attempt).await, None),
            None => {
                let (outcome, transcript) = self.runner.invoke_taped(event, attempt).await;
                // A shadow sees each event once, at its first delivery, after the live attempt.
                if attempt == 1
                    && let Some(shadow) = self.shadow.current()
                {
                    shadow.offer(event, &outcome);
                }
                (outcome, transcript)
            }
        }
    }

    /// What the function's imports reach.
    pub fn services(&self) -> &Arc<Services> {
        self.runner.services()
    }
}
