//! Which partitions this host pulls. In a fleet, the hosts serving a partitioned function
//! split its partitions evenly: with the serving hosts' ids sorted, host number `i` of `n`
//! pulls partitions `p` with `p mod n = i` (16 partitions on 3 hosts: 6, 5 and 5). The fleet
//! sets each host's share from the hosts' reports ([`Shares::set`]); a host that dies or is
//! drained drops out of the reports and the others take its partitions over. Views may differ
//! for a moment while reports travel: then a partition has two pullers (the server still pins
//! one) or none for a report interval, never two consumers at once.
//!
//! Outside a fleet no share is set, and every host pulls every partition: the server pins
//! whichever asked first.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;

/// This host's place among the hosts serving one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Its position among the serving hosts' sorted ids; `None` when it serves none.
    pub index: Option<usize>,
    /// How many hosts serve the function.
    pub of: usize,
}

impl Share {
    /// Whether this host pulls `partition`.
    pub fn owns(&self, partition: u16) -> bool {
        self.index
            .is_some_and(|index| usize::from(partition) % self.of.max(1) == index)
    }
}

/// Every partitioned function's share on this host, shared with its partition intakes.
#[derive(Clone)]
pub struct Shares(Arc<watch::Sender<HashMap<String, Share>>>);

impl Default for Shares {
    fn default() -> Self {
        Self(Arc::new(watch::channel(HashMap::new()).0))
    }
}

impl Shares {
    /// Replaces the shares, waking intakes whose share changed.
    pub fn set(&self, shares: HashMap<String, Share>) {
        self.0.send_if_modified(|current| {
            let changed = *current != shares;
            *current = shares;
            changed
        });
    }

    /// A receiver that sees every change.
    pub fn watch(&self) -> watch::Receiver<HashMap<String, Share>> {
        self.0.subscribe()
    }
}

/// Whether the host pulls `partition` of `function` by `shares`: yes without a share.
pub fn owns(shares: &HashMap<String, Share>, function: &str, partition: u16) -> bool {
    shares.get(function).is_none_or(|share| share.owns(partition))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_hosts_split_sixteen_partitions_six_five_five() {
        let counts: Vec<usize> = (0..3)
            .map(|index| {
                let share = Share {
                    index: Some(index),
                    of: 3,
                };
                (0..16).filter(|&p| share.owns(p)).count()
            })
            .collect();
        assert_eq!(counts, [6, 5, 5]);
        let outsider = Share { index: None, of: 3 };
        assert!((0..16).all(|p| !outsider.owns(p)));
        assert!(
            owns(&HashMap::new(), "lines", 7),
            "outside a fleet: every partition"
        );
    }
}
