//! Durable writes for apply, counted: every fsync apply asks for goes through
//! here, so the benchmark can report fsyncs per transaction. The atomic write
//! itself is the registry's (`rtt_registry::fsio`), the workspace's only one.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rtt_registry::fsio;

static FILE_FSYNCS: AtomicU64 = AtomicU64::new(0);
static DIR_FSYNCS: AtomicU64 = AtomicU64::new(0);

/// Mode of files apply writes.
pub const MODE: u32 = fsio::READ_WRITE;

/// fsyncs issued by this process so far: (of files, of directories).
pub fn fsyncs() -> (u64, u64) {
    (FILE_FSYNCS.load(Ordering::Relaxed), DIR_FSYNCS.load(Ordering::Relaxed))
}

/// Counts an atomic write another crate made on apply's behalf (the applied
/// state through rtt-trust, which uses the same writer).
pub fn count_atomic_write_elsewhere() {
    FILE_FSYNCS.fetch_add(1, Ordering::Relaxed);
    DIR_FSYNCS.fetch_add(1, Ordering::Relaxed);
}

/// Temp file, fsync, rename, directory fsync.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    count_atomic_write_elsewhere();
    fsio::write_atomic(path, bytes, MODE)
}

/// fsync of a file's data and metadata.
pub fn sync_file(file: &File) -> io::Result<()> {
    FILE_FSYNCS.fetch_add(1, Ordering::Relaxed);
    file.sync_all()
}

/// fsync of a directory, making creations, renames and removals in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    DIR_FSYNCS.fetch_add(1, Ordering::Relaxed);
    fsio::sync_dir(dir)
}
