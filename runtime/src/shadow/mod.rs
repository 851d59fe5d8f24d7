//! Shadow versions: a candidate version of a function run beside the live one on a copy of
//! (a share of) its events, on every host, with every effect held back, and its outcome
//! compared with live's, event by event.
//!
//! - **Nothing leaves the candidate.** What it publishes (now or delayed) is captured and
//!   compared, never sent; its key-value writes go to a scratch layer of the one event that
//!   reads through to the live buckets (`imports::kv::Overlay`); it sends no
//!   requests; HTTP only to the hosts the shadow names (`--shadow-http`), which are safe to
//!   call twice. It never acks, retries or dead-letters: an event is shadowed once, at its
//!   first delivery on a host, after the live attempt.
//! - **Live does not wait for it.** The candidate runs in a task of its own after the live
//!   attempt, in at most a quarter of the live function's `limits.max_concurrency` instances
//!   (at least one); an event that finds them all busy is not shadowed (counted, and the
//!   count stored with the shadow's next result).
//! - **Results.** Each comparison is a message on `sluice.shadow.NAME` in stream
//!   [`STREAM`] (kept 7 days): the event, the verdict ([`Verdict`]) and both sides' outcomes.
//!   `sluice shadow report NAME` reads them back ([`read`], [`Summary`]).

mod compare;
pub(crate) mod results;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::Semaphore;

pub use compare::{Observed, Seen, Verdict, compare, diff};
pub use results::{STREAM, ShadowResult, Summary, read, subject};

use crate::engine::SluiceEngine;
use crate::event::Event;
use crate::function::Function;
use crate::imports::Services;
use crate::invoke::{Outcome, Runner};

/// How a candidate is shadowed.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowOptions {
    /// The share of events shadowed, from 0 (none) to 1 (every event).
    pub sample: f64,
}

/// A candidate version shadowing a live function on this host.
pub struct Shadow {
    candidate: Arc<Function>,
    engine: Arc<SluiceEngine>,
    /// What the live function's imports reach: the buckets the candidate reads through.
    live: Arc<Services>,
    options: ShadowOptions,
    /// The candidate's instances: a share of the live cap.
    permits: Arc<Semaphore>,
    js: async_nats::jetstream::Context,
    /// Whether storing a result failed (warned once).
    failing: AtomicBool,
    /// Names this shadow on this host in its results, so the report can add up what each
    /// host skipped.
    id: String,
    /// Sampled events not shadowed because every instance was busy.
    skipped: AtomicU64,
}

impl Shadow {
    /// A shadow of `candidate` beside a live function whose imports reach `live`, storing its
    /// results through `js`.
    pub fn new(
        candidate: Function,
        engine: Arc<SluiceEngine>,
        live: Arc<Services>,
        options: ShadowOptions,
        js: async_nats::jetstream::Context,
    ) -> Self {
        let share = (candidate.manifest().limits.max_concurrency.get() as usize / 4).max(1);
        Self {
            candidate: Arc::new(candidate),
            engine,
            live,
            options,
            permits: Arc::new(Semaphore::new(share)),
            js,
            failing: AtomicBool::new(false),
            id: nuid::next().to_string(),
            skipped: AtomicU64::new(0),
        }
    }

    /// The candidate's version.
    pub fn version(&self) -> &str {
        self.candidate.version()
    }

    /// How it is shadowed.
    pub fn options(&self) -> &ShadowOptions {
        &self.options
    }

    /// Shadows `event`, whose live attempt came to `live`, when it is in the sample and an
    /// instance is free; returns at once.
    pub fn offer(self: &Arc<Self>, event: &Arc<Event>, live: &Outcome) {
        if self.options.sample < 1.0 && rand::random::<f64>() >= self.options.sample {
            return;
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("shadow busy: event not shadowed");
            return;
        };
        let live = Observed::of(live);
        let (shadow, event) = (self.clone(), event.clone());
        tokio::spawn(async move {
            shadow.run(&event, live).await;
            drop(permit);
        });
    }

    /// Runs the candidate on `event` and stores how it compares with `live`.
    async fn run(&self, event: &Arc<Event>, live: Observed) {
        let services = Arc::new(Services::shadowing(&self.live));
        let runner = Runner::new(self.engine.clone(), self.candidate.clone(), services);
        let candidate = Observed::of(&runner.invoke(event, 1).await);
        let mut result = ShadowResult::new(event, self.candidate.version(), live, candidate);
        result.shadow = self.id.clone();
        result.skipped = self.skipped.load(Ordering::Relaxed);
        match results::store(&self.js, self.candidate.name(), &result).await {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(function = %self.candidate.name(), "shadow results are stored again");
                }
            }
            Err(error) if !self.failing.swap(true, Ordering::Relaxed) => tracing::warn!(
                function = %self.candidate.name(),
                "shadow result not stored: {error}"
            ),
            Err(_) => {}
        }
    }
}

/// The shadow of a function on this host, if any: shared by every live version of it, so a
/// redeploy of the live function keeps shadowing.
#[derive(Default)]
pub struct ShadowSlot(RwLock<Option<Arc<Shadow>>>);

impl ShadowSlot {
    /// The current shadow.
    pub fn current(&self) -> Option<Arc<Shadow>> {
        self.0.read().expect("shadow lock poisoned").clone()
    }

    /// Replaces the shadow (`None` stops shadowing).
    pub fn set(&self, shadow: Option<Arc<Shadow>>) {
        *self.0.write().expect("shadow lock poisoned") = shadow;
    }
}
