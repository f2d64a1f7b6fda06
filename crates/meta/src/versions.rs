//! Version ids. Each id carries its version's place in the key's history, so
//! finding a version by id is one point read; clients treat ids as opaque.

/// Where a version sits among its key's versions: newer versions get smaller
/// keys, so a range scan lists a key's history newest first.
pub(crate) fn order_key(clock: u64) -> u64 {
    u64::MAX - clock
}

/// 16 hex digits of the order key, then 16 random ones so that two sites
/// writing at the same instant never mint the same id.
pub(crate) fn new_version_id(order: u64) -> String {
    let mut salt = [0u8; 8];
    // getrandom only fails when the OS has no entropy source at all.
    getrandom::fill(&mut salt).expect("OS random source");
    format!("{order:016x}{:016x}", u64::from_le_bytes(salt))
}

/// The order key an id names, or None when the id is not one Strata minted.
pub fn parse_version_id(id: &str) -> Option<u64> {
    if id.len() != 32
        || !id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(&id[..16], 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sort_newest_first() {
        let older = new_version_id(order_key(1_000));
        let newer = new_version_id(order_key(2_000));
        assert_eq!(parse_version_id(&older), Some(order_key(1_000)));
        assert!(newer < older, "ids of newer versions sort first");
        assert_ne!(new_version_id(5), new_version_id(5));
        for bad in ["null", "", "xyz", &"g".repeat(32), &"A".repeat(32)] {
            assert_eq!(parse_version_id(bad), None, "{bad}");
        }
    }
}
