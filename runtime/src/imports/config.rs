//! `sluice:function/config`: the manifest's `[config]` table, read-only.

use super::State;
use crate::bindings::sluice::function::config::Host;

impl Host for State {
    fn get(&mut self, key: String) -> Option<String> {
        self.call.manifest.config.get(&key).cloned()
    }
}
