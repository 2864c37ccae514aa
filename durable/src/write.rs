//! The one atomic writer. Every file appears whole or not at all, and
//! survives a power cut once the call returns: a temp file beside the target
//! (created with `create_new`, so a symlink planted at its name is never
//! followed), fsync, rename, fsync of the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of content-addressed objects, packs and materialized views: nobody
/// writes them in place.
pub const READ_ONLY: u32 = 0o444;
/// Mode of files rewritten whole (the index, state, logs).
pub const READ_WRITE: u32 = 0o644;
/// Mode of secret keys.
pub const SECRET: u32 = 0o600;

static FILE_FSYNCS: AtomicU64 = AtomicU64::new(0);
static DIR_FSYNCS: AtomicU64 = AtomicU64::new(0);

/// fsyncs this process has issued through this crate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fsyncs {
    /// Of files.
    pub files: u64,
    /// Of directories.
    pub dirs: u64,
}

/// fsyncs issued so far by this process.
pub fn fsyncs() -> Fsyncs {
    Fsyncs { files: FILE_FSYNCS.load(Ordering::Relaxed), dirs: DIR_FSYNCS.load(Ordering::Relaxed) }
}

/// fsync of a file's data and metadata.
pub fn sync_file(file: &File) -> io::Result<()> {
    FILE_FSYNCS.fetch_add(1, Ordering::Relaxed);
    disk_fault()?;
    file.sync_all()
}

/// fsync of a directory, making creations, renames and removals in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    DIR_FSYNCS.fetch_add(1, Ordering::Relaxed);
    disk_fault()?;
    File::open(dir)?.sync_all()
}

/// Disk faults for the chaos pack (`rtt chaos`), in processes that arm them
/// ([`arm_disk_faults`]: the coordinator commands, never a driver), so an
/// environment inherited by a child does nothing there. Each fsync is where
/// a full or slow disk shows itself to a program that writes and syncs.
/// - `RTT_DISK_FAULT=enospc@N`: the N-th fsync (1-based) fails with ENOSPC;
/// - `RTT_DISK_DELAY_MS=N`: every fsync takes N ms more;
/// - `RTT_DISK_TRACE=FILE`: a line per fsync is appended to FILE (how the
///   chaos pack counts them).
#[derive(Debug, Default)]
struct DiskFaults {
    enospc_at: Option<u64>,
    delay: Option<std::time::Duration>,
    trace: Option<PathBuf>,
}

static DISK_FAULTS: std::sync::OnceLock<DiskFaults> = std::sync::OnceLock::new();
static ARMED_FSYNCS: AtomicU64 = AtomicU64::new(0);

/// Arms the disk faults the environment asks for (see [`DiskFaults`]).
pub fn arm_disk_faults() {
    let faults = DiskFaults {
        enospc_at: std::env::var("RTT_DISK_FAULT")
            .ok()
            .and_then(|spec| spec.strip_prefix("enospc@").and_then(|n| n.parse().ok())),
        delay: std::env::var("RTT_DISK_DELAY_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map(std::time::Duration::from_millis),
        trace: std::env::var_os("RTT_DISK_TRACE").map(PathBuf::from),
    };
    let _ = DISK_FAULTS.set(faults);
}

fn disk_fault() -> io::Result<()> {
    let Some(faults) = DISK_FAULTS.get() else { return Ok(()) };
    let n = ARMED_FSYNCS.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(trace) = &faults.trace {
        let _ = OpenOptions::new().create(true).append(true).open(trace).and_then(|mut f| writeln!(f, "fsync {n}"));
    }
    if let Some(delay) = faults.delay {
        std::thread::sleep(delay);
    }
    if faults.enospc_at == Some(n) {
        return Err(io::Error::from(rustix::io::Errno::NOSPC));
    }
    Ok(())
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Writes `bytes` to `path` atomically with `mode`, creating its directory.
/// A device, FIFO or socket already there (`-o /dev/null`, a named pipe) is
/// written in place instead: renaming over it would replace it with a
/// regular file, and a stream has no old contents to keep whole.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    if fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return OpenOptions::new().write(true).open(path)?.write_all(bytes);
    }
    let mut file = AtomicFile::create(path, mode)?;
    file.write_all(bytes)?;
    file.commit().map(drop)
}

/// Creates `path` with `bytes` only if nothing is there (`AlreadyExists`
/// otherwise), durably: the file and its directory entry are synced.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    let written = file.write_all(bytes).and_then(|()| sync_file(&file)).and_then(|()| sync_dir(parent_dir(path)));
    if written.is_err() {
        // Never leave a partial file under a name that refuses a retry.
        let _ = fs::remove_file(path);
    }
    written
}

