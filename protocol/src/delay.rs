//! Delayed events (`publish-after`, `publish-at`, `cancel-scheduled`): how far ahead an event
//! may be scheduled, the id a delayed publish gets, and where the host keeps it.
//!
//! A delayed event is held in the host's delay stream as a NATS message schedule on
//! `sluice.delay.hold.FUNCTION.ID`; when it fires, the server writes it to
//! `sluice.delay.fired.FUNCTION.ID` and a host forwards it to the subject the handler named
//! (kept in the `Sluice-Delay-Subject` header).

use std::time::Duration;

/// The shortest delay: one second (the server's schedules fire with second precision).
pub const MIN_DELAY: Duration = Duration::from_secs(1);

/// The longest delay: 30 days.
pub const MAX_DELAY: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The stream holding delayed events until they fire.
pub const STREAM: &str = "SLUICE_DELAYED";

/// Every subject of the delay stream.
pub const SUBJECTS: &str = "sluice.delay.>";

/// What the subject holding a pending delayed event starts with; `FUNCTION.ID` follows.
pub const HOLDER_PREFIX: &str = "sluice.delay.hold.";

/// What the subject a delayed event lands on when it fires starts with; `FUNCTION.ID` follows.
pub const FIRED_PREFIX: &str = "sluice.delay.fired.";

/// Checks that an event may be scheduled `delay` from now. The error is the message for the
/// handler.
pub fn check_delay(delay: Duration) -> Result<(), String> {
    if delay < MIN_DELAY || delay > MAX_DELAY {
        return Err(format!(
            "cannot schedule an event {} ms ahead: delayed events fire between 1 second and 30 days from now",
            delay.as_millis()
        ));
    }
    Ok(())
}

/// The id of the delayed event that message number `sequence` of `function`'s handling of
/// `event_id` schedules: 16 hexadecimal digits, the same on every retry of the event, so a
/// retried attempt schedules the same event again rather than a second one.
pub fn id(function: &str, event_id: &str, sequence: usize) -> String {
    // FNV-1a, 64 bits: stable across builds and platforms (unlike std's hasher), no dependency.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let sequence = sequence.to_le_bytes();
    for part in [function.as_bytes(), &[0], event_id.as_bytes(), &[0], &sequence] {
        for &byte in part {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Checks that `id` is one [`id`] could have made. The error is the message for the handler.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.len() == 16 && id.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(format!(
            "cannot cancel `{id}`: not a delayed event's id (16 hexadecimal digits, as publish-after returned it)"
        ))
    }
}

/// The subject holding `function`'s delayed event `id` until it fires.
pub fn holder_subject(function: &str, id: &str) -> String {
    format!("{HOLDER_PREFIX}{function}.{id}")
}

/// The subject `function`'s delayed event `id` lands on when it fires.
pub fn fired_subject(function: &str, id: &str) -> String {
    format!("{FIRED_PREFIX}{function}.{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_run_from_one_second_to_thirty_days() {
        assert!(check_delay(MIN_DELAY).is_ok());
        assert!(check_delay(MAX_DELAY).is_ok());
        let error = check_delay(Duration::from_millis(999)).unwrap_err();
        assert!(
            error.contains("999 ms ahead") && error.contains("between 1 second and 30 days"),
            "{error}"
        );
        assert!(check_delay(MAX_DELAY + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn ids_are_stable_and_tell_apart_function_event_and_sequence() {
        let one = id("saga", "order-1", 1);
        assert_eq!(one, id("saga", "order-1", 1));
        assert_eq!(one.len(), 16);
        assert!(check_id(&one).is_ok());
        assert_ne!(one, id("saga", "order-1", 2));
        assert_ne!(one, id("saga", "order-2", 1));
        assert_ne!(one, id("other", "order-1", 1));
        // The separator keeps `ab`+`c` apart from `a`+`bc`.
        assert_ne!(id("ab", "c", 1), id("a", "bc", 1));
    }

    #[test]
    fn only_ids_of_sixteen_hex_digits_can_be_cancelled() {
        assert!(check_id("0123456789abcdef").is_ok());
        for bad in [
            "",
            "0123456789ABCDEF",
            "0123456789abcde",
            "orders.>",
            "0123456789abcdeg",
        ] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}
