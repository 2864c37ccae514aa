//! The write-ahead log ([`wal`]: records, the hash chain, appends that are
//! fsynced before the step they announce) and what it means after a crash
//! ([`recovery`]: records in, a decision out).

pub mod recovery;
pub mod wal;
