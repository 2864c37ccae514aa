//! One coordinator at a time: an OS lock (`flock`) on `.rtt/apply.lock`.
//! The kernel releases it when its holder exits, even by `kill -9`, so a
//! lock is never stale and nothing is ever taken over by guessing from a
//! pid. The file also holds the holder's pid, but only as information for
//! the "locked" message: a pid decides nothing. The file is never removed;
//! removing it would let a process that opened the old file and one that
//! created a new one both hold "the" lock. Fencing epochs protect drivers
//! from a coordinator that lost the lock anyway.

use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// A held lock; released on drop (or by the kernel when the process dies).
#[derive(Debug)]
pub struct CoordinatorLock {
    file: fs::File,
    /// The pid of an earlier holder that exited without releasing the lock
    /// (it crashed or was killed): worth telling the operator, since its
    /// transaction may be in doubt.
    pub crashed_pid: Option<u32>,
}

/// The lock is held or unusable.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LockError {
    /// Another coordinator runs.
    #[error("locked: {} is held by {}", .path.display(), holder(*.pid))]
    #[diagnostic(
        code(rtt::apply::locked),
        help("wait for it to finish; only one rtt apply/recover/rollback runs at a time")
    )]
    Held {
        /// The lock file.
        path: PathBuf,
        /// Its holder, when the file names one.
        pid: Option<u32>,
    },
    /// The OS failed.
    #[error("failed to lock {}: {reason}", .path.display())]
    #[diagnostic(code(rtt::apply::lock_io))]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

fn holder(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("running process {pid}"),
        None => "another process".to_owned(),
    }
}

impl CoordinatorLock {
    /// Takes the lock at `path`, or fails at once with [`LockError::Held`].
    pub fn acquire(path: &Path) -> Result<CoordinatorLock, LockError> {
        let io = |e: io::Error| LockError::Io { path: path.to_owned(), reason: e.to_string() };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file =
            fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                // The holder writes its pid right after locking; an empty
                // or half-written file just means "someone".
                return Err(LockError::Held { path: path.to_owned(), pid: read_pid(&mut file) });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // A clean release empties the file, so a pid left here is a holder
        // that died holding the lock.
        let crashed_pid = read_pid(&mut file).filter(|&pid| pid != std::process::id());
        let pid = format!("{}\n", std::process::id());
        file.set_len(0).and_then(|()| file.rewind()).and_then(|()| file.write_all(pid.as_bytes())).map_err(io)?;
        Ok(CoordinatorLock { file, crashed_pid })
    }
}

impl Drop for CoordinatorLock {
    fn drop(&mut self) {
        // Still holding the lock: nobody can read the file half-emptied.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn read_pid(file: &mut fs::File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;

    use super::*;

    #[test]
    fn a_holder_blocks_until_it_releases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("apply.lock");
        let held = CoordinatorLock::acquire(&path).expect("first");
        let error = CoordinatorLock::acquire(&path).expect_err("second");
        assert!(
            matches!(error, LockError::Held { pid: Some(pid), .. } if pid == std::process::id()),
            "the holder's pid is named: {error}"
        );
        drop(held);
        let again = CoordinatorLock::acquire(&path).expect("released");
        assert_eq!(again.crashed_pid, None, "a clean release leaves no pid behind");
    }

    #[test]
    fn a_pid_in_the_file_decides_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("apply.lock");
        // A live pid (ours is alive; init is too) in an unlocked file: the
        // lock is free, and the pid is reported as a holder that crashed.
        fs::write(&path, "1\n").expect("write");
        let taken = CoordinatorLock::acquire(&path).expect("no kernel lock, so free");
        assert_eq!(taken.crashed_pid, Some(1));
        // Garbage is no obstacle either.
        drop(taken);
        fs::write(&path, "not a pid").expect("write");
        assert_eq!(CoordinatorLock::acquire(&path).expect("free").crashed_pid, None);
    }

    #[test]
    fn the_kernel_releases_the_lock_of_a_killed_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("apply.lock");
        // flock(1) takes the lock, records its own pid like a coordinator
        // would, and is killed while holding it (`-o`: its child does not
        // inherit the locked descriptor). The group is killed afterwards so
        // the child's sleep does not linger.
        let mut child = std::process::Command::new("flock")
            .arg("-o")
            .arg(&path)
            .args(["sh", "-c", "echo $PPID > \"$0\"; exec sleep 30"])
            .arg(&path)
            .process_group(0)
            .spawn()
            .expect("flock(1) from util-linux");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while fs::read_to_string(&path).map(|t| t.trim().is_empty()).unwrap_or(true) {
            assert!(std::time::Instant::now() < deadline, "the child never took the lock");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(matches!(CoordinatorLock::acquire(&path), Err(LockError::Held { pid: Some(_), .. })));
        child.kill().expect("kill");
        child.wait().expect("wait");
        let taken = CoordinatorLock::acquire(&path).expect("the kernel released it");
        assert_eq!(taken.crashed_pid, Some(child.id()));
        if let Some(group) = i32::try_from(child.id()).ok().and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}
