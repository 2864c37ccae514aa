//! Provider views on disk (SPEC §7): a plan's views as a read-only FUSE
//! filesystem (`rtt mount`) or as a materialized tree (`rtt materialize`).
//!
//! Callers hand in views from a plan they have verified; this crate lays
//! them out ([`tree`], pure), serves them ([`fs`], fuser) and writes them
//! ([`materialize`]). Bytes always come from the registry by result hash,
//! re-hashed before they are served.

pub mod fs;
pub mod materialize;
pub mod status;
pub mod tree;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuser::{BackgroundSession, Config, INodeNo, MountOption, Notifier, SessionACL};
use rtt_canonical::Sha256;
use rtt_plan::Views;
use rtt_registry::Registry;

pub use fs::Snapshot;
use tree::{Changes, Tree, TreeError};

/// What can go wrong laying out or serving views.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum VfsError {
    /// The views cannot be laid out.
    #[error("failed to lay out the plan's views: {0}")]
    #[diagnostic(code(rtt::vfs::tree))]
    Tree(#[from] TreeError),
    /// Mounting, unmounting or writing failed.
    #[error("failed to {action} {path}: {source}")]
    #[diagnostic(code(rtt::vfs::io))]
    Io {
        /// What we were doing.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Bytes the plan names are missing or damaged.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Registry(#[from] rtt_registry::RegistryError),
}

impl VfsError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| VfsError::Io { action, path, source }
    }
}

/// Builds a snapshot: the plan's tree, with every result object checked
/// present and intact before anything is served.
pub fn snapshot(plan: Sha256, views: &Views, registry: Registry) -> Result<Snapshot, VfsError> {
    let tree =
        Tree::build(views, |hash| registry.get(hash).map(|bytes| bytes.len() as u64).map_err(|e| e.to_string()))?;
    Ok(Snapshot { plan, tree, registry })
}

/// A live mount; dropping it unmounts.
pub struct Mount {
    session: BackgroundSession,
    notifier: Notifier,
    shared: Arc<fs::Shared>,
    mountpoint: PathBuf,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount").field("mountpoint", &self.mountpoint).finish_non_exhaustive()
    }
}

impl Mount {
    /// Mounts `snapshot` read-only at `mountpoint`. A mount whose process
    /// was killed is cleared by [`cleanup`] (`rtt mount --cleanup`).
    /// fusermount3's auto_unmount is not used: with it, unmounting from the
    /// mounting process waits on a helper that waits on that process.
    pub fn new(mountpoint: &Path, snapshot: Snapshot) -> Result<Self, VfsError> {
        let shared = Arc::new(fs::Shared::new(snapshot));
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let filesystem = fs::ViewFs::new(Arc::clone(&shared), uid, gid);
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::RO,
            MountOption::FSName("rtt".into()),
            MountOption::Subtype("rtt-views".into()),
            MountOption::NoExec,
            MountOption::NoSuid,
            MountOption::NoDev,
        ];
        if uid == 0 {
            // Views are meant for every local user, like a read-only bind mount.
            config.acl = SessionACL::All;
        }
        let session = fuser::spawn_mount(filesystem, mountpoint, &config).map_err(VfsError::io("mount", mountpoint))?;
        let notifier = session.notifier();
        Ok(Self { session, notifier, shared, mountpoint: mountpoint.to_owned() })
    }

    /// The plan being served.
    pub fn plan(&self) -> Sha256 {
        self.shared.current().plan
    }

    /// Switches to a new snapshot in one step, then tells the kernel to drop
    /// what it cached of the entries that changed (and nothing else).
    pub fn switch(&self, snapshot: Snapshot) -> Changes {
        let new = Arc::new(snapshot);
        let old = self.shared.replace(Arc::clone(&new));
        let changes = new.tree.changes_from(&old.tree);
        // Invalidation failures (e.g. the kernel already forgot an inode) are harmless: the
        // kernel then has nothing stale to serve.
        for (parent, name) in &changes.entries {
            let _ = self.notifier.inval_entry(INodeNo(*parent), std::ffi::OsStr::new(name));
        }
        for ino in &changes.inodes {
            let _ = self.notifier.inval_inode(INodeNo(*ino), 0, 0);
        }
        changes
    }

    /// Whether the kernel still talks to this mount: false once it was
    /// unmounted from outside (`umount`, `fusermount3 -u`) and the session
    /// ended.
    pub fn is_serving(&self) -> bool {
        !self.session.guard.is_finished()
    }

    /// Unmounts and waits for the session to end. A mount already unmounted
    /// from outside has nothing left to unmount: that is not an error.
    pub fn unmount(self) -> Result<(), VfsError> {
        let mountpoint = self.mountpoint.clone();
        let ended = !self.is_serving();
        match self.session.umount_and_join() {
            Err(_) if ended => Ok(()),
            result => result.map_err(VfsError::io("unmount", &mountpoint)),
        }
    }
}

/// Clears a mount left behind by a crashed `rtt mount` (lazy unmount via
/// fusermount3, then umount(2) as root). Returns whether anything was mounted.
pub fn cleanup(mountpoint: &Path) -> Result<bool, VfsError> {
    if !is_mounted(mountpoint)? {
        return Ok(false);
    }
    let fusermount = std::process::Command::new("fusermount3").arg("-u").arg("-z").arg(mountpoint).status();
    if fusermount.is_ok_and(|status| status.success()) {
        return Ok(true);
    }
    rustix::mount::unmount(mountpoint, rustix::mount::UnmountFlags::DETACH)
        .map_err(|e| VfsError::io("unmount", mountpoint)(e.into()))?;
    Ok(true)
}

/// Whether `path` is a mount point (per /proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> Result<bool, VfsError> {
    let absolute = std::path::absolute(path).map_err(VfsError::io("resolve", path))?;
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(VfsError::io("read", Path::new("/proc/self/mountinfo")))?;
    let wanted = absolute.to_string_lossy().replace(' ', "\\040");
    Ok(info.lines().any(|line| line.split(' ').nth(4) == Some(wanted.as_str())))
}