/// Renames `from` to `to` and makes the rename durable.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)?;
    sync_dir(parent_dir(to))?;
    let from_dir = parent_dir(from);
    if from_dir != parent_dir(to) { sync_dir(from_dir) } else { Ok(()) }
}

/// Swaps two existing paths in one atomic step (`RENAME_EXCHANGE`) and makes
/// it durable: a reader sees the old tree or the new one, never neither.
pub fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    rustix::fs::renameat_with(rustix::fs::CWD, a, rustix::fs::CWD, b, rustix::fs::RenameFlags::EXCHANGE)?;
    sync_dir(parent_dir(b))?;
    let a_dir = parent_dir(a);
    if a_dir != parent_dir(b) { sync_dir(a_dir) } else { Ok(()) }
}

/// A file being written under a temp name, renamed over its target by
/// [`AtomicFile::commit`]; dropped uncommitted, it leaves nothing behind.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
    mode: u32,
}

impl AtomicFile {
    /// Starts writing `path` (its directory is created if missing).
    pub fn create(path: &Path, mode: u32) -> io::Result<AtomicFile> {
        let dir = parent_dir(path);
        fs::create_dir_all(dir)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
        // A temp file left by a crashed writer with our pid is ours to replace.
        let _ = fs::remove_file(&temp);
        // Writable while we write it, whatever the final mode.
        let file = OpenOptions::new().write(true).create_new(true).mode(mode | 0o200).open(&temp)?;
        Ok(AtomicFile { file: Some(file), temp, target: path.to_owned(), mode })
    }

    /// Syncs the bytes, sets the mode, renames over the target and syncs the
    /// directory. Returns the file's length.
    pub fn commit(mut self) -> io::Result<u64> {
        let result = (|| {
            let file = self.file.take().ok_or_else(|| io::Error::other("atomic file already committed"))?;
            file.set_permissions(fs::Permissions::from_mode(self.mode))?;
            sync_file(&file)?;
            let len = file.metadata()?.len();
            drop(file);
            fs::rename(&self.temp, &self.target)?;
            sync_dir(parent_dir(&self.target))?;
            Ok(len)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&self.temp);
        }
        result
    }

    fn file(&mut self) -> io::Result<&mut File> {
        self.file.as_mut().ok_or_else(|| io::Error::other("atomic file already committed"))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file()?.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp."))
            .collect()
    }

    #[test]
    fn atomic_write_replaces_whole_file_and_sets_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/object.json");
        write_atomic(&path, b"{\"a\":1}", READ_ONLY).expect("first write");
        write_atomic(&path, b"{\"a\":2}", READ_ONLY).expect("second write over a read-only file");
        assert_eq!(fs::read(&path).expect("read"), b"{\"a\":2}");
        let mode = fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, READ_ONLY);
        assert!(leftovers(path.parent().expect("parent")).is_empty());
    }

    #[test]
    fn a_named_pipe_is_written_in_place_and_stays_a_pipe() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("out");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        write_atomic(&fifo, b"plan bytes", READ_WRITE).unwrap();
        assert_eq!(reader.join().unwrap(), b"plan bytes");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "a rename would have made it a file");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn atomic_writes_are_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let before = fsyncs();
        write_atomic(&dir.path().join("a"), b"a", READ_WRITE).expect("write");
        let after = fsyncs();
        // Other tests run in parallel, so only a lower bound holds.
        assert!(after.files > before.files && after.dirs > before.dirs, "{before:?} -> {after:?}");
    }

    #[test]
    fn an_uncommitted_file_leaves_the_target_and_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("index.json");
        fs::write(&path, b"old").expect("seed");
        let mut file = AtomicFile::create(&path, READ_WRITE).expect("create");
        file.write_all(b"half").expect("write");
        drop(file);
        assert_eq!(fs::read(&path).expect("read"), b"old");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn create_new_refuses_an_existing_file_and_keeps_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ops.key");
        create_new(&path, b"secret", SECRET).expect("create");
        let mode = fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, SECRET);
        let again = create_new(&path, b"other", SECRET).expect_err("exists");
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).expect("read"), b"secret");
    }

    #[test]
    fn exchange_swaps_two_trees() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir(&a).expect("a");
        fs::create_dir(&b).expect("b");
        fs::write(a.join("x"), b"from a").expect("x");
        exchange(&a, &b).expect("exchange");
        assert_eq!(fs::read(b.join("x")).expect("read"), b"from a");
        assert!(!a.join("x").exists());
    }
}
