//! [`EtcdReplica`]: the coordinator's memory written to etcd under the
//! leadership that won at a revision. Every write compares the leader key's
//! create revision with that revision in the same etcd transaction, so a
//! deposed leader's writes fail atomically and the shared WAL cannot fork;
//! a WAL record is also put only where no record is (`seq`) and right
//! after one that is (`seq − 1`).

use std::ops::Range;

use etcd_client::{Compare, CompareOp, TxnOp};
use rtt_apply::coordinator::breaker::Breakers;
use rtt_apply::log::wal::Record;
use rtt_apply::replica::{Replica, ReplicaError};
use rtt_canonical::Sha256;
use rtt_trust::state::AppliedState;

use crate::etcd::{Etcd, EtcdError};
use crate::keys::epochs;

/// The shared memory of the leadership that won at `revision`.
pub struct EtcdReplica {
    etcd: Etcd,
    revision: i64,
}

impl EtcdReplica {
    /// Writes under the leadership created at `revision`.
    pub fn new(etcd: Etcd, revision: i64) -> EtcdReplica {
        EtcdReplica { etcd, revision }
    }

    /// A refused write: deposed, or (still leading) a conflict, told apart
    /// by reading the leader key.
    fn refused(&self, what: &str, conflict: String) -> ReplicaError {
        match self.etcd.leader() {
            Ok(Some(leader)) if leader.revision == self.revision => {
                ReplicaError::Unreachable { what: what.to_owned(), reason: conflict }
            }
            Ok(_) => ReplicaError::Deposed { what: what.to_owned(), revision: self.revision },
            Err(e) => unreachable(what, &e),
        }
    }

    fn put(&self, what: &str, key: String, value: Vec<u8>) -> Result<(), ReplicaError> {
        match self.etcd.guarded(self.revision, Vec::new(), vec![TxnOp::put(key, value, None)]) {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.refused(what, "the write was refused".into())),
            Err(e) => Err(unreachable(what, &e)),
        }
    }
}

fn unreachable(what: &str, error: &EtcdError) -> ReplicaError {
    ReplicaError::Unreachable { what: what.to_owned(), reason: error.to_string() }
}

impl Replica for EtcdReplica {
    fn epochs(&self) -> Range<u64> {
        epochs(self.revision)
    }

    fn wal(&mut self, record: &Record) -> Result<(), ReplicaError> {
        let what = format!("WAL record {} ({})", record.seq, record.entry.kind());
        let keys = self.etcd.keys();
        let key = keys.wal(record.seq);
        let value = serde_json::to_vec(record)
            .map_err(|e| ReplicaError::Unreachable { what: what.clone(), reason: e.to_string() })?;
        let mut compares = vec![Compare::create_revision(key.clone(), CompareOp::Equal, 0)];
        if record.seq > 1 {
            compares.push(Compare::create_revision(keys.wal(record.seq - 1), CompareOp::Greater, 0));
        }
        match self.etcd.guarded(self.revision, compares, vec![TxnOp::put(key.clone(), value.clone(), None)]) {
            Ok(true) => Ok(()),
            Ok(false) => {
                // A retried put that had landed finds its own record there.
                if self.etcd.get(&key).ok().flatten().as_deref() == Some(value.as_slice())
                    && self.etcd.leader().ok().flatten().is_some_and(|l| l.revision == self.revision)
                {
                    return Ok(());
                }
                Err(self.refused(&what, format!("the shared WAL does not continue at seq {}", record.seq)))
            }
            Err(e) => Err(unreachable(&what, &e)),
        }
    }

    fn plan(&mut self, hash: &Sha256, bytes: &[u8]) -> Result<(), ReplicaError> {
        self.put(&format!("plan {hash}"), self.etcd.keys().plan(hash), bytes.to_vec())
    }

    fn applied(&mut self, state: &AppliedState) -> Result<(), ReplicaError> {
        let bytes = state
            .to_bytes()
            .map_err(|e| ReplicaError::Unreachable { what: "the applied pointer".into(), reason: e.to_string() })?;
        self.put("the applied pointer", self.etcd.keys().applied(), bytes)
    }

    fn breakers(&mut self, breakers: &Breakers) -> Result<(), ReplicaError> {
        let bytes = serde_json::to_vec(breakers)
            .map_err(|e| ReplicaError::Unreachable { what: "breakers".into(), reason: e.to_string() })?;
        self.put("breakers", self.etcd.keys().breakers(), bytes)
    }
}
