//! `[state]`: the key-value buckets a function may use.

use std::collections::BTreeSet;

/// Validates `state.buckets`: JetStream bucket names (letters, digits, `-` and `_`), each
/// listed once. Returns them in manifest order.
pub(super) fn buckets(names: Vec<String>) -> Result<Vec<String>, String> {
    let mut seen = BTreeSet::new();
    for name in &names {
        if !super::trigger::is_jetstream_name(name) {
            return Err(format!(
                "{name:?} is not a valid bucket name (letters, digits, `-` and `_`, at most 255)"
            ));
        }
        if !seen.insert(name.as_str()) {
            return Err(format!("bucket {name:?} is listed twice"));
        }
    }
    Ok(names)
}
