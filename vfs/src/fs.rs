//! The read-only FUSE filesystem (fuser) over a [`Snapshot`]: a verified
//! plan's tree and the registry its bytes come from.
//!
//! A file's inode names fixed bytes (its path and their hash, see `tree`), so
//! a read is answered from those bytes whichever plan is in force: a reader
//! that resolved a name under the old plan reads the old plan's bytes, whole.
//! `opendir` takes the directory's whole listing from one snapshot, so a plan
//! switch in the middle of a listing never mixes two plans. Files run in the
//! kernel's no-open mode (no round trip per open, pages kept); file
//! attributes are cached for long, entries for a second; a switch invalidates
//! exactly the entries and directories that changed.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use rtt_canonical::Sha256;
use rtt_registry::Registry;

use crate::tree::{Node, Tree};

/// How long the kernel may cache a file's attributes: a file inode names
/// fixed bytes, so they never change.
pub const FILE_TTL: Duration = Duration::from_secs(3600);

/// How long the kernel may cache a name → inode entry and a directory's
/// attributes. Switches invalidate changed entries explicitly, but a lookup
/// answered from the old plan while the switch happens can reach the kernel
/// after the invalidation; this bounds how long such an entry can outlive
/// its plan.
pub const ENTRY_TTL: Duration = Duration::from_secs(1);

/// A plan's tree and the registry that serves its bytes.
#[derive(Debug)]
pub struct Snapshot {
    /// The hash of the plan the tree comes from.
    pub plan: Sha256,
    /// The layout.
    pub tree: Tree,
    /// Where bytes come from (its pack map stays valid for the snapshot's life).
    pub registry: Registry,
}

/// What the filesystem serves: the snapshot in force (swapped whole on a
/// plan switch) and every file inode any snapshot of this mount has had.
/// A file inode names fixed bytes (path and hash), so serving one the
/// kernel still holds from an earlier plan — a lookup racing a switch — is
/// always correct.
#[derive(Debug)]
pub struct Shared {
    current: RwLock<Arc<Snapshot>>,
    files: Mutex<HashMap<u64, (Sha256, u64)>>,
}

impl Shared {
    /// Starts with `snapshot`.
    pub fn new(snapshot: Snapshot) -> Self {
        let shared = Self { current: RwLock::new(Arc::new(snapshot)), files: Mutex::new(HashMap::new()) };
        shared.remember(&shared.current());
        shared
    }

    /// The snapshot in force.
    pub fn current(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `snapshot` in force; returns the one it replaced.
    pub fn replace(&self, snapshot: Arc<Snapshot>) -> Arc<Snapshot> {
        self.remember(&snapshot);
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, snapshot)
    }

    fn remember(&self, snapshot: &Snapshot) {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        for (ino, node) in snapshot.tree.nodes() {
            if let Node::File { hash, len } = node {
                files.insert(ino, (*hash, *len));
            }
        }
    }

    /// The node for `ino`: from the current tree, or a file of an earlier one.
    fn node(&self, snapshot: &Snapshot, ino: u64) -> Option<Node> {
        snapshot.tree.node(ino).cloned().or_else(|| {
            let files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
            files.get(&ino).map(|(hash, len)| Node::File { hash: *hash, len: *len })
        })
    }
}

/// The filesystem handed to fuser.
#[derive(Debug)]
pub struct ViewFs {
    shared: Arc<Shared>,
    handles: Mutex<HashMap<u64, Handle>>,
    verified: Mutex<HashMap<u64, Arc<FileBytes>>>,
    next_handle: AtomicU64,
    uid: u32,
    gid: u32,
}

#[derive(Debug)]
enum Handle {
    Dir(Vec<(u64, FileType, String)>),
}

/// A file's verified bytes: a range of the snapshot's pack map (no copy), or
/// an owned copy of a loose object.
#[derive(Debug)]
enum FileBytes {
    Packed { snapshot: Arc<Snapshot>, hash: Sha256 },
    Loose(Arc<[u8]>),
}

impl FileBytes {
    fn bytes(&self) -> Option<&[u8]> {
        match self {
            FileBytes::Packed { snapshot, hash } => snapshot.registry.packed_verified_before(hash),
            FileBytes::Loose(bytes) => Some(bytes),
        }
    }
}

