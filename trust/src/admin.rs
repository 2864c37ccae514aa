//! Editing the trust store (`rtt keys list|add|revoke`): the IO that adds a
//! public key to `keys/` (plan signers) or `registry-keys/` (registry
//! signers) and a key id to `revoked.json`, and the listing. One revocation
//! list serves both sets: a key revoked is revoked for everything.
//!
//! Revocation is never refused: a compromised key must stop counting at
//! once, even when that leaves fewer keys than the threshold (the store then
//! rejects every plan until a key is added — fail closed). A revoked key
//! cannot be added back; a rotation adds the new key first, re-signs what
//! must stay acceptable, then revokes the old one (docs/trust.md).

use std::path::{Path, PathBuf};

use rtt_durable::TrustLayout;
use serde::Serialize;

use crate::keyfile::{KeyFileError, read_public_key};
use crate::keys::KeyId;
use crate::store::{Revoked, TrustStore, TrustStoreError};

/// Which set of keys an edit or a listing is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySet {
    /// `keys/`: who may sign plans.
    Plans,
    /// `registry-keys/`: who may vouch for manifests (signed ingest).
    Registry,
}

impl KeySet {
    fn dir(self, layout: &TrustLayout) -> PathBuf {
        match self {
            Self::Plans => layout.keys(),
            Self::Registry => layout.registry_keys(),
        }
    }

    /// The directory's name inside the store, as listings show it.
    pub fn dir_name(self) -> &'static str {
        match self {
            Self::Plans => "keys",
            Self::Registry => "registry-keys",
        }
    }
}

/// One `.pub` file of `keys/` or `registry-keys/`, or a revoked id without a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyEntry {
    /// The key id (`None`: the file is not a good key).
    pub key_id: Option<String>,
    /// The file under the set's directory (`None`: only in `revoked.json`).
    pub file: Option<String>,
    /// `trusted`, `revoked`, or why the file is not a key.
    pub status: String,
}

/// The store as `rtt keys list` shows it: every key file and revoked id, the
/// policy's thresholds, and whether the store can be used now.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    /// Plan signers: every entry, by file name, then the revoked ids that
    /// have no file anywhere in the store.
    pub keys: Vec<KeyEntry>,
    /// Registry signers, by file name.
    pub registry_keys: Vec<KeyEntry>,
    /// The policy's threshold, if the policy reads.
    pub threshold: Option<u32>,
    /// The policy's `registry_threshold`, if the policy reads and sets one.
    pub registry_threshold: Option<u32>,
    /// `None` when the store loads; else why every plan is rejected.
    pub unusable: Option<String>,
}

/// Lists the store at `dir`, reading what it can even when it is unusable.
pub fn list(dir: &Path) -> Result<Listing, TrustStoreError> {
    let layout = TrustLayout::at(dir);
    let revoked = Revoked::load(dir)?;
    let mut seen = std::collections::BTreeSet::new();
    let mut keys = entries(&KeySet::Plans.dir(&layout), &revoked, &mut seen)?;
    let registry_keys = entries(&KeySet::Registry.dir(&layout), &revoked, &mut seen)?;
    for id in revoked.ids.iter().filter(|id| !seen.contains(id)) {
        keys.push(KeyEntry { key_id: Some(id.to_string()), file: None, status: "revoked".into() });
    }
    let policy = std::fs::read(layout.policy()).ok().and_then(|b| crate::store::Policy::parse_file(&b).ok());
    let unusable = TrustStore::load(dir).err().map(|e| e.to_string());
    Ok(Listing {
        keys,
        registry_keys,
        threshold: policy.as_ref().map(|(plans, _)| plans.threshold),
        registry_threshold: policy.and_then(|(_, registry)| registry).map(|p| p.threshold),
        unusable,
    })
}

