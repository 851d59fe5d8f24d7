//! Compiled components on disk, keyed by the component's content hash and the engine's
//! compatibility hash, so a host restarted on unchanged files does not compile them again.
//!
//! Trust: a cached file is machine code that is loaded as is. Only this host writes the
//! cache folder (through wasmtime's `serialize`), files are named by what they were compiled
//! from, and a file that fails to load is recompiled and replaced. Whoever can write the
//! cache folder can run code in the host, as with the `sluice` binary itself: keep the state
//! folder private.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A folder of compiled components.
pub struct ComponentCache {
    dir: PathBuf,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ComponentCache {
    /// A cache in `dir`, created when first written.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The compiled form of `bytes`: from the cache when present and loadable, else compiled
    /// now and stored (a failure to store is logged, not fatal).
    pub fn load_or_compile(&self, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
        let file = self.dir.join(format!("{}.cwasm", key(engine, bytes)));
        if file.is_file() {
            match deserialize(engine, &file) {
                Ok(component) => {
                    self.hits.fetch_add(1, Relaxed);
                    return Ok(component);
                }
                Err(error) => {
                    tracing::warn!("{}: unusable cache entry ({error}); recompiling", file.display())
                }
            }
        }
        self.misses.fetch_add(1, Relaxed);
        let component = Component::new(engine, bytes)?;
        if let Err(error) = self.store(&component, &file) {
            tracing::warn!(
                "{}: cannot cache the compiled component: {error:#}",
                file.display()
            );
        }
        Ok(component)
    }

    /// How many loads came from the cache and how many compiled.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (self.hits.load(Relaxed), self.misses.load(Relaxed))
    }

    fn store(&self, component: &Component, file: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let serialized = component.serialize().map_err(anyhow::Error::from)?;
        // Write-then-rename, so a concurrent reader never sees half a file.
        // Unique per writer: several hosts in one process may store the same component.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let temporary = file.with_extension(format!(
            "tmp{}-{}",
            std::process::id(),
            WRITES.fetch_add(1, Relaxed)
        ));
        std::fs::write(&temporary, serialized)?;
        std::fs::rename(&temporary, file)?;
        Ok(())
    }
}

/// Content hash of the component plus the engine's compatibility hash (wasmtime version,
/// compiler settings): a cached file is only ever loaded by an engine that could have
/// written it.
fn key(engine: &Engine, bytes: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = Sha256::new()
        .chain_update(bytes)
        .chain_update(hasher.finish().to_le_bytes())
        .finalize();
    digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect()
}

/// Reads the entry into memory rather than mapping it: a mapped file that someone truncates
/// later would crash the host (SIGBUS).
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, file: &Path) -> wasmtime::Result<Component> {
    let bytes = std::fs::read(file).map_err(wasmtime::Error::from)?;
    // SAFETY: the file was written by `ComponentCache::store` from `Component::serialize` of
    // an engine with the same compatibility hash (it is in the file name), and wasmtime checks
    // the header and version again; see the module documentation on trusting the folder.
    unsafe { Component::deserialize(engine, bytes) }
}
