//! What a running mount publishes about itself, so that `rtt mount status`
//! can list mounts without talking to their processes.
//!
//! A foreground mount writes its record to `RTT/mounts/<id>.json` once it is
//! up, rewrites it when it switches plans and removes it when it unmounts. A
//! record outlives a killed process; its state then says so, from the process
//! table and `/proc/self/mountinfo`, not from the record.

use std::path::{Path, PathBuf};

use rtt_canonical::Sha256;
use rtt_durable::{Layout, READ_WRITE, write_atomic};
use serde::{Deserialize, Serialize};

use crate::{VfsError, is_mounted};

/// One mount, as its process last described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRecord {
    /// Where the views are mounted (absolute).
    pub mountpoint: PathBuf,
    /// The process serving them.
    pub pid: u32,
    /// The plan being served.
    pub plan: Sha256,
    /// The file it was read from.
    pub plan_path: PathBuf,
    /// Whether the mount follows the applied plan (no `--plan`).
    pub follows_applied: bool,
    /// When the mount came up, in seconds since the Unix epoch.
    pub started_unix: u64,
    /// How many times it switched to a newly applied plan.
    pub switches: u64,
}

/// What a record's mount is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MountState {
    /// The process runs and the mount point is mounted.
    Serving,
    /// The process runs but nothing is mounted there (unmounted from outside).
    NotMounted,
    /// The process is gone and the mount is left behind: `rtt mount --cleanup`.
    Stale,
    /// The process is gone and nothing is mounted: only the record is left.
    Exited,
}

impl MountState {
    /// The word `rtt mount status` prints.
    pub fn name(self) -> &'static str {
        match self {
            MountState::Serving => "serving",
            MountState::NotMounted => "not mounted",
            MountState::Stale => "stale",
            MountState::Exited => "exited",
        }
    }

    fn of(process_alive: bool, mounted: bool) -> MountState {
        match (process_alive, mounted) {
            (true, true) => MountState::Serving,
            (true, false) => MountState::NotMounted,
            (false, true) => MountState::Stale,
            (false, false) => MountState::Exited,
        }
    }
}

/// A record with the state of its mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountStatus {
    /// What the process published.
    #[serde(flatten)]
    pub record: MountRecord,
    /// What is true now.
    pub state: MountState,
}

/// Writes (or rewrites) the record of a mount, atomically.
pub fn publish(layout: &Layout, record: &MountRecord) -> Result<(), VfsError> {
    let dir = layout.mounts();
    std::fs::create_dir_all(&dir).map_err(VfsError::io("create", &dir))?;
    let path = layout.mount_record(&record.mountpoint);
    // Fails only for a mount point that is not UTF-8.
    let mut bytes = serde_json::to_vec_pretty(record).map_err(|e| {
        VfsError::io("record", &record.mountpoint)(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    })?;
    bytes.push(b'\n');
    write_atomic(&path, &bytes, READ_WRITE).map_err(VfsError::io("write", &path))
}

/// Removes the record of the mount at `mountpoint` (absolute), if there is one.
pub fn withdraw(layout: &Layout, mountpoint: &Path) -> Result<(), VfsError> {
    let path = layout.mount_record(mountpoint);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(VfsError::io("remove", &path)(e)),
        _ => Ok(()),
    }
}

/// Every recorded mount with its state, by mount point. A record that does
/// not parse is an error naming its file: a status that silently skipped
/// one would hide a mount.
pub fn statuses(layout: &Layout) -> Result<Vec<MountStatus>, VfsError> {
    let dir = layout.mounts();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(VfsError::io("read", &dir)(e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(VfsError::io("read", &dir))?.path();
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(VfsError::io("read", &path))?;
        let record: MountRecord = serde_json::from_slice(&bytes).map_err(|e| {
            VfsError::io("parse", &path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
        })?;
        let state = MountState::of(process_alive(record.pid), is_mounted(&record.mountpoint)?);
        found.push(MountStatus { record, state });
    }
    found.sort_by(|a, b| a.record.mountpoint.cmp(&b.record.mountpoint));
    Ok(found)
}

/// Whether a process with this pid exists (a zombie counts as gone).
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state is the field after the parenthesised command name.
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X") | None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(mountpoint: &Path, pid: u32) -> MountRecord {
        MountRecord {
            mountpoint: mountpoint.to_owned(),
            pid,
            plan: Sha256::of(b"plan"),
            plan_path: PathBuf::from("/x/plan.json"),
            follows_applied: true,
            started_unix: 1_700_000_000,
            switches: 0,
        }
    }

    #[test]
    fn a_published_record_is_listed_with_its_state_and_withdrawn_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::at(dir.path().join(".rtt"));
        let not_a_mount = dir.path().join("views");
        std::fs::create_dir(&not_a_mount).unwrap();
        publish(&layout, &record(&not_a_mount, std::process::id())).unwrap();
        let listed = statuses(&layout).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].record, record(&not_a_mount, std::process::id()));
        assert_eq!(listed[0].state, MountState::NotMounted);
        withdraw(&layout, &not_a_mount).unwrap();
        assert!(statuses(&layout).unwrap().is_empty());
        withdraw(&layout, &not_a_mount).unwrap();
    }

    #[test]
    fn a_record_whose_process_is_gone_says_exited() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::at(dir.path().join(".rtt"));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        publish(&layout, &record(dir.path(), pid)).unwrap();
        assert_eq!(statuses(&layout).unwrap()[0].state, MountState::Exited);
    }

    #[test]
    fn a_damaged_record_is_an_error_naming_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::at(dir.path().join(".rtt"));
        std::fs::create_dir_all(layout.mounts()).unwrap();
        std::fs::write(layout.mounts().join("0000000000000000.json"), b"{").unwrap();
        let error = statuses(&layout).unwrap_err().to_string();
        assert!(error.contains("0000000000000000.json"), "{error}");
    }
}
