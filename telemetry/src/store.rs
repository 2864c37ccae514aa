//! The telemetry store on disk: one file of observations per plan
//! (`.rtt/telemetry/routes/<hex>.json`) and the sources' cursors, each
//! replaced whole by the atomic writer (a crash leaves the old file or the
//! new one), every read-modify-write under `telemetry/lock`. Bounded: one
//! histogram per route of the plan, and the files of the newest
//! [`KEEP_PLANS`] plans.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use rtt_canonical::Sha256;
use rtt_durable::{Layout, READ_WRITE, write_atomic};

use crate::cursors::{CURSORS_VERSION, Cursors};
use crate::observations::{FILE_VERSION, Observations, ObservationsFile};

/// Plans whose observations are kept; older files are removed.
pub const KEEP_PLANS: usize = 64;

/// A store file that cannot be read or written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StoreError {
    /// The file system said no.
    #[error("failed to {action} {}: {reason}", path.display())]
    #[diagnostic(code(rtt::telemetry::io))]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file that is not what rtt wrote.
    #[error("{} is damaged: {reason}", path.display())]
    #[diagnostic(
        code(rtt::telemetry::damaged),
        help("telemetry is advisory: move the file aside and the next readings start it again")
    )]
    Damaged {
        /// Where.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The store of a workspace.
#[derive(Debug, Clone)]
pub struct Store {
    layout: Layout,
}

/// Holds the store's writer lock until dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl Store {
    /// The store under `layout`.
    pub fn new(layout: &Layout) -> Store {
        Store { layout: layout.clone() }
    }

    /// Takes the writer lock, waiting for another writer to finish.
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        let path = self.layout.telemetry_lock();
        let io = |action, e: io::Error| StoreError::Io { action, path: path.clone(), reason: e.to_string() };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
        }
        let file =
            OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| io("open", e))?;
        file.lock().map_err(|e| io("lock", e))?;
        Ok(StoreLock { _file: file })
    }

    /// What was observed under `plan` (nothing when no file).
    pub fn read(&self, plan: &Sha256) -> Result<Observations, StoreError> {
        let path = self.layout.observations(plan);
        let Some(bytes) = read_optional(&path)? else { return Ok(Observations::default()) };
        let damaged = |reason: String| StoreError::Damaged { path: path.clone(), reason };
        let file: ObservationsFile = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
        if file.version != FILE_VERSION || file.plan != *plan {
            return Err(damaged(format!(
                "version {} of plan {}, expected version {FILE_VERSION} of {plan}",
                file.version, file.plan
            )));
        }
        Observations::from_file(&file).map_err(|e| damaged(e.to_string()))
    }

    /// Merges `seen` into `plan`'s file. The caller holds the lock.
    pub fn add(&self, _lock: &StoreLock, plan: &Sha256, seen: &Observations) -> Result<(), StoreError> {
        if seen.routes.is_empty() && seen.drivers.is_empty() {
            return Ok(());
        }
        let mut all = self.read(plan)?;
        all.merge(seen);
        let path = self.layout.observations(plan);
        let bytes = serde_json::to_vec(&all.to_file(*plan))
            .map_err(|e| StoreError::Damaged { path: path.clone(), reason: e.to_string() })?;
        write_atomic(&path, &bytes, READ_WRITE).map_err(|e| StoreError::Io {
            action: "write",
            path: path.clone(),
            reason: e.to_string(),
        })?;
        self.prune(&path)
    }

    /// The sources' cursors (fresh ones when no file).
    pub fn cursors(&self, _lock: &StoreLock) -> Result<Cursors, StoreError> {
        let path = self.layout.telemetry_cursors();
        let Some(bytes) = read_optional(&path)? else { return Ok(Cursors::default()) };
        let cursors: Cursors = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Damaged { path: path.clone(), reason: e.to_string() })?;
        if cursors.version != CURSORS_VERSION {
            return Err(StoreError::Damaged { path, reason: format!("version {}", cursors.version) });
        }
        Ok(cursors)
    }

    /// Replaces the cursors.
    pub fn write_cursors(&self, _lock: &StoreLock, cursors: &Cursors) -> Result<(), StoreError> {
        let path = self.layout.telemetry_cursors();
        let bytes = serde_json::to_vec(cursors)
            .map_err(|e| StoreError::Damaged { path: path.clone(), reason: e.to_string() })?;
        write_atomic(&path, &bytes, READ_WRITE).map_err(|e| StoreError::Io {
            action: "write",
            path,
            reason: e.to_string(),
        })
    }

    /// Removes all but the newest [`KEEP_PLANS`] files, never `keep`.
    fn prune(&self, keep: &Path) -> Result<(), StoreError> {
        let dir = self.layout.observations_dir();
        let io = |action, e: io::Error| StoreError::Io { action, path: dir.clone(), reason: e.to_string() };
        let mut files = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| io("list", e))? {
            let entry = entry.map_err(|e| io("list", e))?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") && path != keep {
                let modified = entry.metadata().and_then(|m| m.modified()).map_err(|e| io("stat a file in", e))?;
                files.push((modified, path));
            }
        }
        if files.len() < KEEP_PLANS {
            return Ok(());
        }
        files.sort();
        let excess = files.len() + 1 - KEEP_PLANS;
        for (_, path) in files.into_iter().take(excess) {
            fs::remove_file(&path).map_err(|e| StoreError::Io { action: "remove", path, reason: e.to_string() })?;
        }
        Ok(())
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Io { action: "read", path: path.to_owned(), reason: e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RouteKey;

    #[test]
    fn adds_merge_and_old_plans_are_pruned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(&Layout::at(dir.path()));
        let plan = Sha256::of(b"p");
        assert_eq!(store.read(&plan).expect("empty"), Observations::default());
        let lock = store.lock().expect("lock");
        let mut seen = Observations::default();
        seen.record(&RouteKey::new("a", "b"), 100, 5, 1);
        store.add(&lock, &plan, &seen).expect("add");
        store.add(&lock, &plan, &seen).expect("add again");
        assert_eq!(store.read(&plan).expect("read").summary(&RouteKey::new("a", "b")).expect("route").count, 10);
        for n in 0..KEEP_PLANS + 3 {
            store.add(&lock, &Sha256::of(format!("{n}").as_bytes()), &seen).expect("add");
        }
        let files = fs::read_dir(dir.path().join("telemetry/routes")).expect("dir").count();
        assert_eq!(files, KEEP_PLANS);
    }

    #[test]
    fn a_damaged_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::at(dir.path());
        let plan = Sha256::of(b"p");
        fs::create_dir_all(layout.observations_dir()).expect("mkdir");
        fs::write(layout.observations(&plan), b"{\"version\":1").expect("write");
        assert!(matches!(Store::new(&layout).read(&plan), Err(StoreError::Damaged { .. })));
    }
}
