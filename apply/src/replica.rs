//! The coordinator's memory shared with other coordinators (HA, docs/ha.md).
//!
//! On one machine the coordinator's memory is `.rtt/`: the WAL, the applied
//! pointer with its highest serial, the kept plans and the breakers. With
//! several controllers, a new leader must recover exactly where the old one
//! stopped, so every write to that memory is also made to a [`Replica`]
//! (etcd, in `rtt-ha`) before the step it announces, and a write the
//! replica refuses stops the coordinator there. The local files stay the
//! working copy; [`Memory`] is what a new leader copies back into them
//! ([`restore`]) before it runs anything.
//!
//! The replica also says which fencing epochs this coordinator may use: a
//! range derived from its leadership, above every epoch of an earlier
//! leader, so the drivers refuse a deposed leader's calls.

use std::ops::Range;

use rtt_canonical::Sha256;
use rtt_durable::Layout;
use rtt_trust::state::AppliedState;

use crate::coordinator::breaker::Breakers;
use crate::coordinator::lock::{CoordinatorLock, LockError};
use crate::log::wal::{Anchor, Record, check_chain};

/// Where the coordinator's memory is shared.
pub trait Replica: Send {
    /// The fencing epochs this coordinator may use.
    fn epochs(&self) -> Range<u64>;
    /// A WAL record, appended locally; must be shared before its step.
    fn wal(&mut self, record: &Record) -> Result<(), ReplicaError>;
    /// A plan kept under its hash (before the WAL names it).
    fn plan(&mut self, hash: &Sha256, bytes: &[u8]) -> Result<(), ReplicaError>;
    /// The applied pointer moved.
    fn applied(&mut self, state: &AppliedState) -> Result<(), ReplicaError>;
    /// Breakers changed (after a run; a failure is a note).
    fn breakers(&mut self, breakers: &Breakers) -> Result<(), ReplicaError>;
}

/// A write the replica refused or could not take.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ReplicaError {
    /// Another controller leads now: this one must stop calling drivers.
    #[error("failed to write {what}: this controller no longer leads (leadership revision {revision})")]
    #[diagnostic(
        code(rtt::ha::deposed),
        help("another controller took over and recovers what this one left; nothing more is sent from here")
    )]
    Deposed {
        /// What was being written.
        what: String,
        /// The leadership that was lost.
        revision: i64,
    },
    /// The replica did not answer (the write may or may not have landed).
    #[error("failed to write {what} to the shared store: {reason}")]
    #[diagnostic(
        code(rtt::ha::unreachable),
        help("the controller stops here; it copies the shared memory back before its next step")
    )]
    Unreachable {
        /// What was being written.
        what: String,
        /// Why.
        reason: String,
    },
    /// The leadership's epoch range is used up.
    #[error("failed to pick an epoch: the leadership's range {start}..{end} is used up")]
    #[diagnostic(code(rtt::ha::epochs), help("restart the controller: a new leadership has a new range"))]
    Exhausted {
        /// First epoch of the range.
        start: u64,
        /// One past the last.
        end: u64,
    },
}

/// The coordinator's memory, as a replica holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    /// The WAL, in order.
    pub wal: Vec<Record>,
    /// The applied pointer.
    pub applied: Option<AppliedState>,
    /// Kept plans: hash and file bytes.
    pub plans: Vec<(Sha256, Vec<u8>)>,
    /// Breakers.
    pub breakers: Option<Breakers>,
}

impl Memory {
    /// Nothing was ever shared.
    pub fn is_empty(&self) -> bool {
        self.wal.is_empty() && self.applied.is_none()
    }
}

