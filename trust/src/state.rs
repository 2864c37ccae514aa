//! The applied-plan state (`.rtt/state/applied.json`): which plan is in force
//! and the highest serial ever applied, the anchor of rollback protection.
//!
//! Format: a sealed object (`rtt_canonical::sealed`: canonical JSON carrying
//! the sha256 of its own content, then a newline):
//! `{"checksum": "sha256:…", "highest_serial": M, "plan": "sha256:…", "serial": N}`
//! with `N ≤ M`. The checksum catches what parsing cannot: a flipped digit in
//! a serial is still a serial.
//! `plan`/`serial` name the plan in force; `highest_serial` only grows, so
//! that after `rtt rollback` re-applies an older plan the serials above it stay
//! spent. No directory or no file means nothing was applied yet; anything
//! else that does not parse is an error, never "nothing applied" (that would
//! silently switch rollback protection off).
//!
//! This module reads and writes the file; deciding when to advance it is
//! `apply`'s job.

use std::path::{Path, PathBuf};

use rtt_canonical::{CanonicalError, Sha256};
use serde::{Deserialize, Serialize};

use rtt_durable::{READ_WRITE, StateLayout, write_atomic};

/// The contents of `applied.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedState {
    /// Hash of the plan in force.
    pub plan: Sha256,
    /// Serial of the plan in force.
    pub serial: u64,
    /// Highest serial ever applied from this state (≥ `serial`).
    pub highest_serial: u64,
}

impl AppliedState {
    /// State after applying a plan for the first time or moving forward.
    pub fn advanced(previous: Option<&AppliedState>, plan: Sha256, serial: u64) -> Self {
        let highest_serial = previous.map_or(serial, |p| p.highest_serial.max(serial));
        Self { plan, serial, highest_serial }
    }

    /// Parses the file's bytes strictly: sealed, intact, `serial ≤ highest_serial`.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let (state, _): (AppliedState, bool) = rtt_canonical::sealed::open_migrating(bytes)?;
        if state.serial > state.highest_serial {
            return Err(format!(
                "serial {} of the plan in force is above highest_serial {}",
                state.serial, state.highest_serial
            ));
        }
        Ok(state)
    }

    /// The file's bytes: sealed canonical JSON and a newline.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        rtt_canonical::sealed::seal(self)
    }
}

/// Reads `<state_dir>/applied.json`; `Ok(None)` when nothing was applied yet.
pub fn read_applied(state_dir: &Path) -> Result<Option<AppliedState>, StateError> {
    let path = StateLayout::at(state_dir).applied();
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StateError::Io { path, reason: e.to_string() }),
    };
    AppliedState::parse(&bytes).map(Some).map_err(|reason| StateError::Corrupt { path, reason })
}

/// Writes `<state_dir>/applied.json` atomically, creating the directory if needed.
///
/// Refuses to lower `highest_serial` below what is on disk: that would
/// re-open serials that rollback protection has closed.
pub fn write_applied(state_dir: &Path, state: &AppliedState) -> Result<(), StateError> {
    if let Some(current) = read_applied(state_dir)?
        && state.highest_serial < current.highest_serial
    {
        return Err(StateError::SerialWouldDecrease { current: current.highest_serial, new: state.highest_serial });
    }
    std::fs::create_dir_all(state_dir)
        .map_err(|e| StateError::Io { path: state_dir.to_owned(), reason: e.to_string() })?;
    let path = StateLayout::at(state_dir).applied();
    let bytes = state.to_bytes().map_err(|e| StateError::Io { path: path.clone(), reason: e.to_string() })?;
    write_atomic(&path, &bytes, READ_WRITE).map_err(|e| StateError::Io { path, reason: e.to_string() })
}

/// State that cannot be read or written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StateError {
    /// `applied.json` exists but is not valid.
    #[error("failed to read the applied state {}: {reason}", .path.display())]
    #[diagnostic(
        code(rtt::state::corrupt),
        help(
            "the file is written only by rtt; restore it from a backup (deleting it would switch rollback protection off)"
        )
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The OS refused.
    #[error("failed to access the applied state {}: {reason}", .path.display())]
    #[diagnostic(code(rtt::state::io))]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// A write that would lower the highest applied serial.
    #[error("failed to write the applied state: highest_serial would go down from {current} to {new}")]
    #[diagnostic(code(rtt::state::serial_decrease))]
    SerialWouldDecrease {
        /// On disk.
        current: u64,
        /// Attempted.
        new: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rtt-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_missing_state_means_nothing_applied() {
        let dir = tempdir("missing");
        assert_eq!(read_applied(&dir).unwrap(), None);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(read_applied(&dir).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn written_state_reads_back_and_is_canonical() {
        let dir = tempdir("roundtrip");
        let state = AppliedState::advanced(None, Sha256::of(b"plan"), 3);
        write_applied(&dir, &state).unwrap();
        assert_eq!(read_applied(&dir).unwrap(), Some(state));
        let text = std::fs::read_to_string(StateLayout::at(&dir).applied()).unwrap();
        let content = format!("{{\"highest_serial\":3,\"plan\":\"{}\",\"serial\":3}}", Sha256::of(b"plan"));
        let checksum = Sha256::of(content.as_bytes());
        assert_eq!(text, format!("{{\"checksum\":\"{checksum}\",{}\n", &content[1..]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_state_is_an_error_not_an_empty_state() {
        let dir = tempdir("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        for bad in [
            &b""[..],
            b"{}",
            b"[\"sha256:0000000000000000000000000000000000000000000000000000000000000000\",1,1]",
            b"{\"plan\":\"sha256:00\",\"serial\":1,\"highest_serial\":1}",
            b"{\"plan\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\",\"serial\":2,\"highest_serial\":1}",
            b"{\"plan\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\",\"serial\":1,\"highest_serial\":1,\"x\":0}",
        ] {
            std::fs::write(StateLayout::at(&dir).applied(), bad).unwrap();
            assert!(matches!(read_applied(&dir), Err(StateError::Corrupt { .. })), "{:?}", String::from_utf8_lossy(bad));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn highest_serial_never_goes_down() {
        let dir = tempdir("monotonic");
        let first = AppliedState::advanced(None, Sha256::of(b"a"), 5);
        write_applied(&dir, &first).unwrap();
        // Rolling back to an older plan keeps serial 5 spent.
        let rolled_back = AppliedState::advanced(Some(&first), Sha256::of(b"old"), 4);
        assert_eq!(rolled_back.highest_serial, 5);
        write_applied(&dir, &rolled_back).unwrap();
        let lowered = AppliedState { plan: Sha256::of(b"x"), serial: 1, highest_serial: 1 };
        assert!(matches!(write_applied(&dir, &lowered), Err(StateError::SerialWouldDecrease { current: 5, new: 1 })));
        assert_eq!(read_applied(&dir).unwrap(), Some(rolled_back));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
