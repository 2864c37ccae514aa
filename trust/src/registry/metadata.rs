//! One registry signer's targets file and the check of it.
//!
//! Format (canonical JSON and a newline, like a plan):
//! `{"expires": "2027-03-04T00:00:00Z", "format": 1, "kind":
//! "rtt.registry.targets", "signatures": [one, by the signer], "signer":
//! "<key id>", "targets": {"<agent id>": "sha256:…"}, "version": N}`.
//! Signed bytes: the canonical document without `signatures`, cut out of
//! the file exactly as for plans (`rtt_plan::layout`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use rtt_canonical::{CanonicalError, Sha256, to_canonical_vec};
use rtt_plan::Signature;
use rtt_plan::layout::signed_bytes_in_file;
use rtt_plan::views::check_agent_id;
use serde::{Deserialize, Serialize};

use crate::keys::{ED25519, KeyId, SecretKey, parse_signature};
use crate::signing::{MAX_EXACT_INTEGER, SignError, add_signature};
use crate::store::TrustStore;

/// `kind` of a targets file.
pub const TARGETS_KIND: &str = "rtt.registry.targets";

/// A registry signer's statement: these agents' manifests are these hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Always [`TARGETS_KIND`].
    pub kind: String,
    /// The file format, 1.
    pub format: u32,
    /// The key id of the one key that signs this file.
    pub signer: String,
    /// Goes up by one with every change; a reader refuses one older than it has seen.
    pub version: u64,
    /// RFC 3339 UTC to the second; past it the file vouches for nothing.
    pub expires: String,
    /// Agent id → the manifest hash vouched for.
    pub targets: BTreeMap<String, Sha256>,
    /// Exactly one signature, by `signer`.
    pub signatures: Vec<Signature>,
}

impl Targets {
    /// An unsigned targets file.
    pub fn new(signer: KeyId, version: u64, expires: SystemTime, targets: BTreeMap<String, Sha256>) -> Self {
        Self {
            kind: TARGETS_KIND.to_owned(),
            format: 1,
            signer: signer.to_string(),
            version,
            expires: format_time(expires),
            targets,
            signatures: Vec::new(),
        }
    }

    /// The canonical bytes without `signatures`: what is signed and hashed.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        let mut value = serde_json::to_value(self).map_err(|e| CanonicalError::from_message(e.to_string()))?;
        if let Some(object) = value.as_object_mut() {
            object.remove("signatures");
        }
        to_canonical_vec(&value)
    }

    /// The file bytes: the whole document in canonical form, then a newline.
    pub fn to_file_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        let mut bytes = to_canonical_vec(self)?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Parses a targets file strictly: the exact shape, kind and format, safe
    /// agent ids, an expiry rtt would have written.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let targets: Targets = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if targets.kind != TARGETS_KIND {
            return Err(format!("kind is {:?}, not {TARGETS_KIND:?}", targets.kind));
        }
        if targets.format != 1 {
            return Err(format!("format {} is not 1, the only one this rtt reads", targets.format));
        }
        if targets.version > MAX_EXACT_INTEGER {
            return Err(format!("version {} is above 2^53 - 1", targets.version));
        }
        for id in targets.targets.keys() {
            check_agent_id(id).map_err(|e| format!("targets: {e}"))?;
        }
        targets.expires_at()?;
        Ok(targets)
    }

    /// When the file stops vouching.
    pub fn expires_at(&self) -> Result<SystemTime, String> {
        let at = humantime::parse_rfc3339(&self.expires)
            .map_err(|e| format!("expires {:?} is not an RFC 3339 UTC time: {e}", self.expires))?;
        if format_time(at) != self.expires {
            return Err(format!("expires {:?} is not written as rtt writes it (YYYY-MM-DDThh:mm:ssZ)", self.expires));
        }
        Ok(at)
    }
}

