//! The registry's trust files on disk: reading the targets files into
//! [`Attestations`], keeping the versions seen (`.rtt/state`), and signing
//! manifests into a signer's own targets file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rtt_canonical::Sha256;
use rtt_durable::{READ_WRITE, RegistryLayout, StateLayout, write_atomic};

use crate::keys::{KeyId, SecretKey};
use crate::registry::attest::{Attestations, FileProblem};
use crate::registry::metadata::{Seen, SeenTargets, Targets, TargetsProblem, sign_targets, verify_targets};
use crate::store::{Policy, TrustStore, TrustStoreError};

/// Largest targets file read (an id and a hash are ~100 bytes: a million agents).
const MAX_TARGETS_BYTES: u64 = 128 << 20;

/// The attestations of a registry and the versions seen before reading them.
#[derive(Debug, Clone)]
pub struct LoadedTargets {
    /// Who vouches for what.
    pub attestations: Attestations,
    /// `.rtt/state/registry-targets.json` as it was.
    pub seen: SeenTargets,
}

/// Reads every targets file under `registry` and checks it against the
/// registry signers of `trust_dir`, the versions seen in `state_dir` and
/// `now`. `None` when the policy sets no `registry_threshold`.
pub fn load_attestations(
    trust_dir: &Path,
    registry: &RegistryLayout,
    state_dir: &Path,
    now: SystemTime,
) -> Result<Option<LoadedTargets>, RegistryTrustError> {
    let Some(signers) = TrustStore::load_registry_signers(trust_dir)? else { return Ok(None) };
    let seen = read_seen(state_dir)?;
    let mut verified = Vec::new();
    let mut problems = Vec::new();
    for (name, path) in targets_files(&registry.targets_dir())? {
        let problem = |problem| FileProblem { file: name.clone(), problem };
        let Some(stem) = name.strip_suffix(".json").filter(|stem| stem.parse::<KeyId>().is_ok()) else {
            problems.push(problem(TargetsProblem::Malformed("not named <key id>.json".into())));
            continue;
        };
        let bytes = read_capped(&path)?;
        match verify_targets(stem, &bytes, &signers, &seen, now) {
            Ok(file) => verified.push(file),
            Err(why) => problems.push(problem(why)),
        }
    }
    Ok(Some(LoadedTargets { attestations: Attestations::new(signers.policy().threshold, verified, problems), seen }))
}

/// Raises the versions seen to those of the files that counted (never
/// lowers one), so an older file put back later is refused as a replay.
pub fn record_seen(state_dir: &Path, loaded: &LoadedTargets) -> Result<(), RegistryTrustError> {
    match loaded.seen.advanced(loaded.attestations.signers().values()) {
        Some(next) => write_seen(state_dir, &next),
        None => Ok(()),
    }
}

/// What [`Draft::sign`] wrote.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The targets file.
    pub path: PathBuf,
    /// Its signer.
    pub signer: KeyId,
    /// Its new version.
    pub version: u64,
    /// When it expires.
    pub expires: String,
    /// Manifests it vouches for now.
    pub targets: usize,
    /// Whether the signer is a registry signer of a policy with a
    /// `registry_threshold` (`None`: the policy sets none, so nothing is
    /// required yet).
    pub trusted: Option<bool>,
}

/// A signer's targets file, read and checked, ready to take more
/// manifests: [`prepare_signing`] does every check that can fail before the
/// caller changes anything (such as adding manifests to the index), then
/// [`Draft::sign`] writes.
#[derive(Debug)]
pub struct Draft<'a> {
    key: &'a SecretKey,
    path: PathBuf,
    dir: PathBuf,
    state_dir: PathBuf,
    seen: SeenTargets,
    targets: BTreeMap<String, Sha256>,
    version: u64,
    trusted: Option<bool>,
}

/// Reads `key`'s targets file under `registry`: it keeps what it vouched
/// for before. An existing file of this signer that does not verify
/// (edited, replayed) is refused, not overwritten, so the signer sees it;
/// an expired one is renewed. Under a registry threshold the key must be
/// a registry signer.
pub fn prepare_signing<'a>(
    trust_dir: &Path,
    registry: &RegistryLayout,
    state_dir: &Path,
    key: &'a SecretKey,
    now: SystemTime,
) -> Result<Draft<'a>, RegistryTrustError> {
    let signer = key.public_key().id();
    let signers = TrustStore::load_registry_signers(trust_dir)?;
    let trusted = signers.as_ref().map(|store| store.get(&signer).is_some());
    if trusted == Some(false) {
        return Err(RegistryTrustError::NotASigner {
            key_id: signer,
            revoked: signers.as_ref().is_some_and(|s| s.is_revoked(&signer)),
            dir: rtt_durable::TrustLayout::at(trust_dir).registry_keys(),
        });
    }
    let path = registry.targets(&signer.to_string());
    let seen = read_seen(state_dir)?;
    let mut targets = BTreeMap::new();
    let mut version = seen.signers.get(&signer.to_string()).map_or(0, |s| s.version);
    match std::fs::read(&path) {
        Ok(bytes) => {
            // Checked against this key alone: what it signed before is all it keeps.
            let own = TrustStore::new([(String::from("signing key"), key.public_key())], Policy { threshold: 1 })?;
            let file = match verify_targets(&signer.to_string(), &bytes, &own, &seen, now) {
                Ok(file) => file.targets,
                // Every check before expiry passed, so its content is the signer's.
                Err(TargetsProblem::Expired { .. }) => {
                    Targets::parse(&bytes)
                        .map_err(|reason| RegistryTrustError::Own {
                            path: path.clone(),
                            problem: TargetsProblem::Malformed(reason),
                        })?
                        .targets
                }
                Err(problem) => return Err(RegistryTrustError::Own { path, problem }),
            };
            targets = file;
            version = version.max(Targets::parse(&bytes).map_or(0, |t| t.version));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(RegistryTrustError::Io { path, reason: e.to_string() }),
    }
    Ok(Draft {
        key,
        path,
        dir: registry.targets_dir(),
        state_dir: state_dir.to_owned(),
        seen,
        targets,
        version,
        trusted,
    })
}

