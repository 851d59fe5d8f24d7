//! The event flow of a folder of functions, read from their manifests alone (no component is
//! compiled or run): which subjects each function listens on, publishes to and sends
//! requests to, its schedule, key-value buckets and HTTP hosts; with [`findings`] about the
//! flow (subjects nobody consumes, listeners nothing feeds, cycles) and drawings of it in DOT
//! ([`dot`]) and SVG ([`svg`], laid out here: no Graphviz needed).

pub mod dot;
mod drawing;
pub mod findings;
pub mod schemas;
pub mod svg;

use std::path::{Path, PathBuf};

use crate::manifest::{DeliveryMode, Manifest, ManifestError, SchemaSpec};
pub use findings::Finding;
pub use sluice_protocol::subject::overlap;

/// The file in a folder that names the subjects published or consumed outside its functions.
pub const EXTERNAL_FILE: &str = "external.toml";

/// Why a folder's graph could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The folder could not be read.
    #[error("cannot read {}: {source}", .dir.display())]
    Read {
        /// The folder.
        dir: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A manifest is broken.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// `external.toml` is broken.
    #[error("{}: {message}", .file.display())]
    External {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A schema file a manifest names cannot be read.
    #[error("{}: {message}", .file.display())]
    Schema {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Two manifests name the same function.
    #[error("two manifests name function `{name}`: {} and {}", .first.display(), .second.display())]
    Duplicate {
        /// The function.
        name: String,
        /// One manifest.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
}

/// One function as the graph sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionNode {
    /// Its name.
    pub name: String,
    /// `core` or `jetstream`.
    pub mode: &'static str,
    /// `trigger.subjects`.
    pub listens: Vec<String>,
    /// `trigger.schedule`, described.
    pub schedule: Option<String>,
    /// `permissions.publish`.
    pub publishes: Vec<String>,
    /// `permissions.request`.
    pub requests: Vec<String>,
    /// `state.buckets`.
    pub buckets: Vec<String>,
    /// `permissions.http`.
    pub http: Vec<String>,
    /// `[schema] file`, read (by [`Graph::from_folder`]; not for the fleet).
    pub input_schema: Option<Schema>,
    /// `[schema] publishes`, each subject pattern's schema read (as above).
    pub output_schemas: Vec<(String, Schema)>,
}

/// A JSON Schema file and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// The file.
    pub file: PathBuf,
    /// Its JSON.
    pub json: serde_json::Value,
}

impl Schema {
    /// Reads `file`.
    pub fn read(file: &Path) -> Result<Self, GraphError> {
        let failed = |message: String| GraphError::Schema {
            file: file.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(file).map_err(|error| failed(error.to_string()))?;
        let json = serde_json::from_str(&text).map_err(|error| failed(format!("not JSON: {error}")))?;
        Ok(Self {
            file: file.to_owned(),
            json,
        })
    }
}

impl FunctionNode {
    /// The node of function `name` with `manifest`.
    pub fn new(name: &str, manifest: &Manifest) -> Self {
        let texts = |patterns: &[sluice_protocol::SubjectPattern]| {
            patterns.iter().map(|p| p.as_str().to_owned()).collect::<Vec<_>>()
        };
        Self {
            name: name.to_owned(),
            mode: match manifest.trigger.mode {
                DeliveryMode::Core => "core",
                DeliveryMode::JetStream(_) => "jetstream",
            },
            listens: texts(&manifest.trigger.subjects),
            schedule: manifest
                .trigger
                .schedule
                .as_ref()
                .map(|schedule| schedule.describe()),
            publishes: texts(&manifest.publish),
            requests: texts(&manifest.request),
            buckets: manifest.buckets.clone(),
            http: manifest.http.iter().map(ToString::to_string).collect(),
            input_schema: None,
            output_schemas: Vec::new(),
        }
    }

    /// The node of `manifest`, with the schema files it names read.
    pub fn with_schemas(name: &str, manifest: &Manifest) -> Result<Self, GraphError> {
        let mut node = Self::new(name, manifest);
        if let Some(SchemaSpec::File(file)) = &manifest.schema {
            node.input_schema = Some(Schema::read(file)?);
        }
        for (pattern, file) in &manifest.output_schemas {
            node.output_schemas
                .push((pattern.as_str().to_owned(), Schema::read(file)?));
        }
        Ok(node)
    }
}

/// Subjects that cross the folder's boundary: published or consumed by something else.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Externals {
    /// Subjects something outside publishes to (a shop, a webhook bridge, a person).
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Subjects something outside consumes (a stream, a mail relay, a dashboard).
    #[serde(default)]
    pub outputs: Vec<String>,
}

/// A folder's functions and what crosses its boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// The functions, by name.
    pub functions: Vec<FunctionNode>,
    /// The declared external inputs and outputs.
    pub externals: Externals,
}

