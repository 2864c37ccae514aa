//! The trust store: which public keys may sign plans, and how many must.
//!
//! On disk (SPEC §2): `<trust>/keys/*.pub` and `<trust>/policy.json`
//! (`{"threshold": N}`, N ≥ 1), and (rtt's extension) `<trust>/revoked.json`,
//! `{"revoked": ["<key id>", …]}`: keys that never count again, their `.pub`
//! files left in place so `rtt keys list` can say so. Building a store is pure ([`TrustStore::new`],
//! [`Policy::parse`]); [`TrustStore::load`] is the IO around it. Anything
//! doubtful — a malformed or weak key, a missing or malformed policy, a
//! threshold no set of keys could meet — makes the whole store unusable, so a
//! mistake in the trust configuration can only ever reject plans.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rtt_durable::TrustLayout;
use serde::Deserialize;

use crate::keys::{KeyError, KeyId, PublicKey};

/// `policy.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Valid signatures from distinct trusted keys a plan needs (≥ 1).
    pub threshold: u32,
}

impl Policy {
    /// Parses `{"threshold": N}` strictly: no other fields but
    /// `registry_threshold`, N an integer ≥ 1.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        Self::parse_file(bytes).map(|(plans, _)| plans)
    }

    /// Parses the whole policy file, `{"threshold": N, "registry_threshold":
    /// M}` (the second optional): the plan policy, and the registry policy
    /// when there is one (signatures of registry signers each manifest needs).
    pub fn parse_file(bytes: &[u8]) -> Result<(Self, Option<Self>), String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            threshold: u32,
            #[serde(default)]
            registry_threshold: Option<u32>,
        }
        let raw: Raw = crate::json::from_object(bytes)?;
        if raw.threshold == 0 {
            return Err("threshold must be at least 1 (0 would accept unsigned plans)".into());
        }
        if raw.registry_threshold == Some(0) {
            return Err("registry_threshold must be at least 1, or left out to sign no manifests".into());
        }
        Ok((Self { threshold: raw.threshold }, raw.registry_threshold.map(|threshold| Self { threshold })))
    }
}

/// `revoked.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revoked {
    /// The revoked key ids.
    pub ids: BTreeSet<KeyId>,
}

impl Revoked {
    /// Parses `{"revoked": ["<key id>", …]}` strictly.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            revoked: Vec<String>,
        }
        let raw: Raw = crate::json::from_object(bytes)?;
        let ids: Result<BTreeSet<KeyId>, String> =
            raw.revoked.iter().map(|id| id.parse::<KeyId>().map_err(|e| format!("{id:?}: {e}"))).collect();
        Ok(Self { ids: ids? })
    }

    /// Canonical bytes and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let ids: Vec<String> = self.ids.iter().map(ToString::to_string).collect();
        let mut bytes = rtt_canonical::to_canonical_vec(&serde_json::json!({ "revoked": ids })).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Reads `<dir>/revoked.json`; none is an empty list, a malformed one an error.
    pub fn load(dir: &Path) -> Result<Self, TrustStoreError> {
        let path = TrustLayout::at(dir).revoked();
        match std::fs::read(&path) {
            Ok(bytes) => Self::parse(&bytes).map_err(|reason| TrustStoreError::MalformedRevoked { path, reason }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(TrustStoreError::Io { path, reason: e.to_string() }),
        }
    }
}

/// Trusted keys (deduplicated by key) and the policy.
#[derive(Debug, Clone)]
pub struct TrustStore {
    keys: BTreeMap<KeyId, TrustedKey>,
    policy: Policy,
    revoked: BTreeSet<KeyId>,
}

/// One trusted key and the files it was read from.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The key.
    pub key: PublicKey,
    /// Where it was listed (a key listed twice counts once).
    pub sources: Vec<String>,
}