/// Restoring or reading the local copy failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RestoreError {
    /// A local coordinator runs.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),
    /// The shared WAL does not chain.
    #[error("failed to restore the shared WAL: {0}")]
    #[diagnostic(code(rtt::ha::shared_wal), help("the shared store was edited or damaged; inspect it with etcdctl"))]
    Chain(String),
    /// A local file.
    #[error("failed to {action} {path}: {reason}")]
    #[diagnostic(code(rtt::ha::restore_io))]
    Io {
        /// What was done.
        action: &'static str,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Replaces the local copy of the coordinator's memory with `memory` (the
/// shared truth), under the apply lock. Plans are only added.
pub fn restore(layout: &Layout, memory: &Memory) -> Result<(), RestoreError> {
    let _lock = CoordinatorLock::acquire(&layout.apply_lock())?;
    let io = |action, path: &std::path::Path| {
        let path = path.display().to_string();
        move |e: std::io::Error| RestoreError::Io { action, path, reason: e.to_string() }
    };
    let state = layout.state();
    for (hash, bytes) in &memory.plans {
        let path = state.plan(hash);
        if !path.exists() {
            rtt_durable::write_atomic(&path, bytes, rtt_durable::READ_WRITE).map_err(io("write", &path))?;
        }
    }
    let mut wal = Vec::new();
    for record in &memory.wal {
        wal.extend(serde_json::to_vec(record).map_err(|e| RestoreError::Chain(e.to_string()))?);
        wal.push(b'\n');
    }
    let chain = check_chain(&wal).map_err(|e| RestoreError::Chain(e.to_string()))?;
    if chain.torn.is_some() || chain.records != memory.wal {
        return Err(RestoreError::Chain("the records do not re-read as written".into()));
    }
    let log = layout.wal();
    std::fs::create_dir_all(log.dir()).map_err(io("create", log.dir()))?;
    rtt_durable::write_atomic(&log.log(), &wal, rtt_durable::READ_WRITE).map_err(io("write", &log.log()))?;
    let anchor = memory.wal.last().map(|r| Anchor { seq: r.seq, hash: r.hash });
    write_sealed(&state.anchor(), anchor.as_ref())?;
    match &memory.applied {
        Some(applied) => {
            let bytes = applied.to_bytes().map_err(|e| RestoreError::Chain(e.to_string()))?;
            rtt_durable::write_atomic(&state.applied(), &bytes, rtt_durable::READ_WRITE)
                .map_err(io("write", &state.applied()))?;
        }
        None => remove(&state.applied())?,
    }
    if let Some(breakers) = &memory.breakers {
        write_sealed(&state.breakers(), Some(breakers))?;
    }
    Ok(())
}

/// The local copy, to seed an empty replica from (the first leader of a
/// cluster brings its single-machine history along).
pub fn local(layout: &Layout) -> Result<Memory, RestoreError> {
    let state = layout.state();
    let io = |action, path: &std::path::Path| {
        let path = path.display().to_string();
        move |e: std::io::Error| RestoreError::Io { action, path, reason: e.to_string() }
    };
    let wal = match std::fs::read(layout.wal().log()) {
        Ok(bytes) => check_chain(&bytes).map_err(|e| RestoreError::Chain(e.to_string()))?.records,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io("read", &layout.wal().log())(e)),
    };
    let applied = rtt_trust::state::read_applied(state.dir()).map_err(|e| RestoreError::Io {
        action: "read",
        path: state.applied().display().to_string(),
        reason: e.to_string(),
    })?;
    let mut plans = Vec::new();
    if let Ok(entries) = std::fs::read_dir(state.plans()) {
        for entry in entries.flatten() {
            let path = entry.path();
            let bytes = std::fs::read(&path).map_err(io("read", &path))?;
            if let Ok(parsed) = rtt_trust::parse_plan(&bytes) {
                plans.push((parsed.hash, bytes));
            }
        }
    }
    plans.sort_by_key(|(hash, _)| *hash);
    let breakers = match std::fs::read(state.breakers()) {
        Ok(bytes) => rtt_canonical::sealed::open_migrating(&bytes).ok().map(|(value, _)| value),
        Err(_) => None,
    };
    Ok(Memory { wal, applied, plans, breakers })
}

fn write_sealed<T: serde::Serialize>(path: &std::path::Path, value: Option<&T>) -> Result<(), RestoreError> {
    let Some(value) = value else { return remove(path) };
    let bytes = rtt_canonical::sealed::seal(value).map_err(|e| RestoreError::Chain(e.to_string()))?;
    rtt_durable::write_atomic(path, &bytes, rtt_durable::READ_WRITE).map_err(|e| RestoreError::Io {
        action: "write",
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn remove(path: &std::path::Path) -> Result<(), RestoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RestoreError::Io { action: "remove", path: path.display().to_string(), reason: e.to_string() }),
    }
}
