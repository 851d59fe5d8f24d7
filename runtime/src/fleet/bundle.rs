//! What `sluice deploy` ships for one function: the component's bytes, the manifest's text
//! and the schema files it names, validated locally exactly as `sluice check` validates them.
//! A host writes the same files into a private folder and loads them from there, so a
//! function behaves the same deployed from a folder or through the fleet.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::engine::SluiceEngine;
use crate::function::{Function, LoadError};
use crate::manifest::SchemaSpec;

/// Why a function cannot be shipped to the fleet.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// It does not load (the same error `sluice check` prints).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A file could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A schema file lies outside the manifest's folder, so its path cannot be shipped.
    #[error(
        "{}: schema file {} is outside the manifest's folder; for `sluice deploy`, keep schema files beside the manifest or below it",
        manifest.display(),
        schema.display()
    )]
    SchemaOutsideFolder {
        /// The manifest naming it.
        manifest: PathBuf,
        /// The schema file.
        schema: PathBuf,
    },
}

/// A validated function, ready to upload.
pub struct Bundle {
    /// The function's name.
    pub name: String,
    /// Its version hash (component, manifest, schemas), as a host loading it will report.
    pub version: String,
    /// The component's bytes.
    pub component: Vec<u8>,
    /// The manifest's text (empty when the function has none).
    pub manifest: String,
    /// Schema files by the path the manifest names them with.
    pub schemas: BTreeMap<String, String>,
}

impl Bundle {
    /// Loads and validates `wasm` (with the `NAME.toml` beside it) and reads what it ships.
    /// Compiles the component: call from a blocking context.
    pub fn load(engine: &SluiceEngine, wasm: &Path) -> Result<Self, BundleError> {
        let function = Function::load(engine, wasm)?;
        let read = |file: &Path| {
            std::fs::read(file).map_err(|source| BundleError::Read {
                file: file.to_owned(),
                source,
            })
        };
        let manifest_file = wasm.with_extension("toml");
        let manifest = match manifest_file.exists() {
            true => String::from_utf8_lossy(&read(&manifest_file)?).into_owned(),
            false => String::new(),
        };
        let folder = manifest_file.parent().unwrap_or(Path::new(""));
        let mut schemas = BTreeMap::new();
        for schema in schema_files(function.manifest().schema.as_ref()) {
            let relative =
                relative_inside(folder, schema).ok_or_else(|| BundleError::SchemaOutsideFolder {
                    manifest: manifest_file.clone(),
                    schema: schema.to_owned(),
                })?;
            let text = String::from_utf8_lossy(&read(schema)?).into_owned();
            schemas.insert(relative, text);
        }
        Ok(Self {
            name: function.name().to_string(),
            version: function.version().to_owned(),
            component: read(wasm)?,
            manifest,
            schemas,
        })
    }
}

/// The components named by `paths`: each `NAME.wasm` as given, and every `*.wasm` in a
/// folder, in name order.
pub fn component_paths(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(crate::function::component_files(path)?);
        } else if path.extension().is_some_and(|e| e == "wasm") {
            files.push(path.clone());
        } else {
            anyhow::bail!(
                "{}: not a NAME.wasm component or a folder of them",
                path.display()
            );
        }
    }
    Ok(files)
}

/// Writes a function's files into `dir` (emptied first) and returns the component's path, for
/// [`Function::load`]. Schema paths must stay inside `dir`.
pub fn write_files(
    dir: &Path,
    name: &str,
    component: &[u8],
    manifest: &str,
    schemas: &BTreeMap<String, String>,
) -> std::io::Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for (path, text) in schemas {
        if !is_plain_relative(Path::new(path)) {
            return Err(std::io::Error::other(format!(
                "schema path {path:?} leaves the function's folder"
            )));
        }
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(file, text)?;
    }
    if !manifest.is_empty() {
        std::fs::write(dir.join(format!("{name}.toml")), manifest)?;
    }
    let wasm = dir.join(format!("{name}.wasm"));
    std::fs::write(&wasm, component)?;
    Ok(wasm)
}

/// The files `[schema]` names.
fn schema_files(spec: Option<&SchemaSpec>) -> Vec<&Path> {
    match spec {
        None => Vec::new(),
        Some(SchemaSpec::File(file)) => vec![file.as_path()],
        Some(SchemaSpec::Versions { files, .. }) => files.values().map(PathBuf::as_path).collect(),
    }
}

/// `file` relative to `folder`, when it lies inside it, with `/` separators.
fn relative_inside(folder: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(folder).ok()?;
    is_plain_relative(relative).then(|| {
        relative
            .components()
            .map(|part| part.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    })
}

/// Whether `path` is relative and never steps up (`..`) or sideways (a root, a prefix).
fn is_plain_relative(path: &Path) -> bool {
    path.components().next().is_some()
        && path
            .components()
            .all(|part| matches!(part, Component::Normal(_) | Component::CurDir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_paths_stay_inside_the_folder() {
        let folder = Path::new("fns");
        assert_eq!(
            relative_inside(folder, Path::new("fns/schemas/a.json")).as_deref(),
            Some("schemas/a.json")
        );
        assert_eq!(relative_inside(folder, Path::new("other/a.json")), None);
        assert_eq!(relative_inside(folder, Path::new("fns/../a.json")), None);
        assert!(!is_plain_relative(Path::new("/etc/passwd")));
        assert!(!is_plain_relative(Path::new("")));
    }

    #[test]
    fn written_files_never_leave_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        let evil = BTreeMap::from([("../escape.json".to_owned(), "{}".to_owned())]);
        assert!(write_files(&target, "f", b"wasm", "", &evil).is_err());
        assert!(!dir.path().join("escape.json").exists());
        let good = BTreeMap::from([("s/a.json".to_owned(), "{}".to_owned())]);
        let wasm = write_files(&target, "f", b"wasm", "[limits]\n", &good).unwrap();
        assert_eq!(std::fs::read(wasm).unwrap(), b"wasm");
        assert!(target.join("s/a.json").is_file());
        assert!(target.join("f.toml").is_file());
    }
}