/// `YYYY-MM-DDThh:mm:ssZ`.
pub fn format_time(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Signs `targets` with `key`, which must be its signer: the file then
/// carries exactly that one signature.
pub fn sign_targets(targets: &mut Targets, key: &SecretKey) -> Result<(), SignError> {
    if targets.version > MAX_EXACT_INTEGER {
        return Err(SignError::InexactInteger(crate::signing::InexactInteger {
            field: "version",
            value: targets.version,
        }));
    }
    targets.signer = key.public_key().id().to_string();
    targets.signatures.clear();
    let message = targets.signed_bytes()?;
    add_signature(&mut targets.signatures, &message, key);
    Ok(())
}

/// A targets file that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTargets {
    /// Its signer.
    pub signer: KeyId,
    /// Its version.
    pub version: u64,
    /// sha256 of its signed bytes.
    pub hash: Sha256,
    /// When it expires.
    pub expires: String,
    /// What it vouches for.
    pub targets: BTreeMap<String, Sha256>,
}

/// Why a targets file vouches for nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetsProblem {
    /// Not a targets document.
    Malformed(String),
    /// A targets document, but its signed bytes are not canonical.
    NotCanonical(String),
    /// The file is named for one key and claims another signer.
    NamedForAnother {
        /// The key id in the file name.
        file: String,
        /// The `signer` inside.
        signer: String,
    },
    /// The signer is not a registry signer.
    UnknownSigner(KeyId),
    /// The signer's key was revoked.
    RevokedSigner(KeyId),
    /// Not exactly one valid signature by the signer.
    Signature(String),
    /// Its expiry has passed.
    Expired {
        /// When it expired.
        expires: String,
    },
    /// Older than a version of it seen before: a replay.
    Replayed {
        /// Its version.
        version: u64,
        /// The newest version seen.
        seen: u64,
    },
    /// The same version as one seen before with other content.
    Forked {
        /// The version.
        version: u64,
    },
}

impl fmt::Display for TargetsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(reason) => write!(f, "not a targets file ({reason})"),
            Self::NotCanonical(reason) => write!(f, "not in canonical form ({reason})"),
            Self::NamedForAnother { file, signer } => {
                write!(f, "named for key {file} but its signer is {signer}")
            }
            Self::UnknownSigner(id) => write!(f, "signer {id} is not a registry signer (trust/registry-keys/)"),
            Self::RevokedSigner(id) => write!(f, "signer {id} is revoked"),
            Self::Signature(reason) => write!(f, "{reason}"),
            Self::Expired { expires } => write!(f, "expired at {expires}"),
            Self::Replayed { version, seen } => {
                write!(f, "version {version} is older than version {seen} seen before (a replay)")
            }
            Self::Forked { version } => write!(f, "version {version} differs from the version {version} seen before"),
        }
    }
}

/// The newest version of each signer's file seen so far, and its hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeenTargets {
    /// Key id → newest version seen.
    pub signers: BTreeMap<String, Seen>,
}

/// One signer's newest file seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seen {
    /// Its version.
    pub version: u64,
    /// sha256 of its signed bytes.
    pub hash: Sha256,
}

impl SeenTargets {
    /// What was seen, raised by `verified`; `None` when nothing is newer.
    pub fn advanced<'a>(&self, verified: impl IntoIterator<Item = &'a VerifiedTargets>) -> Option<SeenTargets> {
        let mut next = self.clone();
        for file in verified {
            let seen = Seen { version: file.version, hash: file.hash };
            let entry = next.signers.entry(file.signer.to_string()).or_insert(seen);
            if file.version > entry.version {
                *entry = seen;
            }
        }
        (next != *self).then_some(next)
    }
}