impl ViewFs {
    /// A filesystem serving `current`, owned by `uid`/`gid`.
    pub fn new(shared: Arc<Shared>, uid: u32, gid: u32) -> Self {
        Self {
            shared,
            handles: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            uid,
            gid,
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.current()
    }

    fn attr(&self, ino: u64, node: &Node) -> FileAttr {
        let (kind, perm, size, nlink) = match node {
            Node::Dir { children, .. } => (FileType::Directory, 0o555, 0, 2 + children.len() as u32),
            Node::File { len, .. } => (FileType::RegularFile, 0o444, *len, 1),
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind,
            perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    /// A file's bytes, verified against its hash on first use and kept per
    /// inode (an inode names fixed bytes, so they never go stale). Missing or
    /// damaged bytes are EIO, never content.
    fn file_bytes(&self, ino: u64) -> Result<Arc<FileBytes>, Errno> {
        if let Some(bytes) = self.verified.lock().unwrap_or_else(PoisonError::into_inner).get(&ino) {
            return Ok(Arc::clone(bytes));
        }
        let snapshot = self.snapshot();
        let hash = match self.shared.node(&snapshot, ino) {
            Some(Node::File { hash, .. }) => hash,
            Some(Node::Dir { .. }) => return Err(Errno::EISDIR),
            None => return Err(Errno::ENOENT),
        };
        let bytes = match snapshot.registry.get(&hash) {
            Ok(std::borrow::Cow::Borrowed(_)) => FileBytes::Packed { snapshot: Arc::clone(&snapshot), hash },
            Ok(std::borrow::Cow::Owned(bytes)) => FileBytes::Loose(bytes.into()),
            Err(_) => return Err(Errno::EIO),
        };
        let bytes = Arc::new(bytes);
        self.verified.lock().unwrap_or_else(PoisonError::into_inner).insert(ino, Arc::clone(&bytes));
        Ok(bytes)
    }

    fn add_handle(&self, handle: Handle) -> u64 {
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.handles.lock().unwrap_or_else(PoisonError::into_inner).insert(fh, handle);
        fh
    }

    fn remove_handle(&self, fh: u64) {
        self.handles.lock().unwrap_or_else(PoisonError::into_inner).remove(&fh);
    }
}

fn attr_ttl(node: &Node) -> Duration {
    match node {
        Node::File { .. } => FILE_TTL,
        Node::Dir { .. } => ENTRY_TTL,
    }
}

fn kind_of(node: &Node) -> FileType {
    match node {
        Node::Dir { .. } => FileType::Directory,
        Node::File { .. } => FileType::RegularFile,
    }
}

impl Filesystem for ViewFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let snapshot = self.snapshot();
        let found = name.to_str().and_then(|name| snapshot.tree.child(parent.0, name));
        match found.and_then(|ino| snapshot.tree.node(ino).map(|node| (ino, node))) {
            Some((ino, node)) => {
                let attr = self.attr(ino, node);
                reply.entry_with_ttls(&attr_ttl(node), &ENTRY_TTL, &attr, Generation(0))
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let snapshot = self.snapshot();
        match self.shared.node(&snapshot, ino.0) {
            Some(node) => reply.attr(&attr_ttl(&node), &self.attr(ino.0, &node)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, _ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if !matches!(flags.acc_mode(), OpenAccMode::O_RDONLY) {
            return reply.error(Errno::EROFS);
        }
        // ENOSYS turns on the kernel's no-open mode: later opens of files never
        // reach this process (and keep the page cache), so a cached
        // open+read+close costs what it costs on a local disk. Reads then
        // find their bytes by inode, which names fixed bytes.
        reply.error(Errno::ENOSYS);
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let bytes = match self.file_bytes(ino.0) {
            Ok(bytes) => bytes,
            Err(errno) => return reply.error(errno),
        };
        match bytes.bytes() {
            Some(bytes) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
                let end = start.saturating_add(size as usize).min(bytes.len());
                reply.data(&bytes[start..end]);
            }
            // Only if the pack vanished from a snapshot verified before: fail, never guess.
            None => reply.error(Errno::EIO),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let snapshot = self.snapshot();
        let Some(Node::Dir { children, parent }) = snapshot.tree.node(ino.0) else {
            return reply.error(Errno::ENOTDIR);
        };
        // The whole listing is taken now, from one snapshot.
        let mut entries =
            vec![(ino.0, FileType::Directory, ".".to_owned()), (*parent, FileType::Directory, "..".to_owned())];
        for (name, child) in children {
            if let Some(node) = snapshot.tree.node(*child) {
                entries.push((*child, kind_of(node), name.clone()));
            }
        }
        let fh = self.add_handle(Handle::Dir(entries));
        // No kernel listing cache: a listing is cheap, and a cached one could
        // be filled from the old plan while a switch happens.
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    fn readdir(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let handles = self.handles.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(Handle::Dir(entries)) = handles.get(&fh.0) else { return reply.error(Errno::EBADF) };
        for (i, (ino, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), (i + 1) as u64, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _flags: OpenFlags, reply: ReplyEmpty) {
        self.remove_handle(fh.0);
        reply.ok();
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        if mask.contains(AccessFlags::W_OK) {
            reply.error(Errno::EROFS)
        } else if self.shared.node(&self.snapshot(), ino.0).is_some() {
            reply.ok()
        } else {
            reply.error(Errno::ENOENT)
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mknod(&self, _req: &Request, _p: INodeNo, _n: &OsStr, _m: u32, _u: u32, _r: u32, reply: ReplyEntry) {
        reply.error(Errno::EROFS);
    }

    fn mkdir(&self, _req: &Request, _p: INodeNo, _n: &OsStr, _m: u32, _u: u32, reply: ReplyEntry) {
        reply.error(Errno::EROFS);
    }

    fn unlink(&self, _req: &Request, _p: INodeNo, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn rmdir(&self, _req: &Request, _p: INodeNo, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn symlink(&self, _req: &Request, _p: INodeNo, _n: &OsStr, _t: &std::path::Path, reply: ReplyEntry) {
        reply.error(Errno::EROFS);
    }

    fn rename(
        &self,
        _req: &Request,
        _p: INodeNo,
        _n: &OsStr,
        _np: INodeNo,
        _nn: &OsStr,
        _f: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn link(&self, _req: &Request, _i: INodeNo, _np: INodeNo, _nn: &OsStr, reply: ReplyEntry) {
        reply.error(Errno::EROFS);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::EROFS);
    }

    fn create(&self, _req: &Request, _p: INodeNo, _n: &OsStr, _m: u32, _u: u32, _f: i32, reply: ReplyCreate) {
        reply.error(Errno::EROFS);
    }

    fn setxattr(&self, _req: &Request, _i: INodeNo, _n: &OsStr, _v: &[u8], _f: i32, _p: u32, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn removexattr(&self, _req: &Request, _i: INodeNo, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }
}
