//! The function's configuration.

/// Returns the value of `key` in the `[config]` table of the function's manifest, or `None`
/// when the manifest does not set it.
///
/// ```no_run
/// let threshold: u64 = sluice_sdk::config("large_threshold")
///     .and_then(|v| v.parse().ok())
///     .unwrap_or(10_000);
/// ```
pub fn config(key: &str) -> Option<String> {
    crate::host::config(key)
}