/// Checks the file `bytes`, found as `<name_id>.json`, against the registry
/// signers, what was seen before and `now`. In order: format, canonical
/// form, the name, the signer, its one signature, expiry, version.
pub fn verify_targets(
    name_id: &str,
    bytes: &[u8],
    signers: &TrustStore,
    seen: &SeenTargets,
    now: SystemTime,
) -> Result<VerifiedTargets, TargetsProblem> {
    let targets = Targets::parse(bytes).map_err(TargetsProblem::Malformed)?;
    let signed = signed_bytes_in_file(bytes, &targets.signatures).map_err(|_| {
        TargetsProblem::NotCanonical(
            "not one JSON object and a newline with its signatures where rtt writes them".into(),
        )
    })?;
    rtt_canonical::check_canonical(&signed).map_err(|e| TargetsProblem::NotCanonical(e.to_string()))?;
    if targets.signer != name_id {
        return Err(TargetsProblem::NamedForAnother { file: name_id.to_owned(), signer: targets.signer });
    }
    let signer: KeyId =
        targets.signer.parse().map_err(|_| TargetsProblem::Malformed(format!("signer {:?}", targets.signer)))?;
    let Some(trusted) = signers.get(&signer) else {
        return Err(if signers.is_revoked(&signer) {
            TargetsProblem::RevokedSigner(signer)
        } else {
            TargetsProblem::UnknownSigner(signer)
        });
    };
    // Exactly one signature, the signer's: a second copy of it (or any other
    // key's) would let one key look like more.
    let [signature] = targets.signatures.as_slice() else {
        return Err(TargetsProblem::Signature(format!(
            "{} signatures; a targets file carries exactly one, by its signer",
            targets.signatures.len()
        )));
    };
    if signature.alg != ED25519 || signature.key_id != targets.signer {
        return Err(TargetsProblem::Signature(format!(
            "signed by {:?} with {:?}, not by its signer {} with ed25519",
            signature.key_id, signature.alg, targets.signer
        )));
    }
    let valid = parse_signature(&signature.sig).is_some_and(|sig| trusted.key.verify(&signed, &sig));
    if !valid {
        return Err(TargetsProblem::Signature("the signature does not verify (changed after signing?)".into()));
    }
    // Parsed already; the error cannot recur.
    let expires = targets.expires_at().map_err(TargetsProblem::Malformed)?;
    if expires <= now {
        return Err(TargetsProblem::Expired { expires: targets.expires });
    }
    let hash = Sha256::of(&signed);
    if let Some(before) = seen.signers.get(&targets.signer) {
        if targets.version < before.version {
            return Err(TargetsProblem::Replayed { version: targets.version, seen: before.version });
        }
        if targets.version == before.version && hash != before.hash {
            return Err(TargetsProblem::Forked { version: targets.version });
        }
    }
    Ok(VerifiedTargets { signer, version: targets.version, hash, expires: targets.expires, targets: targets.targets })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::Policy;

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_seed(&[seed; 32])
    }

    fn store(keys: &[&SecretKey]) -> TrustStore {
        TrustStore::new(
            keys.iter().map(|k| (format!("{}.pub", k.public_key().id()), k.public_key())),
            Policy { threshold: 1 },
        )
        .unwrap()
    }

    fn now() -> SystemTime {
        humantime::parse_rfc3339("2026-12-04T00:00:00Z").unwrap()
    }

    fn signed(key: &SecretKey, version: u64, expires_in_days: u64) -> Vec<u8> {
        let targets = BTreeMap::from([("a@1".to_owned(), Sha256::of(b"a"))]);
        let expires = now() + Duration::from_secs(expires_in_days * 86_400);
        let mut file = Targets::new(key.public_key().id(), version, expires, targets);
        sign_targets(&mut file, key).unwrap();
        file.to_file_bytes().unwrap()
    }

    fn check(key_name: &SecretKey, bytes: &[u8], signers: &TrustStore, seen: &SeenTargets) -> Result<u64, String> {
        verify_targets(&key_name.public_key().id().to_string(), bytes, signers, seen, now())
            .map(|v| v.version)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_signed_file_verifies_and_states_its_targets() {
        let k = key(1);
        let bytes = signed(&k, 3, 30);
        let verified =
            verify_targets(&k.public_key().id().to_string(), &bytes, &store(&[&k]), &SeenTargets::default(), now())
                .unwrap();
        assert_eq!(verified.version, 3);
        assert_eq!(verified.targets["a@1"], Sha256::of(b"a"));
        assert_eq!(verified.expires, "2027-01-03T00:00:00Z");
    }

    #[test]
    fn every_attack_on_one_file_is_named() {
        let (k, stranger) = (key(1), key(2));
        let signers = store(&[&k]);
        let none = SeenTargets::default();
        let good = signed(&k, 3, 30);
        let text = String::from_utf8(good.clone()).unwrap();
        let edited = text.replace("\"version\":3", "\"version\":4");
        let two = {
            let sig = text.split("\"signatures\":[").nth(1).unwrap().split(']').next().unwrap();
            text.replace(sig, &format!("{sig},{sig}"))
        };
        let cases: Vec<(&str, Vec<u8>, &SecretKey, &TrustStore, String)> = vec![
            ("edited", edited.into_bytes(), &k, &signers, "does not verify".into()),
            ("padded", two.into_bytes(), &k, &signers, "2 signatures".into()),
            ("unknown signer", signed(&stranger, 1, 30), &stranger, &signers, "is not a registry signer".into()),
            ("expired", signed(&k, 3, 0), &k, &signers, "expired at 2026-12-04T00:00:00Z".into()),
            ("renamed", good.clone(), &stranger, &signers, "named for key".into()),
            (
                "reformatted",
                text.replace("{\"expires\"", "{ \"expires\"").into_bytes(),
                &k,
                &signers,
                "canonical".into(),
            ),
        ];
        for (what, bytes, name, signers, expected) in cases {
            let error = check(name, &bytes, signers, &none).expect_err(what);
            assert!(error.contains(&expected), "{what}: {error}");
        }
        let seen = |version, hash| SeenTargets {
            signers: BTreeMap::from([(k.public_key().id().to_string(), Seen { version, hash })]),
        };
        let hash = verify_targets(&k.public_key().id().to_string(), &good, &signers, &none, now()).unwrap().hash;
        assert!(check(&k, &good, &signers, &seen(4, hash)).unwrap_err().contains("older than version 4"));
        assert!(check(&k, &good, &signers, &seen(3, Sha256::of(b"other"))).unwrap_err().contains("differs"));
        assert_eq!(check(&k, &good, &signers, &seen(3, hash)), Ok(3));
        assert_eq!(check(&k, &good, &signers, &seen(2, hash)), Ok(3));
        let revoked =
            store(&[&k, &stranger]).without(&crate::store::Revoked { ids: [k.public_key().id()].into() }).unwrap();
        assert!(check(&k, &good, &revoked, &none).unwrap_err().contains("revoked"));
    }

    #[test]
    fn the_seen_versions_only_go_up() {
        let k = key(1);
        let signers = store(&[&k]);
        let at = |version| {
            verify_targets(
                &k.public_key().id().to_string(),
                &signed(&k, version, 30),
                &signers,
                &SeenTargets::default(),
                now(),
            )
            .unwrap()
        };
        let first = SeenTargets::default().advanced([&at(2)]).unwrap();
        assert_eq!(first.signers.values().next().unwrap().version, 2);
        assert_eq!(first.advanced([&at(1)]), None);
        assert_eq!(first.advanced([&at(2)]), None);
        assert_eq!(first.advanced([&at(5)]).unwrap().signers.values().next().unwrap().version, 5);
    }

    #[test]
    fn expiry_is_read_only_as_written() {
        let k = key(1);
        let text = String::from_utf8(signed(&k, 1, 30)).unwrap();
        for bad in ["2027-01-03T00:00:00+00:00", "2027-01-03T00:00:00.5Z", "2027-01-03 00:00:00Z", "tomorrow"] {
            let changed = text.replace("2027-01-03T00:00:00Z", bad);
            assert!(Targets::parse(changed.as_bytes()).is_err(), "{bad} accepted");
        }
    }
}
