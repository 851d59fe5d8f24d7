//! A function's desired state: the value `sluice deploy` writes under the function's name in
//! the functions bucket, and every fleet host reconciles towards.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the fleet should run for one function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredState {
    /// The function's name (also the key it is stored under).
    pub name: String,
    /// The version hash of component, manifest and schemas: what hosts report serving.
    pub version: String,
    /// SHA-256 of the component's bytes, in hex: the name of its object in the component
    /// store, checked by every host against the bytes it downloads.
    pub component: String,
    /// The component's size in bytes.
    pub size: u64,
    /// The manifest's text as written (empty for a function without one).
    pub manifest: String,
    /// The schema files the manifest names, by the path it names them with.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub schemas: BTreeMap<String, String>,
    /// Who deployed it (`user@machine`, or `--by`).
    pub deployed_by: String,
    /// When, in RFC 3339.
    pub deployed_at: String,
    /// The version this one rolled back from, for a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_from: Option<String>,
}

impl DesiredState {
    /// The desired state that makes `bundle` its function's version, deployed now by `by`
    /// (default: `user@machine`).
    pub fn of(bundle: &super::bundle::Bundle, by: Option<&str>) -> Self {
        Self {
            name: bundle.name.clone(),
            version: bundle.version.clone(),
            component: sha256_hex(&bundle.component),
            size: bundle.component.len() as u64,
            manifest: bundle.manifest.clone(),
            schemas: bundle.schemas.clone(),
            deployed_by: by.map_or_else(current_user, str::to_owned),
            deployed_at: now_rfc3339(),
            rolled_back_from: None,
        }
    }

    /// Parses a value read from the functions bucket.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The value written to the functions bucket.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a desired state serializes")
    }

    /// The first 12 hex digits of the component hash, for people.
    pub fn short_component(&self) -> &str {
        self.component.get(..12).unwrap_or(&self.component)
    }
}

/// `user@machine` of whoever runs this process, for `deployed_by`.
pub fn current_user() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("{user}@{}", machine_name())
}

/// This machine's host name (`HOSTNAME`, else `/etc/hostname`, else `localhost`).
pub fn machine_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Now, in RFC 3339 (UTC, whole seconds).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("the current time formats as RFC 3339")
}

/// SHA-256 of `bytes` in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_desired_state_survives_the_bucket() {
        let state = DesiredState {
            name: "order-total".into(),
            version: "a1b2c3d4e5f6".into(),
            component: sha256_hex(b"component"),
            size: 9,
            manifest: "[trigger]\nsubjects = [\"orders.created\"]\n".into(),
            schemas: BTreeMap::from([("order.schema.json".into(), "{}".into())]),
            deployed_by: "ana@laptop".into(),
            deployed_at: now_rfc3339(),
            rolled_back_from: None,
        };
        assert_eq!(DesiredState::from_json(&state.to_json()).unwrap(), state);
        assert_eq!(state.short_component().len(), 12);
        assert_eq!(sha256_hex(b"").len(), 64);
    }
}
