//! `[schema]`: which JSON Schema files an event's payload must match. Only the keys are
//! validated here; the files are read and compiled when the function loads
//! ([`crate::function::Schemas`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::raw::RawSchema;
use super::{KeyError, SubjectPattern};

/// The header an event names its version in when `schema.version_from` is not set.
pub const DEFAULT_VERSION_HEADER: &str = "Sluice-Schema-Version";

/// The payload field an event names its version in when `schema.version_from` is not set
/// and the header is absent.
pub const DEFAULT_VERSION_POINTER: &str = "/schema_version";

/// Where an event names its schema version (`schema.version_from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSource {
    /// `header:NAME`: the value of a header.
    Header(String),
    /// `json:/pointer`: a string or number at a JSON pointer into the payload.
    Json(String),
    /// The default: header `Sluice-Schema-Version`, else the payload's `schema_version`.
    HeaderOrField,
}

impl VersionSource {
    /// Parses a `schema.version_from` value.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.split_once(':') {
            Some(("header", name)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                Ok(Self::Header(name.to_owned()))
            }
            Some(("json", pointer)) if pointer.starts_with('/') => Ok(Self::Json(pointer.to_owned())),
            Some(("json", pointer)) => Err(format!(
                "{pointer:?} is not a JSON pointer (it starts with `/`, e.g. \"json:/schema_version\")"
            )),
            _ => Err(format!(
                "expected \"header:NAME\" or \"json:/pointer\", found {text:?}"
            )),
        }
    }

    /// Where the version is looked for, as a message says it.
    pub fn describe(&self) -> String {
        match self {
            Self::Header(name) => format!("header {name}"),
            Self::Json(pointer) => format!("field {pointer}"),
            Self::HeaderOrField => {
                format!("header {DEFAULT_VERSION_HEADER} or field {DEFAULT_VERSION_POINTER}")
            }
        }
    }
}

/// `[schema]`: the schema files, paths resolved against the manifest's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaSpec {
    /// `file`: one schema for every event.
    File(PathBuf),
    /// `versions`: one schema per version, picked by what each event names.
    Versions {
        /// Version name to schema file.
        files: BTreeMap<String, PathBuf>,
        /// `version_from`: where an event names its version.
        from: VersionSource,
        /// `default_version`: the version of an event that names none.
        default: Option<String>,
    },
}

/// Validates `[schema]`; relative file names are taken from `folder`, the manifest's. A
/// `[schema]` with only `publishes` declares no input schema.
pub(super) fn schema(raw: Option<&RawSchema>, folder: &Path) -> Result<Option<SchemaSpec>, KeyError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let input = [&raw.version_from, &raw.default_version, &raw.file]
        .iter()
        .any(|key| key.is_some())
        || raw.versions.is_some();
    if !input && raw.publishes.is_some() {
        return Ok(None);
    }
    let raw = RawSchema {
        file: raw.file.clone(),
        versions: raw.versions.clone(),
        version_from: raw.version_from.clone(),
        default_version: raw.default_version.clone(),
        publishes: None,
    };
    match (raw.file, raw.versions) {
        (Some(_), Some(_)) => Err((
            "schema.versions",
            "cannot be combined with schema.file; use one of them".into(),
        )),
        (None, None) => Err((
            "schema.file",
            "[schema] needs `file = \"NAME.schema.json\"` or `versions = { \"1\" = \"NAME.v1.schema.json\" }`"
                .into(),
        )),
        (Some(file), None) => {
            for (key, value) in [
                ("schema.version_from", &raw.version_from),
                ("schema.default_version", &raw.default_version),
            ] {
                if value.is_some() {
                    return Err((key, "only applies to schema.versions".into()));
                }
            }
            let file = path(&file, folder).map_err(|msg| ("schema.file", msg))?;
            Ok(Some(SchemaSpec::File(file)))
        }
        (None, Some(versions)) => {
            let files = versions_of(versions, folder)?;
            let from = match raw.version_from.as_deref() {
                None => VersionSource::HeaderOrField,
                Some(text) => VersionSource::parse(text).map_err(|msg| ("schema.version_from", msg))?,
            };
            let default = default_version(raw.default_version, &files)?;
            Ok(Some(SchemaSpec::Versions { files, from, default }))
        }
    }
}

/// Validates `schema.publishes`: the JSON Schema of what the function publishes to each
/// subject pattern, which `permissions.publish` must allow. Declared for `sluice graph`, which
/// checks them against the consumers' `[schema]`.
pub(super) fn publishes(
    raw: Option<&RawSchema>,
    folder: &Path,
    allowed: &[SubjectPattern],
) -> Result<Vec<(SubjectPattern, PathBuf)>, KeyError> {
    let Some(publishes) = raw.and_then(|raw| raw.publishes.as_ref()) else {
        return Ok(Vec::new());
    };
    publishes
        .iter()
        .map(|(subject, file)| {
            let pattern = SubjectPattern::parse(subject).map_err(|msg| ("schema.publishes", msg))?;
            if !allowed
                .iter()
                .any(|allowed| sluice_protocol::subject::overlap(allowed.as_str(), subject))
            {
                return Err((
                    "schema.publishes",
                    format!("`{subject}` is not a subject permissions.publish allows"),
                ));
            }
            let file =
                path(file, folder).map_err(|msg| ("schema.publishes", format!("`{subject}`: {msg}")))?;
            Ok((pattern, file))
        })
        .collect()
}

fn versions_of(
    versions: BTreeMap<String, String>,
    folder: &Path,
) -> Result<BTreeMap<String, PathBuf>, KeyError> {
    if versions.is_empty() {
        return Err(("schema.versions", "needs at least one version".into()));
    }
    versions
        .into_iter()
        .map(|(version, file)| {
            if version.trim().is_empty() || version.trim() != version {
                return Err((
                    "schema.versions",
                    format!("{version:?} is not a version name (empty, or with spaces around it)"),
                ));
            }
            let file = path(&file, folder)
                .map_err(|msg| ("schema.versions", format!("version {version:?}: {msg}")))?;
            Ok((version, file))
        })
        .collect()
}

fn default_version(
    default: Option<String>,
    files: &BTreeMap<String, PathBuf>,
) -> Result<Option<String>, KeyError> {
    match default {
        Some(version) if !files.contains_key(&version) => {
            let known: Vec<String> = files.keys().map(|v| format!("{v:?}")).collect();
            Err((
                "schema.default_version",
                format!("{version:?} is not one of schema.versions ({})", known.join(", ")),
            ))
        }
        default => Ok(default),
    }
}

/// A schema file name, joined to the manifest's folder.
fn path(text: &str, folder: &Path) -> Result<PathBuf, String> {
    if text.trim().is_empty() {
        return Err("expected a JSON Schema file name, found an empty string".into());
    }
    Ok(folder.join(text))
}
