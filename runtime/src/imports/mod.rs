//! The sandbox side of the WIT contract: what a function's imports do. The per-store state
//! ([`State`]: WASI context, memory limiter, the event being handled and its outbox) and one
//! module per imported interface (`sluice:function/*`, wasmCloud messaging, WASI HTTP).

mod batch;
mod config;
mod http;
pub mod kv;
mod log;
mod log_budget;
mod publisher;
mod requester;
mod secret;
mod services;
mod stdio;
mod wasi_config;
mod wasi_keyvalue;
mod wasi_logging;
mod wasmcloud;

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::Handler;
use crate::event::Event;
use crate::manifest::Manifest;
use crate::transcript::{Cue, HostCall, Tape};
pub use log_budget::LogBudget;
pub use publisher::{Outbox, OutgoingMessage};
pub use secret::Revealed;
pub use services::{DelayReadiness, Services};
pub use stdio::CapturedOutput;

/// Everything one store (one instance, one event) owns.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    http_policy: http::HttpPolicy,
    limiter: MemoryLimiter,
    call: Call,
    /// The other events' calls while the store serves a batch.
    batch: Option<batch::BatchCalls>,
    /// The secret values this attempt read, kept out of its log lines and failure messages.
    revealed: Revealed,
    /// Records the host calls, clocks and random bytes (or answers them from a transcript).
    tape: Option<Tape>,
}

/// What the host imports need to know about the event being handled.
pub struct Call {
    /// The function's name.
    pub function: Arc<str>,
    /// The function's manifest (permissions and config).
    pub manifest: Arc<Manifest>,
    /// The event's id, subject, reply-to and correlation headers.
    pub event: Arc<Event>,
    /// Messages published so far, sent only if the handler succeeds.
    pub outbox: Outbox,
    /// The function's key-value buckets and request connection.
    pub services: Arc<Services>,
    /// The attempt's span, parent of the spans of its host calls; `None` when tracing is off.
    pub trace: Option<crate::telemetry::Parent>,
}

impl State {
    /// A deny-by-default sandbox for one call: no files, no environment, no arguments, no
    /// sockets, and HTTP only to the hosts in `permissions.http`; stdout and stderr are
    /// captured for the log. With a `tape`, its host calls, clocks and random bytes go
    /// through it.
    pub fn new(call: Call, memory_limit: u64, output: &CapturedOutput, tape: Option<Tape>) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(output.clone())
            .stderr(output.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if let Some(tape) = &tape {
            crate::transcript::install(&mut wasi, tape);
        }
        Self {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            http_policy: http::HttpPolicy::new(&call, tape.clone()),
            limiter: MemoryLimiter::new(memory_limit),
            call,
            batch: None,
            revealed: Revealed::default(),
            tape,
        }
    }

    /// Starts serving `call` in an instance that already served others: the previous call's
    /// state (event, outbox, memory flag) is replaced.
    pub fn begin(&mut self, call: Call) {
        if let Some(tape) = &self.tape {
            tape.rewind();
        }
        self.http_policy = http::HttpPolicy::new(&call, self.tape.clone());
        self.call = call;
        self.batch = None;
        self.revealed = Revealed::default();
        self.limiter.refused = false;
    }

    /// The call this store serves.
    pub fn call(&self) -> &Call {
        &self.call
    }

    /// A child span of the attempt's of `kind`, named by `name`; `None` when tracing is off.
    fn child_span(
        &self,
        kind: crate::telemetry::SpanKind,
        name: impl FnOnce() -> String,
    ) -> Option<crate::telemetry::Recording> {
        self.call.trace.as_ref().map(|trace| trace.child(kind, name))
    }

    /// The store's tape, when it records its calls or replays a transcript.
    pub fn tape(&self) -> Option<&Tape> {
        self.tape.as_ref()
    }

    /// [`taped`] for a call that does not wait.
    fn taped_now<T: Serialize + DeserializeOwned>(
        &self,
        call: impl FnOnce() -> HostCall,
        diverged: impl FnOnce(String) -> T,
        live: impl FnOnce() -> T,
    ) -> T {
        let Some(tape) = &self.tape else {
            return live();
        };
        let call = call();
        match tape.cue(&call) {
            Cue::Replayed(answer) => answer,
            Cue::Diverged(why) => diverged(why),
            Cue::Live => {
                let answer = live();
                tape.note(call, &answer);
                answer
            }
        }
    }

    /// Takes the buffered publishes out of the store.
    pub fn take_outbox(&mut self) -> Outbox {
        std::mem::take(&mut self.call.outbox)
    }

    /// The memory limiter, to install on the store and to ask whether it refused growth.
    pub fn limiter(&mut self) -> &mut MemoryLimiter {
        &mut self.limiter
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Answers `call` from `tape` when it replays a transcript (a call the transcript lacks is
/// answered by `diverged`, given why), else makes it (`live`) and records the answer when the
/// tape records.
async fn taped<T: Serialize + DeserializeOwned>(
    tape: Option<&Tape>,
    call: impl FnOnce() -> HostCall,
    diverged: impl FnOnce(String) -> T,
    live: impl Future<Output = T>,
) -> T {
    let Some(tape) = tape else {
        return live.await;
    };
    let call = call();
    match tape.cue(&call) {
        Cue::Replayed(answer) => answer,
        Cue::Diverged(why) => diverged(why),
        Cue::Live => {
            let answer = live.await;
            tape.note(call, &answer);
            answer
        }
    }
}

/// Adds WASI, `wasi:http` (outgoing requests) and the Sluice imports to `linker`.
pub fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    Handler::add_to_linker::<State, HasSelf<State>>(linker, |state| state)?;
    crate::bindings::batch::sluice::function::batch::add_to_linker::<State, HasSelf<State>>(
        linker,
        |state| state,
    )?;
    crate::bindings::wasmcloud::MessagingHandler::add_to_linker::<State, HasSelf<State>>(linker, |state| {
        state
    })
}

/// Enforces a function's `limits.memory` and remembers whether it had to refuse growth, so
/// an allocation failure is reported as out-of-memory rather than a generic trap.
pub struct MemoryLimiter {
    limit: u64,
    refused: bool,
}

impl MemoryLimiter {
    fn new(limit: u64) -> Self {
        Self {
            limit,
            refused: false,
        }
    }

    /// Whether a memory or table growth was refused during this call.
    pub fn refused(&self) -> bool {
        self.refused
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired as u64 <= self.limit;
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= MAX_TABLE_ELEMENTS;
        self.refused |= !allowed;
        Ok(allowed)
    }
}

/// Tables hold function references; no sane handler needs more than this.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl crate::bindings::sluice::function::types::Host for State {}
