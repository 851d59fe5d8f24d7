//! The shared wasmtime [`Engine`]: compilation settings, the pooling allocator and the epoch
//! ticker that bounds how long a handler may run without yielding.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::path::PathBuf;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cache::ComponentCache;
use crate::imports::State;

/// How often the epoch advances. A running handler yields to the async executor once per
/// tick, so a busy handler never starves the others, and a timeout is noticed within a tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances that may exist at once across all functions of a host. Each slot reserves
/// address space (not memory) up front; past this, instantiation fails and the event is
/// retried like any other retryable failure.
const POOL_COMPONENT_INSTANCES: u32 = 1_000;

/// Core instances, memories and tables in the pool. A Rust component built for
/// `wasm32-wasip2` has a few core instances (the program, the WASI adapter and shims) and two
/// memories, so the pool holds several per component instance.
const POOL_CORE_INSTANCES: u32 = 4 * POOL_COMPONENT_INSTANCES;
const POOL_MEMORIES: u32 = 2 * POOL_COMPONENT_INSTANCES;
const POOL_TABLES: u32 = 2 * POOL_COMPONENT_INSTANCES;

/// Freed slots kept warm: still mapped to the memory image of the function that last used
/// them, with at most [`KEEP_RESIDENT`] of their pages resident, so that function's next
/// instance in the slot maps nothing. The whole memory pool: wasmtime applies this budget to
/// the memory slots (split over one shard per core), and past it an instantiation that finds
/// no slot of its own function's re-maps another function's warm slot, at the cost of an
/// `mmap` and a TLB shootdown on every core. With wasmtime's default of 100, 50 functions
/// ran at half the rate of one; with 1,000 (half the memory pool) they still re-mapped a slot
/// every 2-4 events; with the whole pool, once in 20-30 events, and the host used a fifth less CPU
/// per event (BENCHMARKS.md, stop 32). Memory kept this way is bounded by what the most
/// instances that ever ran at once touched, up to `KEEP_RESIDENT` per memory.
const WARM_SLOTS: u32 = POOL_MEMORIES;

/// Freed instance slots are returned to the kernel in batches rather than one `madvise` each.
const DECOMMIT_BATCH: usize = 64;

/// Bytes of each freed memory and table reset with `memset` (or, with Linux's
/// `PAGEMAP_SCAN`, only the pages that were touched) instead of being unmapped, so the next
/// instance in the slot does not page-fault them in again. A small Rust handler touches
/// about 1 MiB.
const KEEP_RESIDENT: usize = 2 << 20;

/// Set to `perfmap` to have compiled handler code named in `perf` profiles.
pub const PROFILE_ENV: &str = "SLUICE_PROFILE";

/// The largest linear memory any function may ask for in `limits.memory`; each function's own
/// limit is enforced per store below this.
pub const MAX_MEMORY: u64 = 4 << 30;

/// Owns the engine, the linker every function is instantiated with, and the thread that
/// advances the epoch; dropping it stops the thread.
pub struct SluiceEngine {
    engine: Engine,
    cache: Option<ComponentCache>,
    linker: Linker<State>,
    ticker: Arc<AtomicBool>,
}

impl SluiceEngine {
    /// Builds an engine for async component instantiation with the pooling allocator and
    /// epoch interruption, and starts the epoch ticker.
    pub fn new() -> anyhow::Result<Self> {
        let engine = Engine::new(&config(true)).or_else(|pool_error| {
            tracing::warn!("pooling allocator unavailable ({pool_error}); allocating on demand");
            Engine::new(&config(false))
        })?;
        Self::from_engine(engine)
    }

    /// An engine that allocates every instance on demand instead of from a pool (slower;
    /// for comparison in benchmarks, and for hosts that cannot reserve the pool's address
    /// space).
    pub fn without_pooling() -> anyhow::Result<Self> {
        Self::from_engine(Engine::new(&config(false))?)
    }

    fn from_engine(engine: Engine) -> anyhow::Result<Self> {
        let ticker = Arc::new(AtomicBool::new(true));
        let (running, ticking) = (ticker.clone(), engine.weak());
        std::thread::Builder::new()
            .name("sluice-epoch".into())
            .spawn(move || {
                while running.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match ticking.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        let mut linker = Linker::new(&engine);
        crate::imports::add_to_linker(&mut linker).map_err(anyhow::Error::from)?;
        Ok(Self {
            engine,
            cache: None,
            linker,
            ticker,
        })
    }

    /// The linker holding WASI (deny-by-default) and the Sluice imports.
    pub fn linker(&self) -> &Linker<State> {
        &self.linker
    }

    /// Keeps compiled components in `dir`, so unchanged files are not compiled again.
    pub fn with_cache(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache = Some(ComponentCache::new(dir));
        self
    }

    /// Compiles `bytes` (or loads the compiled form from the cache).
    pub fn compile(&self, bytes: &[u8]) -> wasmtime::Result<Component> {
        match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, bytes),
            None => Component::new(&self.engine, bytes),
        }
    }

    /// The component cache, if any.
    pub fn cache(&self) -> Option<&ComponentCache> {
        self.cache.as_ref()
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for SluiceEngine {
    fn drop(&mut self) {
        self.ticker.store(false, Ordering::Relaxed);
    }
}

fn config(pooling: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if std::env::var_os(PROFILE_ENV).is_some_and(|value| value == "perfmap") {
        // Names the compiled handler code for `perf` (in /tmp/perf-PID.map).
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_COMPONENT_INSTANCES)
            .total_core_instances(POOL_CORE_INSTANCES)
            .total_memories(POOL_MEMORIES)
            .total_tables(POOL_TABLES)
            .total_stacks(POOL_COMPONENT_INSTANCES)
            .max_memories_per_component(8)
            .max_tables_per_component(8)
            .max_core_instances_per_component(32)
            .max_memory_size(MAX_MEMORY as usize)
            .decommit_batch_size(DECOMMIT_BATCH)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::Auto)
            .max_unused_warm_slots(WARM_SLOTS);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}
