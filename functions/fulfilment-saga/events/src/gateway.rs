//! The card gateway the payment step calls, simulated.
//!
//! It declines charges above a limit and is **transiently unavailable** for a configurable
//! share of calls. Which calls fail is not random: it is a hash of the order id, the
//! delivery attempt and how often the event was replayed from the dead-letter stream. So a
//! run is reproducible, the integration test can predict every retry and dead letter, and a
//! replayed event meets a gateway that has (most likely) recovered.

/// What the gateway answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    /// Charged; the gateway's reference.
    Approved {
        /// The charge's id.
        charge_id: String,
    },
    /// Refused for good.
    Declined {
        /// Why.
        reason: String,
    },
    /// The gateway did not answer; trying again later may work.
    Unavailable,
}

/// One call to the gateway: which order, for how much, on which delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call<'a> {
    /// The order's id.
    pub order_id: &'a str,
    /// The amount, in cents.
    pub amount: u64,
    /// The event's delivery attempt (1 for the first).
    pub attempt: u32,
    /// How many times the event was replayed from the dead-letter stream (`Sluice-Replays`).
    pub replays: u32,
}

/// The simulated gateway's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gateway {
    /// Charges above this many cents are declined.
    pub decline_above: u64,
    /// Percentage (0 to 100) of calls that fail transiently.
    pub unavailable_percent: u32,
}

impl Gateway {
    /// Charges `call.amount` for `call.order_id`.
    pub fn charge(&self, call: Call<'_>) -> Charge {
        if is_unavailable(call, self.unavailable_percent) {
            return Charge::Unavailable;
        }
        if call.amount > self.decline_above {
            return Charge::Declined {
                reason: format!(
                    "declined: {} is above the {} limit",
                    cents(call.amount),
                    cents(self.decline_above)
                ),
            };
        }
        Charge::Approved {
            charge_id: format!("ch-{:016x}", fnv1a(call.order_id.as_bytes())),
        }
    }
}

/// Whether the gateway is unavailable for `call`, given `percent` of calls fail.
pub fn is_unavailable(call: Call<'_>, percent: u32) -> bool {
    let key = format!("{}/{}/{}", call.order_id, call.replays, call.attempt);
    mix(fnv1a(key.as_bytes())) % 100 < u64::from(percent)
}

/// `4498` cents as `"44.98"`.
pub fn cents(amount: u64) -> String {
    format!("{}.{:02}", amount / 100, amount % 100)
}

/// MurmurHash3's finalizer: spreads FNV's output, whose low digits barely change between
/// keys that differ in their last byte (attempt 1, 2, 3).
fn mix(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// 64-bit FNV-1a: small, stable across platforms and builds.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(order_id: &str, amount: u64, attempt: u32) -> Call<'_> {
        Call {
            order_id,
            amount,
            attempt,
            replays: 0,
        }
    }

    #[test]
    fn declines_above_the_limit_and_approves_up_to_it() {
        let gateway = Gateway {
            decline_above: 30_000,
            unavailable_percent: 0,
        };
        assert!(matches!(
            gateway.charge(call("o-1", 30_000, 1)),
            Charge::Approved { .. }
        ));
        let Charge::Declined { reason } = gateway.charge(call("o-1", 30_001, 1)) else {
            panic!("declined");
        };
        assert!(reason.contains("300.01") && reason.contains("300.00"), "{reason}");
    }

    #[test]
    fn unavailability_follows_the_rate_and_depends_on_the_attempt() {
        let ids: Vec<String> = (0..10_000).map(|n| format!("o-{n}")).collect();
        let failing = ids.iter().filter(|id| is_unavailable(call(id, 0, 1), 20)).count();
        assert!((1_700..2_300).contains(&failing), "{failing} of 10000 at 20%");
        let again = ids
            .iter()
            .filter(|id| is_unavailable(call(id, 0, 1), 20) && is_unavailable(call(id, 0, 2), 20))
            .count();
        // Attempts fail independently: about 20% of 20% fail twice.
        assert!((250..550).contains(&again), "{again} of 10000 failed twice");
        assert!(ids.iter().all(|id| !is_unavailable(call(id, 0, 1), 0)));
        assert!(ids.iter().all(|id| is_unavailable(call(id, 0, 1), 100)));
    }

    #[test]
    fn the_charge_id_is_stable_per_order() {
        let gateway = Gateway {
            decline_above: 100,
            unavailable_percent: 0,
        };
        assert_eq!(
            gateway.charge(call("o-9", 1, 1)),
            gateway.charge(call("o-9", 1, 3))
        );
    }
}