impl Graph {
    /// The graph of `functions` with `externals`.
    pub fn new(mut functions: Vec<FunctionNode>, externals: Externals) -> Self {
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        Self { functions, externals }
    }

    /// The graph of the functions whose manifests (`NAME.toml`) are in `dir` or one folder
    /// below it (an application folder of function crates), with `dir/external.toml`.
    pub fn from_folder(dir: &Path) -> Result<Self, GraphError> {
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        for folder in std::iter::once(dir.to_owned()).chain(subfolders(dir)?) {
            for (name, file) in manifests_in(&folder)? {
                if let Some((_, first)) = found.iter().find(|(other, _)| *other == name) {
                    return Err(GraphError::Duplicate {
                        name,
                        first: first.clone(),
                        second: file,
                    });
                }
                found.push((name, file));
            }
        }
        let mut functions = Vec::new();
        for (name, file) in found {
            functions.push(FunctionNode::with_schemas(
                &name,
                &Manifest::from_file(&name, &file)?,
            )?);
        }
        Ok(Self::new(functions, externals(&dir.join(EXTERNAL_FILE))?))
    }

    /// What the flow says about itself: see [`findings::of`].
    pub fn findings(&self) -> Vec<Finding> {
        findings::of(self)
    }
}

/// Files that are not manifests although they end in `.toml`.
const NOT_MANIFESTS: [&str; 5] = [
    "Cargo.toml",
    "rust-toolchain.toml",
    "rustfmt.toml",
    "pyproject.toml",
    EXTERNAL_FILE,
];

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, GraphError> {
    let read = |source| GraphError::Read {
        dir: dir.to_owned(),
        source,
    };
    let mut paths = std::fs::read_dir(dir)
        .map_err(read)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?;
    paths.sort();
    Ok(paths)
}

fn subfolders(dir: &Path) -> Result<Vec<PathBuf>, GraphError> {
    Ok(read_dir(dir)?
        .into_iter()
        .filter(|path| path.is_dir())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.') && !matches!(name, "target" | "node_modules" | "src")
        })
        .collect())
}

fn manifests_in(dir: &Path) -> Result<Vec<(String, PathBuf)>, GraphError> {
    Ok(read_dir(dir)?
        .into_iter()
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "toml"))
        .filter(|path| {
            !NOT_MANIFESTS
                .iter()
                .any(|name| path.file_name().is_some_and(|n| n == *name))
        })
        .filter_map(|path| {
            let name = path.file_stem()?.to_str()?.to_owned();
            Some((name, path))
        })
        .collect())
}

fn externals(file: &Path) -> Result<Externals, GraphError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Externals::default()),
        Err(error) => {
            return Err(GraphError::External {
                file: file.to_owned(),
                message: error.to_string(),
            });
        }
    };
    let externals: Externals = toml::from_str(&text).map_err(|error| GraphError::External {
        file: file.to_owned(),
        message: error.message().to_owned(),
    })?;
    for subject in externals.inputs.iter().chain(&externals.outputs) {
        sluice_protocol::SubjectPattern::parse(subject).map_err(|message| GraphError::External {
            file: file.to_owned(),
            message,
        })?;
    }
    Ok(externals)
}
