//! The tree a plan's views lay out: `<provider>/<path>` for every view,
//! with directories implied by the paths. Pure: sizes come from the caller.
//!
//! Inode numbers are derived from content, not from the order of entries: a
//! directory's from its path, a file's from its path and its bytes' hash. A
//! file whose bytes change on a plan switch therefore gets a new inode, so
//! the kernel's page cache for the old bytes (which a reader of the old plan
//! may still be filling) can never be served for the new ones; unchanged
//! files keep their inode and their cache.

use std::collections::BTreeMap;

use rtt_canonical::Sha256;
use rtt_plan::Views;
use rtt_plan::views::check_view_path;

/// The root directory's inode (FUSE fixes it at 1).
pub const ROOT: u64 = 1;

/// One node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory: child name → inode.
    Dir {
        /// Children by name (sorted, so listings are deterministic).
        children: BTreeMap<String, u64>,
        /// The parent's inode (the root is its own parent).
        parent: u64,
    },
    /// A view: the object's hash and length.
    File {
        /// The result object.
        hash: Sha256,
        /// Its length in bytes.
        len: u64,
    },
}

/// A whole tree, by inode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    nodes: BTreeMap<u64, Node>,
    paths: BTreeMap<u64, String>,
}

/// Why views cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// A provider name or view path that would leave the tree.
    #[error("{0}")]
    Unsafe(String),
    /// Two views want the same path, or a file and a directory collide.
    #[error("views collide at {0}")]
    Collision(String),
    /// The size of an object could not be had.
    #[error("{0}")]
    Object(String),
}

impl Tree {
    /// Lays out `views`; `len_of` gives each result object's length (and
    /// fails for objects that are missing or damaged).
    pub fn build(views: &Views, mut len_of: impl FnMut(&Sha256) -> Result<u64, String>) -> Result<Self, TreeError> {
        let mut tree = Tree::default();
        tree.nodes.insert(ROOT, Node::Dir { children: BTreeMap::new(), parent: ROOT });
        tree.paths.insert(ROOT, String::new());
        for (provider, entries) in views {
            if provider.is_empty() || provider == "." || provider == ".." || provider.contains(['/', '\\', '\0']) {
                return Err(TreeError::Unsafe(format!("provider name {provider:?} is not a plain file name")));
            }
            for view in entries {
                check_view_path(&view.path, &view.id).map_err(TreeError::Unsafe)?;
                let len = len_of(&view.result).map_err(TreeError::Object)?;
                let full = format!("{provider}/{}", view.path);
                tree.insert(&full, Node::File { hash: view.result, len })?;
            }
        }
        Ok(tree)
    }

    fn insert(&mut self, full: &str, file: Node) -> Result<(), TreeError> {
        let parts: Vec<&str> = full.split('/').collect();
        let mut parent = ROOT;
        let mut path = String::new();
        for (i, part) in parts.iter().enumerate() {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(part);
            let last = i + 1 == parts.len();
            let ino = match (&file, last) {
                (Node::File { hash, .. }, true) => file_inode(&path, hash),
                _ => inode_of(&path),
            };
            let existing = self.child(parent, part);
            match (existing, last) {
                (Some(_), true) => return Err(TreeError::Collision(path)),
                (Some(child), false) => {
                    if !matches!(self.nodes.get(&child), Some(Node::Dir { .. })) {
                        return Err(TreeError::Collision(path));
                    }
                    parent = child;
                    continue;
                }
                (None, _) => {}
            }
            if self.nodes.contains_key(&ino) {
                // Two paths hashing to one inode: astronomically unlikely, but never silently merged.
                return Err(TreeError::Collision(format!("{path} (inode)")));
            }
            let node = if last { file.clone() } else { Node::Dir { children: BTreeMap::new(), parent } };
            self.nodes.insert(ino, node);
            self.paths.insert(ino, path.clone());
            if let Some(Node::Dir { children, .. }) = self.nodes.get_mut(&parent) {
                children.insert((*part).to_owned(), ino);
            }
            parent = ino;
        }
        Ok(())
    }

    /// The node with this inode.
    pub fn node(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    /// The inode of `name` inside directory `parent`.
    pub fn child(&self, parent: u64, name: &str) -> Option<u64> {
        match self.nodes.get(&parent) {
            Some(Node::Dir { children, .. }) => children.get(name).copied(),
            _ => None,
        }
    }

    /// The path of an inode, relative to the root ("" for the root).
    pub fn path(&self, ino: u64) -> Option<&str> {
        self.paths.get(&ino).map(String::as_str)
    }

    /// Every inode with its node, in inode order.
    pub fn nodes(&self) -> impl Iterator<Item = (u64, &Node)> {
        self.nodes.iter().map(|(ino, node)| (*ino, node))
    }

    /// Every file as (path, hash, len), in path order.
    pub fn files(&self) -> Vec<(&str, Sha256, u64)> {
        let mut files: Vec<(&str, Sha256, u64)> = self
            .nodes
            .iter()
            .filter_map(|(ino, node)| match node {
                Node::File { hash, len } => Some((self.paths[ino].as_str(), *hash, *len)),
                Node::Dir { .. } => None,
            })
            .collect();
        files.sort();
        files
    }

    /// What differs from `old`: inodes present in both whose content or
    /// children changed (to invalidate), and (parent, name) entries that
    /// appeared or disappeared.
    pub fn changes_from(&self, old: &Tree) -> Changes {
        let mut changes = Changes::default();
        for (ino, node) in &self.nodes {
            match old.nodes.get(ino) {
                Some(before) if before != node => changes.inodes.push(*ino),
                _ => {}
            }
        }
        for (tree, other) in [(old, self), (self, old)] {
            for (ino, node) in &tree.nodes {
                if let Node::Dir { children, .. } = node {
                    for (name, child) in children {
                        if other.child(*ino, name) != Some(*child) {
                            changes.entries.push((*ino, name.clone()));
                        }
                    }
                }
            }
        }
        changes.entries.sort();
        changes.entries.dedup();
        changes
    }
}

/// What a plan switch changes, for kernel cache invalidation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Inodes whose attributes, data or listing changed.
    pub inodes: Vec<u64>,
    /// Directory entries added or removed: (parent inode, name).
    pub entries: Vec<(u64, String)>,
}

