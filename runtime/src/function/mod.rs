//! A deployable function: its manifest, its component compiled once and pre-linked (so that
//! each event only pays for instantiation) and its compiled payload schemas. A [`Function`] is
//! a value: what runs it on a host (instances, services, permits, counters) belongs to its
//! deployment.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::SluiceEngine;
use crate::manifest::{BatchPolicy, Manifest, ManifestError};
use crate::text::one_line;

mod folder;
mod linking;
mod pre;
mod schemas;

pub use folder::{component_files, load_dir};
pub use pre::FunctionPre;
pub use schemas::{Mismatch, SchemaProblem, Schemas};

/// Why a function could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The `.wasm` file could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        /// The component file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file name does not make a valid function name.
    #[error("{}: `{name}` is not a valid function name (use letters, digits, `-` and `_`)", file.display())]
    Name {
        /// The component file.
        file: PathBuf,
        /// The rejected name.
        name: String,
    },
    /// The file is not a WebAssembly component.
    #[error("{}: not a WebAssembly component: {reason}", file.display())]
    NotAComponent {
        /// The component file.
        file: PathBuf,
        /// What it is instead.
        reason: &'static str,
    },
    /// The component is malformed or cannot be compiled.
    #[error("{}: invalid component: {message}", file.display())]
    Compile {
        /// The component file.
        file: PathBuf,
        /// The compiler's message.
        message: String,
    },
    /// The component does not fit the `sluice:function/handler` world.
    #[error("{}: does not implement the sluice:function/handler world: {message}", file.display())]
    World {
        /// The component file.
        file: PathBuf,
        /// What is missing or not provided.
        message: String,
    },
    /// The component imports an interface the host does not provide.
    #[error("{}: {message}", file.display())]
    Import {
        /// The component file.
        file: PathBuf,
        /// The import, the version the host provides and the world the component's
        /// exports show.
        message: String,
    },
    /// The manifest has `[batch]` but the component handles one event per call.
    #[error(
        "{}: `[batch]` is set for function `{function}`, but its component implements {world}, which takes one event per call; export `handle-batch` (world sluice:function/batch-handler, `sluice_sdk::export_batch!`) or remove `[batch]`",
        manifest.display()
    )]
    NotABatchHandler {
        /// The function.
        function: String,
        /// Its manifest file.
        manifest: PathBuf,
        /// The world the component implements.
        world: &'static str,
    },
    /// The manifest beside the component is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A schema file the manifest names (`[schema]`) is missing or invalid.
    #[error("{}: schema of function `{function}`: {problem}", file.display())]
    Schema {
        /// The function whose manifest names the schema.
        function: String,
        /// The schema file.
        file: PathBuf,
        /// What is wrong with it.
        problem: SchemaProblem,
    },
}

/// A loaded function: validated manifest, compiled component, compiled schemas.
pub struct Function {
    name: Arc<str>,
    manifest: Arc<Manifest>,
    pre: FunctionPre,
    schemas: Option<Arc<Schemas>>,
    source: PathBuf,
    version: String,
    batch: Option<BatchPolicy>,
}

impl Function {
    /// Loads `NAME.wasm` and its optional `NAME.toml` from the same folder.
    ///
    /// This compiles the component, which takes CPU time: call it from a blocking context.
    pub fn load(engine: &SluiceEngine, wasm: &Path) -> Result<Self, LoadError> {
        let name = name_of(wasm)?;
        let manifest_file = wasm.with_extension("toml");
        let (manifest, manifest_text) = if manifest_file.exists() {
            let text = std::fs::read_to_string(&manifest_file).map_err(|source| ManifestError::Read {
                file: manifest_file.clone(),
                source,
            })?;
            (Manifest::parse(&name, &text, &manifest_file)?, text)
        } else {
            (Manifest::default_for(&name)?, String::new())
        };
        let bytes = std::fs::read(wasm).map_err(|source| LoadError::Read {
            file: wasm.to_owned(),
            source,
        })?;
        let mut function = Self::from_parts(engine, &name, manifest, &bytes, wasm)?;
        function.version = version_of(&bytes, manifest_text.as_bytes(), function.schemas.as_deref());
        Ok(function)
    }

    /// Builds a function from a manifest and component bytes, reading the schema files the
    /// manifest names; `source` names the component in errors.
    pub fn from_parts(
        engine: &SluiceEngine,
        name: &str,
        manifest: Manifest,
        bytes: &[u8],
        source: &Path,
    ) -> Result<Self, LoadError> {
        let file = || source.to_owned();
        let schemas = load_schemas(name, &manifest)?;
        check_component_header(bytes).map_err(|reason| LoadError::NotAComponent { file: file(), reason })?;
        let component = engine.compile(bytes).map_err(|error| LoadError::Compile {
            file: file(),
            message: one_line(&error),
        })?;
        let instance_pre = engine.linker().instantiate_pre(&component).map_err(|error| {
            let message = one_line(&error);
            match linking::explain(engine.engine(), &component, &message) {
                Some(message) => LoadError::Import {
                    file: file(),
                    message,
                },
                None => LoadError::World {
                    file: file(),
                    message,
                },
            }
        })?;
        let pre = FunctionPre::new(instance_pre).map_err(|error| LoadError::World {
            file: file(),
            message: one_line(&error),
        })?;
        let batch = match (&pre, manifest.batch) {
            (FunctionPre::Batch(_), policy) => Some(policy.unwrap_or_default()),
            (_, None) => None,
            (other, Some(_)) => {
                return Err(LoadError::NotABatchHandler {
                    function: name.to_owned(),
                    manifest: source.with_extension("toml"),
                    world: other.world(),
                });
            }
        };
        Ok(Self {
            batch,
            name: name.into(),
            manifest: Arc::new(manifest),
            pre,
            source: file(),
            version: version_of(bytes, b"", schemas.as_deref()),
            schemas,
        })
    }

