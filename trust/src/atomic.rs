//! Crash-safe file replacement: the one atomic writer of the workspace, used
//! for plans, signed plans and the applied-plan state.
//!
//! A reader sees the old bytes or the new bytes, never a mix: write a temp
//! file beside the target, fsync it, rename it over the target, fsync the
//! directory so the rename itself survives a crash.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes` atomically (temp file + fsync + rename + directory fsync).
///
/// The temp file is created with `create_new`, so a symlink planted at its
/// name is never followed; it is removed again if anything fails.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path);
    let temp = temp_path(path);
    let result = write_then_rename(&temp, path, bytes);
    if result.is_err() {
        // Best effort: the temp file is ours and useless after a failure.
        let _ = std::fs::remove_file(&temp);
        return result;
    }
    sync_dir(dir)
}

/// Fsyncs a directory, making renames and creations in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

fn write_then_rename(temp: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = match OpenOptions::new().write(true).create_new(true).open(temp) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Left behind by a crashed writer with the same process id.
            std::fs::remove_file(temp)?;
            OpenOptions::new().write(true).create_new(true).open(temp)?
        }
        other => other?,
    };
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(temp, path)
}

/// `.<name>.<pid>.tmp` beside the target: hidden, and distinct per process so
/// two writers never share a temp file.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    parent_dir(path).join(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("rtt-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plan.json");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("plan.json")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_the_target_alone() {
        let dir = std::env::temp_dir().join(format!("rtt-atomic-fail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("target-is-a-dir")).unwrap();
        std::fs::write(dir.join("target-is-a-dir/keep"), b"x").unwrap();
        assert!(write_atomically(&dir.join("target-is-a-dir"), b"new").is_err());
        assert_eq!(std::fs::read(dir.join("target-is-a-dir/keep")).unwrap(), b"x");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "temp file left behind: {names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
