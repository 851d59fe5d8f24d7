//! `sluice:function/config`: the manifest's `[config]` table, read-only.

use super::State;
use crate::bindings::sluice::function::config::Host;
use crate::transcript::HostCall;

impl Host for State {
    fn get(&mut self, key: String) -> Option<String> {
        self.config_value(&key)
    }
}

impl State {
    /// `key` of the manifest's `[config]` (as recorded, in a replay).
    pub(super) fn config_value(&self, key: &str) -> Option<String> {
        self.taped_now(
            || HostCall::new("config.get", key),
            |_| None,
            || self.call.manifest.config.get(key).cloned(),
        )
    }
}