impl Draft<'_> {
    /// Adds `manifests` (agent id → hash; an id already there now means
    /// this hash), raises the version by one, sets the expiry `valid_for`
    /// from `now`, signs, writes the file atomically and records the version
    /// as seen.
    pub fn sign(
        mut self,
        manifests: &BTreeMap<String, Sha256>,
        valid_for: Duration,
        now: SystemTime,
    ) -> Result<Signed, RegistryTrustError> {
        let io = |path: &Path, reason: String| RegistryTrustError::Io { path: path.to_owned(), reason };
        let signer = self.key.public_key().id();
        self.targets.extend(manifests.iter().map(|(id, hash)| (id.clone(), *hash)));
        let mut file = Targets::new(signer, self.version + 1, now + valid_for, self.targets);
        sign_targets(&mut file, self.key).map_err(|e| io(&self.path, e.to_string()))?;
        let bytes = file.to_file_bytes().map_err(|e| io(&self.path, e.to_string()))?;
        let hash = Sha256::of(&file.signed_bytes().map_err(|e| io(&self.path, e.to_string()))?);
        std::fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e.to_string()))?;
        write_atomic(&self.path, &bytes, READ_WRITE).map_err(|e| io(&self.path, e.to_string()))?;
        self.seen.signers.insert(signer.to_string(), Seen { version: file.version, hash });
        write_seen(&self.state_dir, &self.seen)?;
        Ok(Signed {
            path: self.path,
            signer,
            version: file.version,
            expires: file.expires,
            targets: file.targets.len(),
            trusted: self.trusted,
        })
    }
}

/// `(file name, path)` of every `*.json` in `dir`, sorted; none when `dir`
/// does not exist. Other files (an atomic write's leftover temp file) are
/// not targets files.
fn targets_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, RegistryTrustError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RegistryTrustError::Io { path: dir.to_owned(), reason: e.to_string() }),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| RegistryTrustError::Io { path: dir.to_owned(), reason: e.to_string() })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            files.push((name, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

fn read_capped(path: &Path) -> Result<Vec<u8>, RegistryTrustError> {
    let io = |e: std::io::Error| RegistryTrustError::Io { path: path.to_owned(), reason: e.to_string() };
    let mut bytes = Vec::new();
    std::fs::File::open(path).map_err(io)?.take(MAX_TARGETS_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_TARGETS_BYTES {
        return Err(RegistryTrustError::Io {
            path: path.to_owned(),
            reason: format!("larger than {} MiB, the most a targets file may be", MAX_TARGETS_BYTES >> 20),
        });
    }
    Ok(bytes)
}

/// `registry-targets.json`; none is nothing seen yet, a damaged one an error
/// (losing it would switch replay protection off).
pub fn read_seen(state_dir: &Path) -> Result<SeenTargets, RegistryTrustError> {
    let path = StateLayout::at(state_dir).registry_targets();
    match std::fs::read(&path) {
        Ok(bytes) => {
            rtt_canonical::sealed::open(&bytes).map_err(|reason| RegistryTrustError::SeenCorrupt { path, reason })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SeenTargets::default()),
        Err(e) => Err(RegistryTrustError::Io { path, reason: e.to_string() }),
    }
}

fn write_seen(state_dir: &Path, seen: &SeenTargets) -> Result<(), RegistryTrustError> {
    let path = StateLayout::at(state_dir).registry_targets();
    let io = |reason: String| RegistryTrustError::Io { path: path.clone(), reason };
    std::fs::create_dir_all(state_dir).map_err(|e| io(e.to_string()))?;
    let bytes = rtt_canonical::sealed::seal(seen).map_err(|e| io(e.to_string()))?;
    write_atomic(&path, &bytes, READ_WRITE).map_err(|e| io(e.to_string()))
}

/// The registry's trust files cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RegistryTrustError {
    /// The trust store (policy, registry signers) is unusable.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] TrustStoreError),
    /// The signing key is not a registry signer.
    #[error("failed to sign manifests: key {key_id} is {} registry signer", if *.revoked { "a revoked" } else { "not a" })]
    #[diagnostic(
        code(rtt::registry::not_a_signer),
        help("registry signers are the .pub files in {}; its signatures would count for nothing", .dir.display())
    )]
    NotASigner {
        /// The key's id.
        key_id: KeyId,
        /// Whether it was revoked.
        revoked: bool,
        /// `registry-keys/`.
        dir: PathBuf,
    },
    /// The signer's own targets file does not verify.
    #[error("failed to sign manifests: {} {problem}", .path.display())]
    #[diagnostic(
        code(rtt::registry::own_targets),
        help(
            "someone changed or replaced this signer's file; restore the newest one rtt wrote, or remove it and sign every manifest this key vouches for again"
        )
    )]
    Own {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: TargetsProblem,
    },
    /// `registry-targets.json` is damaged.
    #[error("failed to read the registry versions seen {}: {reason}", .path.display())]
    #[diagnostic(
        code(rtt::registry::seen_corrupt),
        help(
            "the file is written only by rtt; restore it from a backup (deleting it would switch replay protection off)"
        )
    )]
    SeenCorrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The OS refused.
    #[error("failed to access {}: {reason}", .path.display())]
    #[diagnostic(code(rtt::registry::trust_io))]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
}