/// A file's inode: its path and the hash of the bytes it holds.
pub fn file_inode(path: &str, hash: &Sha256) -> u64 {
    inode_of(&format!("{path}\0{hash}"))
}

/// A directory's inode: 64 bits of its path's sha256, kept clear of the root's number.
pub fn inode_of(path: &str) -> u64 {
    let digest = Sha256::of(path.as_bytes());
    let mut word = [0u8; 8];
    word.copy_from_slice(&digest.0[..8]);
    // The top bit is cleared so inodes stay positive as i64 for tools that care.
    (u64::from_le_bytes(word) & (u64::MAX >> 1)).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtt_plan::View;

    fn view(id: &str, path: &str, result: &[u8]) -> View {
        View {
            id: id.into(),
            path: path.into(),
            base: Sha256::of(b"base"),
            overlays: vec![],
            result: Sha256::of(result),
        }
    }

    fn tree(views: Views) -> Result<Tree, TreeError> {
        Tree::build(&views, |_| Ok(10))
    }

    #[test]
    fn lays_out_providers_dirs_and_files_with_stable_inodes() {
        let views = Views::from([
            (
                "claude".to_owned(),
                vec![view("a@1", ".claude/agents/a@1.json", b"a"), view("b@1", ".claude/agents/b@1.json", b"b")],
            ),
            ("codex".to_owned(), vec![view("a@1", "agents/a@1.json", b"a")]),
        ]);
        let t = tree(views.clone()).expect("tree");
        let claude = t.child(ROOT, "claude").expect("provider dir");
        let agents = t.child(t.child(claude, ".claude").expect(".claude"), "agents").expect("agents");
        let a = t.child(agents, "a@1.json").expect("file");
        assert_eq!(t.path(a), Some("claude/.claude/agents/a@1.json"));
        assert_eq!(a, file_inode("claude/.claude/agents/a@1.json", &Sha256::of(b"a")));
        assert_eq!(agents, inode_of("claude/.claude/agents"));
        assert_eq!(t.files().len(), 3);
        assert_eq!(tree(views).expect("again"), t, "same views, same tree");
    }

    #[test]
    fn switching_plans_invalidates_only_what_changed() {
        let old = tree(Views::from([(
            "p".to_owned(),
            vec![view("a@1", "d/a@1.json", b"a"), view("b@1", "d/b@1.json", b"b"), view("c@1", "d/c@1.json", b"c")],
        )]))
        .expect("old");
        let new = tree(Views::from([(
            "p".to_owned(),
            vec![view("a@1", "d/a@1.json", b"a"), view("b@1", "d/b@1.json", b"B"), view("e@1", "d/e@1.json", b"e")],
        )]))
        .expect("new");
        let changes = new.changes_from(&old);
        let d = new.child(new.child(ROOT, "p").expect("p"), "d").expect("d");
        let a = file_inode("p/d/a@1.json", &Sha256::of(b"a"));
        assert_eq!(new.child(d, "a@1.json"), Some(a), "unchanged file keeps its inode");
        assert_ne!(new.child(d, "b@1.json"), old.child(d, "b@1.json"), "changed bytes, new inode");
        assert_eq!(changes.inodes, vec![d], "only the listing of d changed in place");
        assert_eq!(
            changes.entries,
            vec![(d, "b@1.json".to_owned()), (d, "c@1.json".to_owned()), (d, "e@1.json".to_owned())]
        );
    }

    #[test]
    fn unsafe_and_colliding_views_are_refused() {
        let bad = [
            Views::from([("..".to_owned(), vec![view("a@1", "a@1.json", b"a")])]),
            Views::from([("p".to_owned(), vec![view("a@1", "../a@1.json", b"a")])]),
            Views::from([("p".to_owned(), vec![view("a@1", "/etc/a@1.json", b"a")])]),
            Views::from([("p".to_owned(), vec![view("a@1", "x/a@1.json", b"a"), view("a@1", "x/a@1.json", b"b")])]),
            Views::from([(
                "p".to_owned(),
                vec![view("a@1", "a@1.json/a@1.json", b"a"), view("a@1", "a@1.json", b"b")],
            )]),
        ];
        for views in bad {
            assert!(tree(views.clone()).is_err(), "{views:?} accepted");
        }
    }
}
