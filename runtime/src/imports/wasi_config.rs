//! `wasi:config/store@0.2.0-rc.1` and the older `wasi:config/runtime@0.2.0-draft`, which
//! wasmCloud components import: the manifest's `[config]` table, read-only, exactly as
//! `sluice:function/config` reads it, and a `[secrets]` entry for a key `[config]` lacks
//! (`get` only: `get-all` lists `[config]` alone, so no secret is read unasked).

use super::State;
use crate::bindings::sluice::function::secret;
use crate::bindings::wasmcloud::wasi::config0_2_0_draft::runtime::{self, ConfigError};
use crate::bindings::wasmcloud::wasi::config0_2_0_rc_1::store::{Error, Host};

impl State {
    /// Every `[config]` entry (secrets are never listed).
    fn config_pairs(&self) -> Vec<(String, String)> {
        let config = &self.call.manifest.config;
        config
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }

    /// `key` from `[config]`, else the secret of that name when `[secrets]` names it (so a
    /// component that reads its credentials through `wasi:config` gets them from a secret
    /// source); `Err` when the secret cannot be read.
    async fn config_or_secret(&mut self, key: String) -> Result<Option<String>, String> {
        if let Some(value) = self.config_value(&key) {
            return Ok(Some(value));
        }
        if !self.call.manifest.secrets.contains_key(&key) {
            return Ok(None);
        }
        secret::Host::get(self, key).await.map(Some)
    }
}

impl Host for State {
    async fn get(&mut self, key: String) -> Result<Option<String>, Error> {
        self.config_or_secret(key).await.map_err(Error::Upstream)
    }

    async fn get_all(&mut self) -> Result<Vec<(String, String)>, Error> {
        Ok(self.config_pairs())
    }
}

impl runtime::Host for State {
    async fn get(&mut self, key: String) -> Result<Option<String>, ConfigError> {
        self.config_or_secret(key).await.map_err(ConfigError::Upstream)
    }

    async fn get_all(&mut self) -> Result<Vec<(String, String)>, ConfigError> {
        Ok(self.config_pairs())
    }
}