/// The `.pub` files of one key directory, recording the ids met in `seen`.
fn entries(
    keys_dir: &Path,
    revoked: &Revoked,
    seen: &mut std::collections::BTreeSet<KeyId>,
) -> Result<Vec<KeyEntry>, TrustStoreError> {
    let mut keys = Vec::new();
    let keys_dir = keys_dir.to_owned();
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&keys_dir) {
        Ok(entries) => {
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "pub")).collect()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(TrustStoreError::Io { path: keys_dir, reason: e.to_string() }),
    };
    paths.sort();
    for path in paths {
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned());
        match read_public_key(&path) {
            Ok(key) => {
                let id = key.id();
                seen.insert(id);
                let status = if revoked.ids.contains(&id) { "revoked" } else { "trusted" };
                keys.push(KeyEntry { key_id: Some(id.to_string()), file, status: status.into() });
            }
            Err(e) => keys.push(KeyEntry { key_id: None, file, status: format!("not a key: {e}") }),
        }
    }
    Ok(keys)
}

/// What `add` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The key's id.
    pub key_id: KeyId,
    /// Where it was written.
    pub path: PathBuf,
}

/// Copies the public key at `public` into `keys/<key id>.pub` (or
/// `registry-keys/`), refusing a key that is revoked or already in that
/// set, or a file that is not a key. One key may be in both sets: a team
/// may let its release key vouch for manifests too, and revoking it then
/// stops both.
pub fn add(dir: &Path, public: &Path, set: KeySet) -> Result<Added, AdminError> {
    let key = read_public_key(public)?;
    let key_id = key.id();
    if Revoked::load(dir)?.ids.contains(&key_id) {
        return Err(AdminError::Revoked { key_id });
    }
    let layout = TrustLayout::at(dir);
    if let Ok(listing) = list(dir) {
        let listed = match set {
            KeySet::Plans => &listing.keys,
            KeySet::Registry => &listing.registry_keys,
        };
        if let Some(existing) = listed.iter().find(|k| k.key_id.as_deref() == Some(key_id.to_string().as_str())) {
            let file = format!("{}/{}", set.dir_name(), existing.file.clone().unwrap_or_default());
            return Err(AdminError::AlreadyTrusted { key_id, file });
        }
    }
    let keys_dir = set.dir(&layout);
    std::fs::create_dir_all(&keys_dir).map_err(|e| AdminError::Io { path: keys_dir.clone(), reason: e.to_string() })?;
    let path = keys_dir.join(format!("{key_id}.pub"));
    rtt_durable::create_new(&path, key.to_text().as_bytes(), rtt_durable::READ_WRITE)
        .map_err(|e| AdminError::Io { path: path.clone(), reason: e.to_string() })?;
    Ok(Added { key_id, path })
}

/// Adds `key_id` to `revoked.json` (atomically). Returns whether it was new.
pub fn revoke(dir: &Path, key_id: KeyId) -> Result<bool, AdminError> {
    let mut revoked = Revoked::load(dir)?;
    if !revoked.ids.insert(key_id) {
        return Ok(false);
    }
    let path = TrustLayout::at(dir).revoked();
    std::fs::create_dir_all(dir).map_err(|e| AdminError::Io { path: dir.to_owned(), reason: e.to_string() })?;
    rtt_durable::write_atomic(&path, &revoked.to_bytes(), rtt_durable::READ_WRITE)
        .map_err(|e| AdminError::Io { path, reason: e.to_string() })?;
    Ok(true)
}

/// A trust store edit that was refused or failed; nothing was changed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AdminError {
    /// The key was revoked: it never counts again.
    #[error("key {key_id} was revoked and cannot be trusted again")]
    #[diagnostic(code(rtt::keys::revoked), help("generate a new key pair (`rtt keygen --out NAME`) and add NAME.pub"))]
    Revoked {
        /// The key.
        key_id: KeyId,
    },
    /// The key is already in `keys/`.
    #[error("key {key_id} is already trusted ({file})")]
    #[diagnostic(code(rtt::keys::exists))]
    AlreadyTrusted {
        /// The key.
        key_id: KeyId,
        /// The file holding it.
        file: String,
    },
    /// The file is not a public key.
    #[error(transparent)]
    #[diagnostic(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The store could not be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] TrustStoreError),
    /// The OS failed.
    #[error("failed to write {}: {reason}", .path.display())]
    #[diagnostic(code(rtt::keys::io))]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}
