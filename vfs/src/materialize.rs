//! `rtt materialize`: a plan's views written as a real directory tree, for
//! hosts without FUSE. The tree is built beside the target and switched in
//! with one rename (an exchange when the target exists), so readers see the
//! old tree or the new one, never a half-written one.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use rtt_canonical::Sha256;
use rtt_plan::Views;
use rtt_registry::Registry;

use crate::VfsError;
use crate::tree::Tree;

/// The marker file at the root of a materialized tree: rtt only ever
/// replaces a directory that carries it (or an empty one).
pub const MARKER: &str = ".rtt-materialized.json";

/// What the command line asks for: one method, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Hardlink, else symlink, else copy.
    Auto,
    /// Exactly this method.
    Only(Method),
}

/// How files reach the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Hard links to the CAS objects (same filesystem; the files stay read-only).
    Hardlink,
    /// Symbolic links to the CAS objects.
    Symlink,
    /// `{"$ref": "sha256:…"}` files.
    Proxy,
    /// Copies of the bytes.
    Copy,
}

impl Mode {
    /// The methods to try, in order.
    fn methods(self) -> &'static [Method] {
        match self {
            Mode::Auto => &[Method::Hardlink, Method::Symlink, Method::Copy],
            Mode::Only(Method::Hardlink) => &[Method::Hardlink],
            Mode::Only(Method::Symlink) => &[Method::Symlink],
            Mode::Only(Method::Proxy) => &[Method::Proxy],
            Mode::Only(Method::Copy) => &[Method::Copy],
        }
    }
}

impl Method {
    /// The method's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Method::Hardlink => "hardlink",
            Method::Symlink => "symlink",
            Method::Proxy => "proxy",
            Method::Copy => "copy",
        }
    }
}

/// What `materialize` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The method the files were written with.
    pub method: Method,
    /// Files written.
    pub files: usize,
    /// Why `auto` passed over a mode, in order.
    pub fallbacks: Vec<String>,
}

/// Writes the views of `plan` under `dir`, then switches the tree in.
pub fn materialize(
    dir: &Path,
    plan: Sha256,
    views: &Views,
    registry: &Registry,
    mode: Mode,
) -> Result<Report, VfsError> {
    let tree = Tree::build(views, |hash| registry.get(hash).map(|b| b.len() as u64).map_err(|e| e.to_string()))?;
    check_replaceable(dir)?;
    let staging = sibling(dir, "new")?;
    remove_tree(&staging)?;
    fs::create_dir_all(&staging).map_err(VfsError::io("create", &staging))?;
    let result = (|| {
        let mut fallbacks = Vec::new();
        let mut written = None;
        for &method in mode.methods() {
            match write_files(&staging, &tree, registry, method) {
                Ok(files) => {
                    written = Some((method, files));
                    break;
                }
                Err(e) if mode == Mode::Auto && method != Method::Copy => {
                    fallbacks.push(format!("{}: {e}", method.name()));
                    remove_tree(&staging)?;
                    fs::create_dir_all(&staging).map_err(VfsError::io("create", &staging))?;
                }
                Err(e) => return Err(e),
            }
        }
        let Some((method, files)) = written else {
            return Err(VfsError::io("materialize", &staging)(std::io::Error::other("no method to try")));
        };
        let report = Report { method, files, fallbacks };
        let marker = format!("{{\"method\":\"{}\",\"plan\":\"{plan}\"}}\n", report.method.name());
        write_file(&staging.join(MARKER), marker.as_bytes())?;
        sync_tree_dirs(&staging)?;
        Ok(report)
    })();
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            let _ = remove_tree(&staging);
            return Err(e);
        }
    };
    switch_in(&staging, dir)?;
    Ok(report)
}

/// Writes every file of the tree under `root` in one mode; returns the count.
fn write_files(root: &Path, tree: &Tree, registry: &Registry, method: Method) -> Result<usize, VfsError> {
    let files = tree.files();
    for (path, hash, _) in &files {
        let target = root.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(VfsError::io("create", parent))?;
        }
        match method {
            Method::Hardlink => {
                let object = registry.loose_file(hash)?;
                fs::hard_link(&object, &target).map_err(VfsError::io("hardlink", &target))?;
            }
            Method::Symlink => {
                let object = std::path::absolute(registry.loose_file(hash)?).map_err(VfsError::io("resolve", root))?;
                symlink(&object, &target).map_err(VfsError::io("symlink", &target))?;
            }
            Method::Copy => write_file(&target, &registry.get(hash)?)?,
            Method::Proxy => write_file(&target, format!("{{\"$ref\":\"{hash}\"}}").as_bytes())?,
        }
    }
    Ok(files.len())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), VfsError> {
    rtt_durable::create_new(path, bytes, rtt_durable::READ_ONLY).map_err(VfsError::io("write", path))
}

/// Refuses to replace anything rtt did not materialize: a target must be
/// absent, an empty directory, or carry the marker.
fn check_replaceable(dir: &Path) -> Result<(), VfsError> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(VfsError::io("inspect", dir)(e)),
        Ok(meta) if meta.is_dir() => {
            let empty = fs::read_dir(dir).map_err(VfsError::io("list", dir))?.next().is_none();
            if empty || dir.join(MARKER).is_file() {
                Ok(())
            } else {
                Err(VfsError::io("replace", dir)(std::io::Error::other(format!(
                    "it is not a tree rtt materialized (no {MARKER}); refusing to replace it"
                ))))
            }
        }
        Ok(_) => Err(VfsError::io("replace", dir)(std::io::Error::other("it exists and is not a directory"))),
    }
}

/// Renames `staging` to `dir`: a plain rename when `dir` is absent or empty,
/// else an atomic exchange followed by removal of the old tree.
fn switch_in(staging: &Path, dir: &Path) -> Result<(), VfsError> {
    // An empty directory (or none) is simply replaced; a previous tree is exchanged atomically.
    if fs::symlink_metadata(dir).is_ok() && fs::remove_dir(dir).is_err() {
        rtt_durable::exchange(staging, dir).map_err(VfsError::io("exchange", dir))?;
        // The old tree now sits at the staging path.
        return remove_tree(staging);
    }
    rtt_durable::rename(staging, dir).map_err(VfsError::io("rename", dir))
}

fn sibling(dir: &Path, tag: &str) -> Result<PathBuf, VfsError> {
    let name = dir
        .file_name()
        .ok_or_else(|| VfsError::io("materialize into", dir)(std::io::Error::other("the target has no file name")))?;
    Ok(dir.with_file_name(format!(".{}.rtt-{tag}.{}", name.to_string_lossy(), std::process::id())))
}

fn remove_tree(path: &Path) -> Result<(), VfsError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(VfsError::io("remove", path)(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), VfsError> {
    rtt_durable::sync_dir(dir).map_err(VfsError::io("sync", dir))
}

/// fsyncs every directory of the tree, deepest first, so the entries are durable before the switch.
fn sync_tree_dirs(root: &Path) -> Result<(), VfsError> {
    let mut dirs = vec![root.to_owned()];
    let mut i = 0;
    while i < dirs.len() {
        for entry in fs::read_dir(&dirs[i]).map_err(VfsError::io("list", &dirs[i]))? {
            let entry = entry.map_err(VfsError::io("list", &dirs[i]))?;
            if entry.file_type().map_err(VfsError::io("inspect", &entry.path()))?.is_dir() {
                dirs.push(entry.path());
            }
        }
        i += 1;
    }
    for dir in dirs.iter().rev() {
        sync_dir(dir)?;
    }
    Ok(())
}
