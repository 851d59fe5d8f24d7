//! A stored value, as [`get`](super::get) returns it.

use serde::de::DeserializeOwned;

use crate::Error;

/// A stored value and the revision it was written at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The value, byte for byte.
    pub value: Vec<u8>,
    /// The key's revision: it changes on every write;
    /// [`compare_and_swap`](super::compare_and_swap) checks it.
    pub revision: u64,
}

impl Entry {
    /// The value as UTF-8 text; a value that is not gives a permanent error.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.value)
            .map_err(|e| Error::permanent(format!("stored value is not UTF-8 text: {e}")))
    }

    /// The value parsed as JSON; a value that does not parse as `T` gives a permanent error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.value).map_err(|e| {
            Error::permanent(format!(
                "stored value is not valid JSON for {}: {e}",
                std::any::type_name::<T>()
            ))
        })
    }
}
