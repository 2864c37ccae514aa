//! Apply (SPEC §8): carries a verified plan to the hosts through drivers with
//! two-phase commit, a hash-chained write-ahead log, verification through
//! `Rx`, rollback and crash recovery.
//!
//! - [`admission`]: the door. A plan enters apply only as a
//!   `rtt_trust::VerifiedPlan` (signatures, threshold, serial above the
//!   highest applied one).
//! - [`driver`]: protocol 1 (wire types, framing), driver processes, the
//!   serving loop, the built-in `dir` driver and the conformance harness.
//! - [`log`]: the write-ahead log and the pure recovery decision over it.
//! - [`coordinator`]: two-phase commit, verify, rollback and recovery, with
//!   its lock, change sets and breakers.
//! - [`workspace`], [`status`], [`telemetry`], [`fault`]: the files apply
//!   keeps, read-only views of them, phase timings, the crash-matrix hooks.
//! - [`replica`]: the coordinator's memory shared with other controllers
//!   (HA on etcd lives in `rtt-ha`), and restoring a local copy from it.
//! - [`flight`]: the flight recorder (the last events of a run, flushed on
//!   abort, rollback, a failed gate, crash recovery and on demand).
//!
//! Every durable write goes through `rtt-durable`. Not here: signature
//! checks (`rtt-trust`) and the planner. Formats and rules: docs/apply.md.
//! The protocol's formal model: `apply/model/two_phase.pml`.

pub mod admission;
pub mod coordinator;
pub mod driver;
pub mod fault;
pub mod flight;
pub mod log;
pub mod replica;
pub mod status;
pub mod telemetry;
pub mod workspace;
