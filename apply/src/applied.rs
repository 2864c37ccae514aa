//! SEAM — the applied-plan pointer (`.rtt/state/applied.json`). The format
//! and its reader/writer belong to `rtt-trust` (`rtt_trust::state`); until
//! that crate is on main this module reads and writes the same format
//! (`{"highest_serial": M, "plan": "sha256:…", "serial": N}`) so the
//! coordinator can be built against it. Replace its body with calls into
//! `rtt_trust::state` when merging.

use std::path::Path;

use rtt_schema::canonical::Sha256;
use serde::{Deserialize, Serialize};

use crate::durable;
use crate::workspace::WorkspaceError;

/// File name inside the state directory.
pub const APPLIED_FILE: &str = "applied.json";

/// The plan in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedState {
    /// Hash of the plan in force.
    pub plan: Sha256,
    /// Its serial.
    pub serial: u64,
    /// Highest serial ever applied (rollback protection; never decreases).
    pub highest_serial: u64,
}

impl AppliedState {
    /// The state after `plan` with `serial` is in force.
    pub fn advanced(previous: Option<&AppliedState>, plan: Sha256, serial: u64) -> Self {
        let highest_serial = previous.map_or(serial, |p| p.highest_serial.max(serial));
        AppliedState { plan, serial, highest_serial }
    }
}

/// Reads the pointer; `None` when nothing was applied yet.
pub fn read_applied(state_dir: &Path) -> Result<Option<AppliedState>, WorkspaceError> {
    let path = state_dir.join(APPLIED_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| WorkspaceError::Corrupt { path, reason: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(WorkspaceError::Io { action: "read", path, reason: e.to_string() }),
    }
}

/// Writes the pointer atomically.
pub fn write_applied(state_dir: &Path, state: &AppliedState) -> Result<(), WorkspaceError> {
    let path = state_dir.join(APPLIED_FILE);
    let mut bytes = rtt_schema::canonical::to_canonical_vec(state).map_err(|e| WorkspaceError::Io {
        action: "encode",
        path: path.clone(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    durable::write_atomic(&path, &bytes).map_err(|e| WorkspaceError::Io {
        action: "write",
        path,
        reason: e.to_string(),
    })
}
