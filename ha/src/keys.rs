//! Where the shared memory lives in etcd, and the epochs a leadership may
//! use. Pure.
//!
//! Everything of one cluster is under `/rtt/<cluster>/`:
//!
//! | key | value |
//! | --- | --- |
//! | `leader` | the leader's id, attached to its lease |
//! | `wal/<seq:020>` | one WAL record, as the local WAL holds it |
//! | `state/applied` | the applied pointer (sealed, as `applied.json`) |
//! | `state/plans/<hex>` | a kept plan's file bytes |
//! | `state/breakers` | the breakers (JSON) |

use std::ops::Range;

use rtt_canonical::Sha256;

/// Bits of an epoch below the leadership's revision: each leadership may
/// run 65,536 transactions (and recoveries) before it must campaign again.
pub const EPOCH_SHIFT: u32 = 16;

/// The epochs of the leadership that won at `revision`: `[R·2¹⁶, (R+1)·2¹⁶)`.
/// etcd revisions only grow, so every later leadership's range lies above
/// this one, and drivers refuse a deposed leader's calls once they saw its
/// successor's epoch.
pub fn epochs(revision: i64) -> Range<u64> {
    let r = u64::try_from(revision.max(0)).unwrap_or(0);
    (r << EPOCH_SHIFT)..((r + 1) << EPOCH_SHIFT)
}

/// The keys of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    cluster: String,
    prefix: String,
}

impl Keys {
    /// The keys of cluster `name` (letters, digits, `-`, `_`, `.`).
    pub fn new(name: &str) -> Result<Keys, String> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !name.starts_with('.');
        if !ok {
            return Err(format!(
                "cluster name `{name}` is not valid: use 1–64 letters, digits, `-`, `_` or `.`, not starting with `.`"
            ));
        }
        Ok(Keys { cluster: name.to_owned(), prefix: format!("/rtt/{name}/") })
    }

    /// The cluster's name.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The prefix of everything.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The leader key.
    pub fn leader(&self) -> String {
        format!("{}leader", self.prefix)
    }

    /// A WAL record's key (zero-padded, so key order is seq order).
    pub fn wal(&self, seq: u64) -> String {
        format!("{}wal/{seq:020}", self.prefix)
    }

    /// The prefix of the WAL.
    pub fn wal_prefix(&self) -> String {
        format!("{}wal/", self.prefix)
    }

    /// The applied pointer.
    pub fn applied(&self) -> String {
        format!("{}state/applied", self.prefix)
    }

    /// A kept plan.
    pub fn plan(&self, hash: &Sha256) -> String {
        format!("{}state/plans/{}", self.prefix, hash.hex())
    }

    /// The prefix of the kept plans.
    pub fn plans_prefix(&self) -> String {
        format!("{}state/plans/", self.prefix)
    }

    /// The breakers.
    pub fn breakers(&self) -> String {
        format!("{}state/breakers", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_leaderships_have_higher_epochs_and_ranges_do_not_overlap() {
        for r in [1_i64, 2, 7, 1000, 1 << 30] {
            let (a, b) = (epochs(r), epochs(r + 1));
            assert_eq!(a.end, b.start);
            assert!(a.start < a.end && a.end - a.start == 1 << EPOCH_SHIFT);
        }
        assert!(epochs(3).start > epochs(2).end - 1);
    }

    #[test]
    fn wal_keys_sort_in_seq_order_and_names_are_checked() {
        let keys = Keys::new("prod-eu.1").expect("valid");
        assert!(keys.wal(9) < keys.wal(10) && keys.wal(99) < keys.wal(100));
        assert!(keys.wal(3).starts_with(&keys.wal_prefix()));
        assert_eq!(keys.leader(), "/rtt/prod-eu.1/leader");
        for bad in ["", "a/b", ".hidden", "x y"] {
            assert!(Keys::new(bad).is_err(), "{bad}");
        }
    }
}
