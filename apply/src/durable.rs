//! Durable writes for apply, counted: every fsync apply asks for goes through
//! here, so the benchmark can report fsyncs per transaction. The atomic write
//! itself is the registry's (`rtt_registry::fsio`), the workspace's only one.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rtt_registry::fsio;

static FSYNCS: AtomicU64 = AtomicU64::new(0);

/// Mode of files apply writes.
pub const MODE: u32 = fsio::READ_WRITE;

/// fsyncs issued by this process so far.
pub fn fsyncs() -> u64 {
    FSYNCS.load(Ordering::Relaxed)
}

/// Counts fsyncs another crate's writer issued on apply's behalf.
pub fn count_elsewhere(n: u64) {
    FSYNCS.fetch_add(n, Ordering::Relaxed);
}

/// Temp file, fsync, rename, directory fsync (two fsyncs).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    FSYNCS.fetch_add(2, Ordering::Relaxed);
    fsio::write_atomic(path, bytes, MODE)
}

/// fsync of a file's data and metadata.
pub fn sync_file(file: &File) -> io::Result<()> {
    FSYNCS.fetch_add(1, Ordering::Relaxed);
    file.sync_all()
}

/// fsync of a directory, making creations, renames and removals in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    FSYNCS.fetch_add(1, Ordering::Relaxed);
    fsio::sync_dir(dir)
}
