//! Which sync-service replica should send for a company, when several run.
//!
//! Each company's queue has a single active consumer, and RabbitMQ makes active whichever consumer
//! subscribed first: left alone, the replica that started first sends for every company and the
//! others only stand by. Replicas therefore agree on a preferred replica per company by
//! rendezvous (highest random weight) hashing over the replicas alive: each company goes to the
//! replica with the highest weight for it, so the companies spread evenly, and a replica joining
//! or leaving moves only the companies it takes or gives up. The weight is FNV-1a, stable across
//! builds, so replicas of different versions during a rolling update still agree.

/// The replica among `replicas` that should send for `company_id`; None when there is none.
pub fn preferred_replica(company_id: i64, replicas: &[String]) -> Option<&str> {
    replicas
        .iter()
        .max_by_key(|replica| (weight(company_id, replica), replica.as_str()))
        .map(String::as_str)
}

/// FNV-1a (64 bits) over the company id and the replica's name, with a final mix so that names
/// differing only in their last characters still spread well.
fn weight(company_id: i64, replica: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for byte in company_id
        .to_le_bytes()
        .iter()
        .chain([0xff].iter())
        .chain(replica.as_bytes())
    {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(PRIME);
    }
    // The finaliser of MurmurHash3's 64-bit variant.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn replicas(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn shares(companies: std::ops::Range<i64>, alive: &[String]) -> HashMap<String, usize> {
        let mut shares = HashMap::new();
        for company in companies {
            let replica = preferred_replica(company, alive).expect("a replica");
            *shares.entry(replica.to_owned()).or_insert(0) += 1;
        }
        shares
    }

    #[test]
    fn no_replica_means_no_preference() {
        assert_eq!(preferred_replica(7, &[]), None);
    }

    #[test]
    fn one_replica_sends_for_every_company() {
        let alive = replicas(&["sync-0a1b2c3d"]);
        for company in 1..100 {
            assert_eq!(preferred_replica(company, &alive), Some("sync-0a1b2c3d"));
        }
    }

    #[test]
    fn companies_spread_evenly_over_two_and_four_replicas() {
        for names in [
            &["sync1-9f3a0c11", "sync2-04be7d52"][..],
            &["sync-1", "sync-2", "sync-3", "sync-4"][..],
            &["a", "b", "c", "d"][..],
        ] {
            let alive = replicas(names);
            let shares = shares(1..201, &alive);
            let fair = 200 / names.len();
            for name in names {
                let share = shares.get(*name).copied().unwrap_or(0);
                // Within a third of a fair share: 200 companies are few for a hash.
                assert!(
                    share * 3 >= fair * 2 && share * 3 <= fair * 4,
                    "{name} has {share} of 200 companies among {names:?}"
                );
            }
        }
    }

    #[test]
    fn the_order_replicas_are_listed_in_does_not_matter() {
        let alive = replicas(&["sync-1", "sync-2", "sync-3"]);
        let reversed: Vec<String> = alive.iter().rev().cloned().collect();
        for company in 1..300 {
            assert_eq!(
                preferred_replica(company, &alive),
                preferred_replica(company, &reversed)
            );
        }
    }

    #[test]
    fn a_replica_joining_takes_companies_only_for_itself() {
        let before = replicas(&["sync-1", "sync-2"]);
        let after = replicas(&["sync-1", "sync-2", "sync-3"]);
        let mut moved = 0;
        for company in 1..601 {
            let old = preferred_replica(company, &before).expect("a replica");
            let new = preferred_replica(company, &after).expect("a replica");
            if old != new {
                assert_eq!(
                    new, "sync-3",
                    "company {company} moved between old replicas"
                );
                moved += 1;
            }
        }
        // About a third moves to the new replica.
        assert!((150..=250).contains(&moved), "{moved} of 600 moved");
    }

    #[test]
    fn the_weight_is_the_same_in_every_build() {
        // Replicas built from different versions must agree: the weight is fixed by its
        // definition, not by the standard library's hasher.
        assert_eq!(weight(1, "sync-1"), weight(1, "sync-1"));
        assert_eq!(preferred_replica(42, &replicas(&["x", "y"])), Some("x"));
    }
}