impl TrustStore {
    /// Builds a store from `(source, key)` pairs and a policy.
    ///
    /// The same key listed under several sources is one key. Two different
    /// keys with one key id would make signatures ambiguous and are refused.
    pub fn new(keys: impl IntoIterator<Item = (String, PublicKey)>, policy: Policy) -> Result<Self, TrustStoreError> {
        let mut by_id: BTreeMap<KeyId, TrustedKey> = BTreeMap::new();
        for (source, key) in keys {
            match by_id.get_mut(&key.id()) {
                Some(known) if known.key == key => known.sources.push(source),
                Some(known) => {
                    return Err(TrustStoreError::KeyIdCollision {
                        key_id: key.id(),
                        first: known.sources.first().cloned().unwrap_or_default(),
                        second: source,
                    });
                }
                None => {
                    by_id.insert(key.id(), TrustedKey { key, sources: vec![source] });
                }
            }
        }
        if by_id.is_empty() {
            return Err(TrustStoreError::NoKeys);
        }
        if policy.threshold as usize > by_id.len() {
            return Err(TrustStoreError::ThresholdUnreachable { threshold: policy.threshold, n_keys: by_id.len() });
        }
        Ok(Self { keys: by_id, policy, revoked: BTreeSet::new() })
    }

    /// The store without the revoked keys: they never count, whatever file
    /// still holds them. Fails closed like [`TrustStore::new`] when what is
    /// left cannot meet the threshold.
    pub fn without(mut self, revoked: &Revoked) -> Result<Self, TrustStoreError> {
        self.keys.retain(|id, _| !revoked.ids.contains(id));
        self.revoked.extend(revoked.ids.iter().copied());
        if self.keys.is_empty() || self.policy.threshold as usize > self.keys.len() {
            return Err(TrustStoreError::RevokedBelowThreshold {
                threshold: self.policy.threshold,
                left: self.keys.len(),
                revoked: self.revoked.len(),
            });
        }
        Ok(self)
    }

    /// Whether `key_id` was revoked (its signatures are reported as such).
    pub fn is_revoked(&self, key_id: &KeyId) -> bool {
        self.revoked.contains(key_id)
    }

    /// Reads `<dir>/keys/*.pub` and `<dir>/policy.json`.
    ///
    /// Files in `keys/` without the `.pub` suffix are not keys and are skipped
    /// (a README, an editor's backup); every `.pub` file must be a good key.
    pub fn load(dir: &Path) -> Result<Self, TrustStoreError> {
        if !dir.is_dir() {
            return Err(TrustStoreError::NoTrustStore { path: dir.to_owned() });
        }
        let layout = TrustLayout::at(dir);
        let policy_path = layout.policy();
        let policy_bytes = match std::fs::read(&policy_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TrustStoreError::MissingPolicy { path: policy_path });
            }
            Err(e) => return Err(TrustStoreError::Io { path: policy_path, reason: e.to_string() }),
        };
        let policy = Policy::parse(&policy_bytes)
            .map_err(|reason| TrustStoreError::MalformedPolicy { path: policy_path.clone(), reason })?;

        let keys_dir = layout.keys();
        let keys = read_keys(&keys_dir)?;
        let store = Self::new(keys, policy).map_err(|error| match error {
            TrustStoreError::NoKeys => TrustStoreError::NoKeysIn { path: keys_dir },
            other => other,
        })?;
        store.without(&Revoked::load(dir)?)
    }

    /// The registry signers (`<dir>/registry-keys/*.pub`) and the policy's
    /// `registry_threshold`, without revoked keys; `None` when the policy
    /// sets no registry threshold (or there is no policy.json), so manifests
    /// need no signatures. Fails closed like [`TrustStore::load`] once a
    /// threshold is set.
    pub fn load_registry_signers(dir: &Path) -> Result<Option<Self>, TrustStoreError> {
        let layout = TrustLayout::at(dir);
        let policy_path = layout.policy();
        let bytes = match std::fs::read(&policy_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(TrustStoreError::Io { path: policy_path, reason: e.to_string() }),
        };
        let (_, registry) = Policy::parse_file(&bytes)
            .map_err(|reason| TrustStoreError::MalformedPolicy { path: policy_path.clone(), reason })?;
        let Some(policy) = registry else { return Ok(None) };
        let keys_dir = layout.registry_keys();
        let no_signers = || TrustStoreError::NoRegistrySigners { path: keys_dir.clone(), threshold: policy.threshold };
        let keys = match read_keys(&keys_dir) {
            Err(TrustStoreError::NoKeysDir { .. }) => return Err(no_signers()),
            other => other?,
        };
        let store = Self::new(keys, policy).map_err(|error| match error {
            TrustStoreError::NoKeys => no_signers(),
            other => other,
        })?;
        store.without(&Revoked::load(dir)?).map(Some)
    }

    /// The trusted key with this id.
    pub fn get(&self, key_id: &KeyId) -> Option<&TrustedKey> {
        self.keys.get(key_id)
    }

    /// Every trusted key, by id.
    pub fn keys(&self) -> impl Iterator<Item = (&KeyId, &TrustedKey)> {
        self.keys.iter()
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }
}

