//! Key-value keys and values: what JetStream accepts, checked the same way by the host (for
//! both of its backends) and by the SDK's `TestHost`.

/// Most keys one `keys` call returns; a prefix matching more is refused as invalid.
pub const MAX_KEYS: usize = 100_000;

/// Largest value `set` and `compare-and-swap` accept, in bytes (NATS's default payload
/// limit).
pub const MAX_VALUE: usize = 1 << 20;

/// Checks a key the way JetStream does: letters, digits and `-_=/.`, not starting or ending
/// with `.`. The error is the message for the handler.
pub fn check_key(key: &str) -> Result<(), String> {
    let valid =
        !key.is_empty() && !key.starts_with('.') && !key.ends_with('.') && key.chars().all(is_key_char);
    match valid {
        true => Ok(()),
        false => Err(format!(
            "invalid key {key:?}: use letters, digits and `-_=/.`, not starting or ending with `.`"
        )),
    }
}

/// Checks a prefix of keys (for `keys`): any of their characters, possibly none.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    match prefix.chars().all(is_key_char) {
        true => Ok(()),
        false => Err(format!(
            "invalid prefix {prefix:?}: keys only have letters, digits and `-_=/.`"
        )),
    }
}

/// Checks that a value is at most [`MAX_VALUE`] bytes.
pub fn check_value(value: &[u8]) -> Result<(), String> {
    match value.len() <= MAX_VALUE {
        true => Ok(()),
        false => Err(format!(
            "value of {} bytes is larger than the limit of {MAX_VALUE} bytes",
            value.len()
        )),
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=' | '/' | '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_jetstream_rules() {
        for key in ["order-42", "a/b=c_d", "orders.eu.42"] {
            assert!(check_key(key).is_ok(), "{key}");
        }
        for key in ["", ".a", "a.", "a b", "a*", "a>", "ü"] {
            assert!(check_key(key).is_err(), "{key:?}");
        }
    }

    #[test]
    fn prefixes_may_be_empty_or_end_in_a_dot() {
        for prefix in ["", "orders.", ".", "a/b"] {
            assert!(check_prefix(prefix).is_ok(), "{prefix:?}");
        }
        for prefix in ["a b", "a*", "ü"] {
            assert!(check_prefix(prefix).is_err(), "{prefix:?}");
        }
    }

    #[test]
    fn values_are_bounded() {
        assert!(check_value(&vec![0; MAX_VALUE]).is_ok());
        assert!(check_value(&vec![0; MAX_VALUE + 1]).is_err());
    }
}
