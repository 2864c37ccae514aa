//! The applied-plan pointer (`.rtt/state/applied.json`): plan in force, its
//! serial and the highest serial ever applied. Format, reader and atomic
//! writer are `rtt-trust`'s (`rtt_trust::state`, docs/trust.md); apply only
//! decides when to advance it (after a commit is verified, or a rollback).

pub use rtt_trust::state::{APPLIED_FILE, AppliedState, StateError, read_applied, write_applied};
