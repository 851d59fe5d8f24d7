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

/// Returns the value of secret `name` from the function's `[secrets]`: the host reads it
/// where the manifest says (its environment, a file, or the fleet's sealed secrets) each time,
/// so a rotated value is seen without a redeploy. The error says why there is none (`name` is
/// not in `[secrets]`, its source has no value, the host cannot open it). The host writes the
/// value as `[redacted]` wherever it appears in this attempt's log lines and failure message.
///
/// ```no_run
/// let key = sluice_sdk::secret("stripe_key").map_err(sluice_sdk::Error::retryable)?;
/// # Ok::<(), sluice_sdk::Error>(())
/// ```
pub fn secret(name: &str) -> Result<String, String> {
    crate::host::secret(name)
}
