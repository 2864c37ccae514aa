//! Counting who vouches for a manifest.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;

use rtt_canonical::Sha256;

use crate::keys::KeyId;
use crate::registry::metadata::{TargetsProblem, VerifiedTargets};

/// A targets file that counts for nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// The file's name in `targets/`.
    pub file: String,
    /// Why it does not count.
    pub problem: TargetsProblem,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "targets/{}: {}", self.file, self.problem)
    }
}

/// The verified targets files of a registry and the threshold a manifest
/// must meet. Built only from files that passed [`verify_targets`], one per
/// signer, so a signer counts at most once.
///
/// [`verify_targets`]: crate::registry::verify_targets
#[derive(Debug, Clone)]
pub struct Attestations {
    threshold: u32,
    signers: BTreeMap<KeyId, VerifiedTargets>,
    problems: Vec<FileProblem>,
}

impl Attestations {
    /// From verified files (keyed by signer: a second file of one signer
    /// replaces nothing and is reported) and the problems found.
    pub fn new(threshold: u32, verified: Vec<VerifiedTargets>, mut problems: Vec<FileProblem>) -> Self {
        let mut signers = BTreeMap::new();
        for file in verified {
            let name = format!("{}.json", file.signer);
            match signers.entry(file.signer) {
                Entry::Occupied(_) => problems.push(FileProblem {
                    file: name,
                    problem: TargetsProblem::Signature(format!("a second file of signer {}", file.signer)),
                }),
                Entry::Vacant(slot) => {
                    slot.insert(file);
                }
            }
        }
        Self { threshold, signers, problems }
    }

    /// The registry threshold.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// The files that count, by signer.
    pub fn signers(&self) -> &BTreeMap<KeyId, VerifiedTargets> {
        &self.signers
    }

    /// The files that do not count.
    pub fn problems(&self) -> &[FileProblem] {
        &self.problems
    }

    /// The signers vouching for `hash` as agent `id`; an error when fewer
    /// than the threshold do.
    pub fn check(&self, id: &str, hash: &Sha256) -> Result<Vec<KeyId>, Box<Unattested>> {
        let mut signed_by = Vec::new();
        let mut elsewhere = Vec::new();
        for (signer, file) in &self.signers {
            match file.targets.get(id) {
                Some(vouched) if vouched == hash => signed_by.push(*signer),
                Some(vouched) => elsewhere.push((*signer, *vouched)),
                None => {}
            }
        }
        if signed_by.len() >= self.threshold as usize {
            return Ok(signed_by);
        }
        Err(Box::new(Unattested {
            id: id.to_owned(),
            hash: *hash,
            threshold: self.threshold,
            signed_by,
            elsewhere,
            not_counted: self.problems.iter().map(ToString::to_string).collect(),
        }))
    }
}

/// A manifest without enough registry signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unattested {
    /// The agent.
    pub id: String,
    /// The manifest asked for.
    pub hash: Sha256,
    /// Signatures needed.
    pub threshold: u32,
    /// The signers that do vouch for it.
    pub signed_by: Vec<KeyId>,
    /// Signers vouching for another manifest under this id.
    pub elsewhere: Vec<(KeyId, Sha256)>,
    /// Targets files that counted for nothing (the same for every manifest;
    /// not part of the message, which callers list once).
    pub not_counted: Vec<String>,
}

impl fmt::Display for Unattested {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "manifest {} of agent {} has {} of the {} registry signature(s) it needs",
            self.hash,
            self.id,
            self.signed_by.len(),
            self.threshold
        )?;
        if !self.signed_by.is_empty() {
            let ids: Vec<String> = self.signed_by.iter().map(ToString::to_string).collect();
            write!(f, " (signed by {})", ids.join(", "))?;
        }
        for (signer, other) in &self.elsewhere {
            write!(f, "; {signer} vouches for {other} as {} instead", self.id)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(seed: u8, targets: &[(&str, &[u8])]) -> VerifiedTargets {
        VerifiedTargets {
            signer: KeyId::of(&[seed; 32]),
            version: 1,
            hash: Sha256::of(&[seed]),
            expires: "2027-01-01T00:00:00Z".into(),
            targets: targets.iter().map(|(id, m)| ((*id).to_owned(), Sha256::of(m))).collect(),
        }
    }

    #[test]
    fn a_manifest_needs_the_threshold_of_distinct_signers_for_its_exact_hash() {
        let a = Sha256::of(b"a");
        let two = Attestations::new(2, vec![file(1, &[("a@1", b"a")]), file(2, &[("a@1", b"a")])], vec![]);
        assert_eq!(two.check("a@1", &a).unwrap().len(), 2);
        let split = Attestations::new(2, vec![file(1, &[("a@1", b"a")]), file(2, &[("a@1", b"evil")])], vec![]);
        let error = split.check("a@1", &a).unwrap_err();
        assert_eq!(error.signed_by.len(), 1);
        assert!(error.to_string().contains("instead"), "{error}");
        assert!(two.check("b@1", &a).is_err());
        assert!(two.check("a@1", &Sha256::of(b"b")).is_err());
    }

    #[test]
    fn one_signer_counts_once_however_many_files_name_it() {
        let padded = Attestations::new(2, vec![file(1, &[("a@1", b"a")]), file(1, &[("a@1", b"a")])], vec![]);
        let error = padded.check("a@1", &Sha256::of(b"a")).unwrap_err();
        assert_eq!(error.signed_by.len(), 1);
        assert!(error.not_counted.iter().any(|p| p.contains("a second file")), "{error:?}");
    }
}
