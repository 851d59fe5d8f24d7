//! Payload schemas (`[schema]`): JSON Schema files compiled once when a function loads and
//! checked against every event before its handler runs.
//!
//! A function has one schema (`file`) or one per version (`versions`), the version named by
//! each event through a header or a payload field ([`VersionSource`]). An event that is not
//! JSON, names no version or an unknown one, or does not match its schema is a
//! [`Mismatch`]: dispatch dead-letters it as `schema_mismatch` without running the handler.
//!
//! Schemas are self-contained: `$ref` resolves within the file, never over the network or
//! the disk (jsonschema is built without its HTTP and file resolvers).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::event::Event;
use crate::event::headers::find;
use crate::manifest::{DEFAULT_VERSION_HEADER, DEFAULT_VERSION_POINTER, SchemaSpec, VersionSource};

/// How many validation errors a mismatch message lists.
const MAX_ERRORS: usize = 3;

/// Longest one validation error is written in a mismatch message, in bytes.
const MAX_ERROR_BYTES: usize = 200;

/// The version `headers` and `payload` name, if any, looked for where `source` says.
fn version_of(source: &VersionSource, headers: &[(String, String)], payload: &Value) -> Option<String> {
    match source {
        VersionSource::Header(name) => find(headers, name).map(str::to_owned),
        VersionSource::Json(pointer) => field(payload, pointer),
        VersionSource::HeaderOrField => find(headers, DEFAULT_VERSION_HEADER)
            .map(str::to_owned)
            .or_else(|| field(payload, DEFAULT_VERSION_POINTER)),
    }
}

/// A version written in the payload: a string as is, a number as written (`2` is `"2"`).
fn field(payload: &Value, pointer: &str) -> Option<String> {
    match payload.pointer(pointer)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A schema file that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", file.display())]
pub struct SchemaError {
    /// The schema file.
    pub file: PathBuf,
    /// What is wrong with it.
    pub problem: SchemaProblem,
}

/// What is wrong with a schema file.
#[derive(Debug, thiserror::Error)]
pub enum SchemaProblem {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    /// The file is not JSON.
    #[error("not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The file is JSON but not a JSON Schema the validator accepts.
    #[error("not a valid JSON Schema: {0}")]
    Invalid(String),
}

/// An event that does not fit the function's schema; the message says why, naming the
/// failing JSON paths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// One compiled schema file.
#[derive(Debug)]
struct Schema {
    /// The file name, for messages.
    name: String,
    validator: jsonschema::Validator,
}

/// Which schema an event is checked against.
#[derive(Debug)]
enum Selection {
    /// One schema for every event.
    Single(Schema),
    /// One schema per version, picked per event.
    Versions {
        by_version: BTreeMap<String, Schema>,
        from: VersionSource,
        default: Option<String>,
    },
}

/// A function's compiled schemas, shared by every event it handles.
#[derive(Debug)]
pub struct Schemas {
    selection: Selection,
    /// SHA-256 of the files' texts, in version order: part of the function's version.
    digest: Vec<u8>,
}

impl Schemas {
    /// Reads and compiles the files `spec` names.
    pub fn load(spec: &SchemaSpec) -> Result<Self, SchemaError> {
        Self::load_with(spec, |file| std::fs::read_to_string(file))
    }

    /// Like [`Schemas::load`], with `read` supplying each file's text (tests need no files).
    pub fn load_with(
        spec: &SchemaSpec,
        read: impl Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Self, SchemaError> {
        use sha2::{Digest, Sha256};
        let digest = std::cell::RefCell::new(Sha256::new());
        let compile = |file: &Path| {
            let text = read(file).map_err(|error| SchemaError {
                file: file.to_owned(),
                problem: SchemaProblem::Read(error),
            })?;
            digest.borrow_mut().update(text.as_bytes());
            digest.borrow_mut().update([0]);
            Schema::compile(file, &text).map_err(|problem| SchemaError {
                file: file.to_owned(),
                problem,
            })
        };
        let selection = match spec {
            SchemaSpec::File(file) => Selection::Single(compile(file)?),
            SchemaSpec::Versions { files, from, default } => Selection::Versions {
                by_version: files
                    .iter()
                    .map(|(version, file)| Ok((version.clone(), compile(file)?)))
                    .collect::<Result<_, SchemaError>>()?,
                from: from.clone(),
                default: default.clone(),
            },
        };
        let digest = digest.into_inner().finalize().to_vec();
        Ok(Self { selection, digest })
    }

    /// A hash of the schema files' texts: a function whose schemas changed is a new version.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// Checks `event`'s payload against the schema of the version it names.
    pub fn check(&self, event: &Event) -> Result<(), Mismatch> {
        let payload: Value = serde_json::from_slice(&event.payload)
            .map_err(|error| Mismatch(format!("payload is not JSON: {error}")))?;
        let (schema, label) = self.select(&event.headers, &payload)?;
        schema.check(&payload, &label)
    }

    /// The schema for an event, and how a message names it.
    fn select(&self, headers: &[(String, String)], payload: &Value) -> Result<(&Schema, String), Mismatch> {
        let (by_version, from, default) = match &self.selection {
            Selection::Single(schema) => return Ok((schema, schema.name.clone())),
            Selection::Versions {
                by_version,
                from,
                default,
            } => (by_version, from, default),
        };
        let named = version_of(from, headers, payload);
        let Some(version) = named.as_ref().or(default.as_ref()) else {
            return Err(Mismatch(format!(
                "the event names no schema version ({}) and schema.default_version is not set",
                from.describe()
            )));
        };
        match by_version.get(version) {
            Some(schema) => Ok((schema, format!("{} (version {version:?})", schema.name))),
            None => {
                let known: Vec<String> = by_version.keys().map(|v| format!("{v:?}")).collect();
                Err(Mismatch(format!(
                    "unknown schema version {version:?} (from {}); known versions: {}",
                    from.describe(),
                    known.join(", ")
                )))
            }
        }
    }
}

impl Schema {
    /// Parses and compiles one schema file's text.
    fn compile(file: &Path, text: &str) -> Result<Self, SchemaProblem> {
        let value: Value = serde_json::from_str(text).map_err(SchemaProblem::Json)?;
        let validator =
            jsonschema::validator_for(&value).map_err(|error| SchemaProblem::Invalid(describe(&error)))?;
        let name = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(Self { name, validator })
    }

    /// The first few validation errors of `payload`, each with its JSON path.
    fn check(&self, payload: &Value, label: &str) -> Result<(), Mismatch> {
        let mut errors = self.validator.iter_errors(payload);
        let listed: Vec<String> = errors.by_ref().take(MAX_ERRORS).map(|e| describe(&e)).collect();
        if listed.is_empty() {
            return Ok(());
        }
        let more = errors.count();
        let mut message = format!("payload does not match {label}: {}", listed.join("; "));
        if more > 0 {
            message.push_str(&format!("; and {more} more"));
        }
        Err(Mismatch(message))
    }
}

/// One validation error on one line: where (a JSON pointer, `(root)` for the whole payload)
/// and what.
fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    let path = error.instance_path().to_string();
    let path = if path.is_empty() {
        "(root)".to_owned()
    } else {
        path
    };
    let what = crate::text::single_line(&crate::text::truncate(&error.to_string(), MAX_ERROR_BYTES));
    format!("{path}: {what}")
}

#[cfg(test)]
mod tests;
