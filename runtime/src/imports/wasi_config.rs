//! `wasi:config/store@0.2.0-rc.1` and the older `wasi:config/runtime@0.2.0-draft`, which
//! wasmCloud components import: the manifest's `[config]` table, read-only, exactly as
//! `sluice:function/config` reads it.

use super::State;
use crate::bindings::wasmcloud::wasi::config0_2_0_draft::runtime::{self, ConfigError};
use crate::bindings::wasmcloud::wasi::config0_2_0_rc_1::store::{Error, Host};

impl Host for State {
    async fn get(&mut self, key: String) -> Result<Option<String>, Error> {
        Ok(self.call.manifest.config.get(&key).cloned())
    }

    async fn get_all(&mut self) -> Result<Vec<(String, String)>, Error> {
        let config = &self.call.manifest.config;
        Ok(config
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }
}

impl runtime::Host for State {
    async fn get(&mut self, key: String) -> Result<Option<String>, ConfigError> {
        Ok(self.call.manifest.config.get(&key).cloned())
    }

    async fn get_all(&mut self) -> Result<Vec<(String, String)>, ConfigError> {
        let config = &self.call.manifest.config;
        Ok(config
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }
}
