//! One coordinator at a time: `.rtt/apply.lock` holds the holder's pid. A
//! lock whose pid no longer runs is stale (its holder was killed) and is
//! taken over. The lock is advisory for rtt processes; fencing epochs protect
//! drivers from a coordinator that lost it anyway.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct CoordinatorLock {
    path: PathBuf,
    /// The pid of a dead holder whose lock was taken over.
    pub stale_pid: Option<u32>,
}

/// The lock is held or unusable.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LockError {
    /// Another coordinator runs.
    #[error("failed to lock {}: held by running process {pid}", .path.display())]
    #[diagnostic(
        code(rtt::apply::locked),
        help("wait for it to finish; only one rtt apply/recover/rollback runs at a time")
    )]
    Held {
        /// The lock file.
        path: PathBuf,
        /// Its holder.
        pid: u32,
    },
    /// The OS failed, or the file holds no pid.
    #[error("failed to lock {}: {reason}", .path.display())]
    #[diagnostic(code(rtt::apply::lock_io))]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl CoordinatorLock {
    /// Takes the lock at `path`, taking over a stale one.
    pub fn acquire(path: &Path) -> Result<CoordinatorLock, LockError> {
        let io = |e: io::Error| LockError::Io { path: path.to_owned(), reason: e.to_string() };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let mut stale_pid = None;
        // Two rounds: the second follows removing a stale lock.
        for _ in 0..2 {
            match rtt_durable::create_new(path, format!("{}\n", std::process::id()).as_bytes(), rtt_durable::READ_WRITE)
            {
                Ok(()) => return Ok(CoordinatorLock { path: path.to_owned(), stale_pid }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let text = fs::read_to_string(path).map_err(io)?;
                    let pid = match text.trim().parse::<u32>() {
                        Ok(pid) => pid,
                        // Killed between create and write: an empty lock is stale too.
                        Err(_) if text.trim().is_empty() => 0,
                        Err(_) => {
                            return Err(LockError::Io {
                                path: path.to_owned(),
                                reason: format!("it holds {:?}, not a pid", text.trim()),
                            });
                        }
                    };
                    if pid != 0 && alive(pid) {
                        return Err(LockError::Held { path: path.to_owned(), pid });
                    }
                    stale_pid = Some(pid);
                    fs::remove_file(path)
                        .or_else(|e| if e.kind() == io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
                        .map_err(io)?;
                }
                Err(e) => return Err(io(e)),
            }
        }
        Err(LockError::Io { path: path.to_owned(), reason: "another process took the stale lock first".into() })
    }
}

impl Drop for CoordinatorLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether a process with this pid exists (`kill(pid, 0)`; EPERM means it does).
fn alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else { return false };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_holder_blocks_and_a_dead_one_is_taken_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("apply.lock");
        let held = CoordinatorLock::acquire(&path).expect("first");
        assert!(matches!(CoordinatorLock::acquire(&path), Err(LockError::Held { .. })));
        drop(held);
        // A pid from a process that has exited.
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead = child.id();
        child.wait().expect("wait");
        fs::write(&path, format!("{dead}\n")).expect("write");
        let taken = CoordinatorLock::acquire(&path).expect("stale lock taken over");
        assert_eq!(taken.stale_pid, Some(dead));
    }
}