/// Every `.pub` file in `keys_dir`, sorted by path.
///
/// Files without the `.pub` suffix are not keys and are skipped (a README,
/// an editor's backup); every `.pub` file must be a good key.
fn read_keys(keys_dir: &Path) -> Result<Vec<(String, PublicKey)>, TrustStoreError> {
    let entries = std::fs::read_dir(keys_dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => TrustStoreError::NoKeysDir { path: keys_dir.to_owned() },
        _ => TrustStoreError::Io { path: keys_dir.to_owned(), reason: e.to_string() },
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| TrustStoreError::Io { path: keys_dir.to_owned(), reason: e.to_string() })?;
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "pub") {
            paths.push(path);
        }
    }
    // Sorted so that errors and `sources` do not depend on directory order.
    paths.sort();
    let mut keys = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| TrustStoreError::Io { path: path.clone(), reason: e.to_string() })?;
        let key = PublicKey::parse(&text).map_err(|source| TrustStoreError::BadKey { path: path.clone(), source })?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        keys.push((name, key));
    }
    Ok(keys)
}

/// A trust store that cannot be used; every plan is rejected until it is fixed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TrustStoreError {
    /// No trust directory at all.
    #[error("failed to load the trust store: {} is not a directory", .path.display())]
    #[diagnostic(code(rtt::trust::none), help("create {0}/keys/ holding the public keys (NAME.pub from `rtt keygen`) allowed to sign plans, and {0}/policy.json with {{\"threshold\": 1}}; or point --trust at the trust store", .path.display()))]
    NoTrustStore {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// No `policy.json`.
    #[error("failed to load the trust policy: {} does not exist", .path.display())]
    #[diagnostic(code(rtt::trust::no_policy), help("write {{\"threshold\": 1}} to {} (the number of valid signatures from distinct trusted keys a plan needs)", .path.display()))]
    MissingPolicy {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// `policy.json` is not `{"threshold": N}` with N ≥ 1.
    #[error("failed to load the trust policy {}: {reason}", .path.display())]
    #[diagnostic(
        code(rtt::trust::bad_policy),
        help(
            "the policy is exactly {{\"threshold\": N}} with N an integer ≥ 1, e.g. {{\"threshold\": 1}}, and optionally \"registry_threshold\": M (signatures of registry signers each manifest needs)"
        )
    )]
    MalformedPolicy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No `keys/` directory.
    #[error("failed to load trusted keys: {} does not exist", .path.display())]
    #[diagnostic(
        code(rtt::trust::no_keys),
        help(
            "create it and copy the public keys (`rtt keygen --out NAME` writes NAME.pub) of those who may sign plans into it"
        )
    )]
    NoKeysDir {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// `keys/` holds no `.pub` file.
    #[error("failed to load trusted keys: {} holds no .pub file", .path.display())]
    #[diagnostic(
        code(rtt::trust::no_keys),
        help("copy the public keys (`rtt keygen --out NAME` writes NAME.pub) of those who may sign plans into it")
    )]
    NoKeysIn {
        /// The directory.
        path: PathBuf,
    },
    /// `registry_threshold` is set but there are no registry signers.
    #[error("failed to load registry signers: the policy sets registry_threshold {threshold} but {} holds no .pub file", .path.display())]
    #[diagnostic(
        code(rtt::trust::no_registry_signers),
        help(
            "copy the public keys of those who may vouch for manifests (`rtt keygen --out NAME` writes NAME.pub) into it, or drop registry_threshold from policy.json"
        )
    )]
    NoRegistrySigners {
        /// `registry-keys/`.
        path: PathBuf,
        /// The policy's registry threshold.
        threshold: u32,
    },
    /// No keys at all (pure constructor).
    #[error("failed to build a trust store: no trusted keys")]
    NoKeys,
    /// A `.pub` file that is not a good key.
    #[error("failed to load trusted key {}: {source}", .path.display())]
    #[diagnostic(code(rtt::trust::bad_key), help("remove the file or replace it with a key written by `rtt keygen`"))]
    BadKey {
        /// The file.
        path: PathBuf,
        /// Why it is refused.
        source: KeyError,
    },
    /// `revoked.json` is not `{"revoked": [key ids]}`.
    #[error("failed to load the revocation list {}: {reason}", .path.display())]
    #[diagnostic(
        code(rtt::trust::bad_revoked),
        help("it is exactly {{\"revoked\": [\"<16 hex key id>\", ...]}}, written by `rtt keys revoke`")
    )]
    MalformedRevoked {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Revocations leave fewer keys than the threshold.
    #[error(
        "failed to load the trust store: {revoked} revoked key(s) leave {left} trusted key(s), the policy needs {threshold}"
    )]
    #[diagnostic(
        code(rtt::trust::revoked_below_threshold),
        help("every plan is rejected until a new key is added (`rtt keys add NAME.pub`) or the threshold lowered")
    )]
    RevokedBelowThreshold {
        /// The policy's threshold.
        threshold: u32,
        /// Keys left.
        left: usize,
        /// Keys revoked.
        revoked: usize,
    },
    /// Two different keys share a key id.
    #[error("failed to load trusted keys: {first} and {second} are different keys with the same key id {key_id}")]
    #[diagnostic(
        code(rtt::trust::key_id_collision),
        help("remove one of them; signatures name keys by id, so the two cannot be told apart")
    )]
    KeyIdCollision {
        /// The shared id.
        key_id: KeyId,
        /// One source.
        first: String,
        /// The other.
        second: String,
    },
    /// More signatures required than there are keys.
    #[error(
        "failed to load the trust policy: threshold {threshold} but only {n_keys} distinct trusted key(s), so no plan could ever be accepted"
    )]
    #[diagnostic(
        code(rtt::trust::threshold_unreachable),
        help("lower the threshold in policy.json or add public keys to keys/")
    )]
    ThresholdUnreachable {
        /// The policy's threshold.
        threshold: u32,
        /// Distinct keys in the store.
        n_keys: usize,
    },
    /// The OS refused.
    #[error("failed to read {}: {reason}", .path.display())]
    #[diagnostic(code(rtt::trust::io))]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn key(seed: u8) -> PublicKey {
        SecretKey::from_seed(&[seed; 32]).public_key()
    }

    #[test]
    fn policy_is_parsed_strictly() {
        assert_eq!(Policy::parse(br#"{"threshold": 2}"#), Ok(Policy { threshold: 2 }));
        for bad in [
            &br#"{"threshold": 0}"#[..],
            br#"{"threshold": -1}"#,
            br#"{"threshold": 1.5}"#,
            br#"{"threshold": "1"}"#,
            br#"{"threshold": 1, "extra": true}"#,
            br#"{"threshold": 1, "threshold": 2}"#,
            br#"{}"#,
            br#"[1]"#,
            b"",
        ] {
            assert!(Policy::parse(bad).is_err(), "{:?} accepted", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_same_key_listed_twice_is_one_key() {
        let store = TrustStore::new(
            [("a.pub".to_owned(), key(1)), ("copy-of-a.pub".to_owned(), key(1)), ("b.pub".to_owned(), key(2))],
            Policy { threshold: 2 },
        )
        .unwrap();
        assert_eq!(store.keys().count(), 2);
        assert_eq!(store.get(&key(1).id()).unwrap().sources, ["a.pub", "copy-of-a.pub"]);
    }

    #[test]
    fn a_threshold_above_the_number_of_distinct_keys_is_refused() {
        let error = TrustStore::new(
            [("a.pub".to_owned(), key(1)), ("copy-of-a.pub".to_owned(), key(1))],
            Policy { threshold: 2 },
        )
        .unwrap_err();
        assert!(matches!(error, TrustStoreError::ThresholdUnreachable { threshold: 2, n_keys: 1 }), "{error:?}");
    }

    #[test]
    fn an_empty_store_is_refused() {
        assert!(matches!(TrustStore::new([], Policy { threshold: 1 }), Err(TrustStoreError::NoKeys)));
    }
}
