//! Apply (SPEC §8): carries a verified plan to the hosts through drivers with
//! two-phase commit, a hash-chained write-ahead log, verification through
//! `Rx`, rollback and crash recovery.
//!
//! Pure logic — the wire types ([`protocol`]), the WAL chain check and the
//! recovery decision ([`wal`], [`recovery`]), change sets ([`changes`]),
//! breakers ([`breaker`]) and percentiles ([`telemetry`]) — is separate from
//! IO: driver processes ([`client`]), the built-in `dir` driver
//! ([`dir_driver`]), files ([`workspace`], [`lock`]) and the coordinator
//! ([`coordinator`]) that ties them together. Not here: signature checks
//! (`rtt-trust`) and the planner; this crate only receives plans that were
//! verified before it touches anything.
//!
//! Formats and rules: docs/apply.md. The protocol's formal model:
//! `apply/model/two_phase.pml`.

pub mod applied;
pub mod breaker;
pub mod changes;
pub mod client;
pub mod conformance;
pub mod coordinator;
pub mod dir_driver;
pub mod driver;
pub mod durable;
pub mod fault;
pub mod framing;
pub mod lock;
pub mod protocol;
pub mod recovery;
pub mod serve;
pub mod status;
pub mod telemetry;
pub mod verify;
pub mod wal;
pub mod workspace;
