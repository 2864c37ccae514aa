//! Loose objects: `cas/sha256/<2 hex>/<64 hex>.json`, one file per object,
//! written once and never modified.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use rtt_canonical::Sha256;
use rtt_durable::RegistryLayout;

use crate::error::{RegistryError, Result};
use crate::object::{MAX_OBJECT_BYTES, check_stored};

/// The loose-object directory.
#[derive(Debug, Clone)]
pub struct LooseStore {
    dir: PathBuf,
}

impl LooseStore {
    /// The store rooted at `dir` (`.rtt/registry/cas/sha256`); nothing is created yet.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Where the object with this hash lives.
    pub fn path_of(&self, hash: &Sha256) -> PathBuf {
        RegistryLayout::loose_object(&self.dir, hash)
    }

    /// Stores bytes under their hash (a no-op when an intact copy is there).
    pub fn put(&self, bytes: &[u8]) -> Result<Sha256> {
        let hash = Sha256::of(bytes);
        let path = self.path_of(&hash);
        match self.get(&hash) {
            Ok(Some(_)) => return Ok(hash),
            // A damaged copy is replaced by the good bytes we were handed.
            Ok(None) | Err(RegistryError::Corrupt { .. }) => {}
            Err(other) => return Err(other),
        }
        rtt_durable::write_atomic(&path, bytes, rtt_durable::READ_ONLY)
            .map_err(RegistryError::io("write object", &path))?;
        Ok(hash)
    }

    /// The object's bytes, re-hashed; `None` when there is no such file.
    pub fn get(&self, hash: &Sha256) -> Result<Option<Vec<u8>>> {
        let path = self.path_of(hash);
        let file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RegistryError::io("open object", &path)(e)),
        };
        // Read one byte past the cap so an oversized file is seen without reading it all.
        let mut bytes = Vec::new();
        file.take(MAX_OBJECT_BYTES + 1).read_to_end(&mut bytes).map_err(RegistryError::io("read object", &path))?;
        check_stored(hash, &bytes, "object", &path)?;
        Ok(Some(bytes))
    }

    /// Whether a file for this hash exists (without checking its bytes).
    pub fn contains(&self, hash: &Sha256) -> bool {
        self.path_of(hash).is_file()
    }

    /// Every object file's hash, sorted; files whose names are not hashes are reported.
    pub fn list(&self) -> Result<Vec<Sha256>> {
        let mut hashes = Vec::new();
        let fan = match fs::read_dir(&self.dir) {
            Ok(fan) => fan,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(hashes),
            Err(e) => return Err(RegistryError::io("list", &self.dir)(e)),
        };
        for bucket in fan {
            let bucket = bucket.map_err(RegistryError::io("list", &self.dir))?.path();
            if !bucket.is_dir() {
                continue;
            }
            for entry in fs::read_dir(&bucket).map_err(RegistryError::io("list", &bucket))? {
                let path = entry.map_err(RegistryError::io("list", &bucket))?.path();
                if let Some(hash) = hash_of_path(&path) {
                    hashes.push(hash);
                }
            }
        }
        hashes.sort();
        Ok(hashes)
    }

    /// Removes object files, then makes the removals durable with one fsync
    /// per bucket directory rather than one per object.
    pub fn remove_all(&self, hashes: &[Sha256]) -> Result<()> {
        let mut buckets = std::collections::BTreeSet::new();
        for hash in hashes {
            let path = self.path_of(hash);
            fs::remove_file(&path).map_err(RegistryError::io("remove object", &path))?;
            buckets.extend(path.parent().map(Path::to_owned));
        }
        for dir in buckets {
            rtt_durable::sync_dir(&dir).map_err(RegistryError::io("sync", &dir))?;
        }
        Ok(())
    }
}

fn hash_of_path(path: &Path) -> Option<Sha256> {
    let stem = path.file_name()?.to_str()?.strip_suffix(".json")?;
    format!("sha256:{stem}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_and_flipped_byte_is_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LooseStore::new(dir.path().join("cas/sha256"));
        let hash = store.put(br#"{"id":"a@1"}"#).expect("put");
        assert_eq!(store.get(&hash).expect("get").as_deref(), Some(&br#"{"id":"a@1"}"#[..]));
        assert_eq!(store.list().expect("list"), vec![hash]);

        let path = store.path_of(&hash);
        let mut bytes = fs::read(&path).expect("read");
        bytes[3] ^= 0x20;
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
        fs::write(&path, &bytes).expect("tamper");
        let err = store.get(&hash).expect_err("tampered object must not be served");
        assert!(err.is_corruption(), "{err}");
        // Putting the good bytes again repairs it.
        store.put(br#"{"id":"a@1"}"#).expect("repair");
        assert!(store.get(&hash).expect("get").is_some());
    }

    #[test]
    fn missing_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LooseStore::new(dir.path().to_owned());
        assert_eq!(store.get(&Sha256::of(b"x")).expect("get"), None);
    }
}
