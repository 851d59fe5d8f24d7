//! Whether two NATS subject patterns can match a common subject.

/// Whether some subject matches both `a` and `b` (`*` is one token, `>` one or more).
pub fn overlap(a: &str, b: &str) -> bool {
    let a: Vec<&str> = a.split('.').collect();
    let b: Vec<&str> = b.split('.').collect();
    tokens_overlap(&a, &b)
}

fn tokens_overlap(a: &[&str], b: &[&str]) -> bool {
    match (a.first(), b.first()) {
        (None, None) => true,
        (Some(&">"), _) => !b.is_empty(),
        (_, Some(&">")) => !a.is_empty(),
        (Some(x), Some(y)) => (*x == "*" || *y == "*" || x == y) && tokens_overlap(&a[1..], &b[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::overlap;

    #[test]
    fn wildcards_overlap_where_a_subject_matches_both() {
        assert!(overlap("orders.placed", "orders.placed"));
        assert!(overlap("orders.*", "orders.placed"));
        assert!(overlap("orders.>", "orders.eu.placed"));
        assert!(overlap("*.placed", "orders.*"));
        assert!(overlap(">", "a.b.c"));
        assert!(!overlap("orders.placed", "orders.paid"));
        assert!(!overlap("orders.*", "orders.eu.placed"));
        assert!(!overlap("orders.>", "orders"));
        assert!(!overlap("a.b", "a.b.c"));
    }
}
