//! Limits on what one event's handler may do, the same on the host and in the SDK's
//! `TestHost`. The key-value limits live with the key rule, in [`crate::kv`].

/// Most messages one event may publish (its outbox).
pub const MAX_OUTBOX_MESSAGES: usize = 1_000;

/// Most payload bytes one event may publish, all messages together.
pub const MAX_OUTBOX_BYTES: usize = 16 << 20;

/// Checks that an outbox holding `messages` messages of `bytes` payload bytes can take one
/// more message of `payload` bytes. The error is the message for the handler.
pub fn check_outbox(messages: usize, bytes: usize, payload: usize) -> Result<(), String> {
    if messages >= MAX_OUTBOX_MESSAGES || bytes + payload > MAX_OUTBOX_BYTES {
        return Err(format!(
            "cannot publish: one event may publish at most {MAX_OUTBOX_MESSAGES} messages and {} MiB",
            MAX_OUTBOX_BYTES >> 20
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_holds_a_thousand_messages_or_sixteen_mib() {
        assert!(check_outbox(MAX_OUTBOX_MESSAGES - 1, 0, 10).is_ok());
        assert!(check_outbox(MAX_OUTBOX_MESSAGES, 0, 0).is_err());
        assert!(check_outbox(0, MAX_OUTBOX_BYTES - 10, 10).is_ok());
        let error = check_outbox(1, MAX_OUTBOX_BYTES - 10, 11).unwrap_err();
        assert!(error.contains("1000 messages and 16 MiB"), "{error}");
    }
}