    /// The function as a shadow version runs it: under [`Manifest::shadowed`] with `http`;
    /// its version stays the one it was loaded as.
    pub fn shadowed(mut self, http: &[String]) -> Result<Self, String> {
        let manifest = (*self.manifest).clone().shadowed(http)?;
        self.manifest = Arc::new(manifest);
        Ok(self)
    }

    /// The function's name (its file name without `.wasm`).
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The validated manifest.
    pub fn manifest(&self) -> &Arc<Manifest> {
        &self.manifest
    }

    /// The compiled `[schema]` files, when the manifest names any.
    pub fn schemas(&self) -> Option<&Arc<Schemas>> {
        self.schemas.as_ref()
    }

    /// Checks `event` against the function's schema; always `Ok` without one.
    pub fn check_schema(&self, event: &crate::event::Event) -> Result<(), Mismatch> {
        self.schemas
            .as_ref()
            .map_or(Ok(()), |schemas| schemas.check(event))
    }

    /// The pre-linked component.
    pub fn pre(&self) -> &FunctionPre {
        &self.pre
    }

    /// Short hash of the component and its manifest: what changed when a function is
    /// redeployed, and what logs name.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How events are grouped, for a batch function (`[batch]`, or its defaults).
    pub fn batch(&self) -> Option<BatchPolicy> {
        self.batch
    }

    /// How many events of this function may be admitted at once on a host: one per
    /// `limits.max_concurrency` instance, times `batch.max_events` for a batch function (so
    /// that many full batches can be collected and run).
    pub fn event_permits(&self) -> usize {
        let instances = self.manifest.limits.max_concurrency.get() as usize;
        let per_instance = self.batch().map_or(1, |batch| batch.max_events as usize);
        instances
            .saturating_mul(per_instance)
            .min(tokio::sync::Semaphore::MAX_PERMITS)
    }

    /// The file the component was loaded from.
    pub fn source(&self) -> &Path {
        &self.source
    }
}

/// A function's name is its file stem; it appears in subjects and queue groups, so it is
/// kept to characters that are safe there.
fn name_of(wasm: &Path) -> Result<String, LoadError> {
    let name = wasm
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default()
        .to_owned();
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(name)
    } else {
        Err(LoadError::Name {
            file: wasm.to_owned(),
            name,
        })
    }
}

/// Reads and compiles the schema files `manifest` names, once for every event.
fn load_schemas(name: &str, manifest: &Manifest) -> Result<Option<Arc<Schemas>>, LoadError> {
    let Some(spec) = &manifest.schema else {
        return Ok(None);
    };
    let schemas = Schemas::load(spec).map_err(|error| LoadError::Schema {
        function: name.to_owned(),
        file: error.file,
        problem: error.problem,
    })?;
    Ok(Some(Arc::new(schemas)))
}

fn version_of(component: &[u8], manifest: &[u8], schemas: Option<&Schemas>) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(component)
        .chain_update([0])
        .chain_update(manifest)
        .chain_update(schemas.map_or(&[][..], Schemas::digest))
        .finalize();
    digest.iter().take(6).map(|byte| format!("{byte:02x}")).collect()
}

fn check_component_header(bytes: &[u8]) -> Result<(), &'static str> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Err(
            "it is a core WebAssembly module; build the function with `--target wasm32-wasip2` so it is a component",
        ),
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => Ok(()),
        Some([0, b'a', b's', b'm', ..]) => Err("unsupported WebAssembly binary version"),
        _ => Err("the file does not start with the WebAssembly magic bytes (corrupt, truncated or not wasm)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_tell_modules_components_and_garbage_apart() {
        assert!(
            check_component_header(b"\0asm\x01\0\0\0rest")
                .unwrap_err()
                .contains("core WebAssembly module")
        );
        assert!(check_component_header(b"\0asm\x0d\0\x01\0rest").is_ok());
        assert!(
            check_component_header(b"hello world")
                .unwrap_err()
                .contains("magic bytes")
        );
        assert!(check_component_header(b"").is_err());
    }

    #[test]
    fn names_must_be_safe_in_subjects() {
        assert_eq!(name_of(Path::new("dir/order-total.wasm")).unwrap(), "order-total");
        assert!(name_of(Path::new("dir/bad name.wasm")).is_err());
        assert!(name_of(Path::new("dir/a.b.wasm")).is_err());
    }
}
