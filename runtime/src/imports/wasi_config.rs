//! `wasi:config/store@0.2.0-rc.1`, which wasmCloud components import: the manifest's
//! `[config]` table, read-only, exactly as `sluice:function/config` reads it.

use super::State;
use crate::bindings::wasmcloud::wasi::config::store::{Error, Host};

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
