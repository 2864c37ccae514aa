//! `verify`: is this plan file one that the trust store's policy accepts?
//!
//! Checks, in order, each a separate function so callers can list them:
//! 1. [`parse_plan`] — the bytes are UTF-8 and a version-1 plan (no unknown
//!    or duplicate fields, integers JSON carries exactly), laid out as rtt
//!    writes it; the signed bytes are cut out of the file as they are
//!    (`layout`), so signatures are checked against exactly the bytes on disk,
//!    and those bytes must be the canonical form of what they hold (no
//!    duplicate keys, nothing spelled otherwise than JCS spells it);
//! 2. [`check_signatures`] — at least `threshold` signatures verify strictly
//!    under distinct trusted keys; everything that does not count is reported;
//! 3. [`check_serial`] — the serial is above the highest applied one.
//!
//! Fail closed: [`VerifiedPlan`] can only be made by passing all of them.

use std::collections::BTreeSet;
use std::fmt;

use rtt_canonical::Sha256;
use rtt_plan::PlanDocument;
use serde::Serialize;

use crate::keys::{ED25519, KeyId, parse_signature};
use crate::signing::check_exact_integers;
use crate::state::AppliedState;
use crate::store::TrustStore;
use rtt_plan::layout::{LayoutError, signed_bytes_in_file};

/// A plan that passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedPlan {
    document: PlanDocument,
    hash: Sha256,
    signatures: SignatureReport,
    highest_applied: Option<u64>,
}

impl VerifiedPlan {
    /// The plan.
    pub fn document(&self) -> &PlanDocument {
        &self.document
    }

    /// The plan hash (sha256 of the signed bytes).
    pub fn hash(&self) -> Sha256 {
        self.hash
    }

    /// The trusted keys whose signatures counted, sorted.
    pub fn signed_by(&self) -> &[KeyId] {
        &self.signatures.counted
    }

    /// Signatures that did not count, with the reason.
    pub fn ignored(&self) -> &[IgnoredSignature] {
        &self.signatures.ignored
    }

    /// The highest applied serial the plan was checked against (`None`: nothing applied yet).
    pub fn highest_applied(&self) -> Option<u64> {
        self.highest_applied
    }

    /// The plan, leaving the proof behind.
    pub fn into_document(self) -> PlanDocument {
        self.document
    }
}

/// Runs every check: [`parse_plan`], [`check_signatures`], [`check_serial`].
///
/// `applied` is the state to protect against rollback (`None`: nothing applied yet).
pub fn verify_plan(
    bytes: &[u8],
    store: &TrustStore,
    applied: Option<&AppliedState>,
) -> Result<VerifiedPlan, Rejection> {
    let parsed = parse_plan(bytes)?;
    let signatures = check_signatures(&parsed, store)?;
    check_serial(&parsed.document, applied)?;
    Ok(VerifiedPlan {
        hash: parsed.hash,
        document: parsed.document,
        signatures,
        highest_applied: applied.map(|a| a.highest_serial),
    })
}

/// A plan file that parsed strictly; not yet trusted.
#[derive(Debug, Clone)]
pub struct ParsedPlan {
    /// The document.
    pub document: PlanDocument,
    /// Its signed bytes (JCS without `signatures`).
    pub signed_bytes: Vec<u8>,
    /// sha256 of the signed bytes.
    pub hash: Sha256,
}

/// Check 1: the bytes are a version-1 plan in exactly its canonical form.
pub fn parse_plan(bytes: &[u8]) -> Result<ParsedPlan, Rejection> {
    let text = std::str::from_utf8(bytes).map_err(|e| Rejection::Malformed { reason: e.to_string() })?;
    let document = PlanDocument::parse(text).map_err(|reason| Rejection::Malformed { reason })?;
    check_exact_integers(&document).map_err(|e| Rejection::Malformed { reason: e.to_string() })?;
    let signed_bytes = signed_bytes_in_file(bytes, &document.signatures).map_err(|error| Rejection::NotCanonical {
        reason: match error {
            LayoutError::Framing => "it is not one JSON object followed by one newline",
            LayoutError::NoSignaturesMember => "its signatures are not where and as rtt writes them",
        }
        .to_owned(),
    })?;
    // The signed bytes must mean exactly one thing: what was parsed. A
    // duplicate key (the parse kept the last) or any other spelling would
    // let two readers of the same signed file see different plans.
    rtt_canonical::check_canonical(&signed_bytes).map_err(|e| {
        // Name the place in the file, not in the signed bytes cut from it.
        let cut = bytes.iter().zip(&signed_bytes).take_while(|(a, b)| a == b).count();
        let member = bytes.len() - 1 - signed_bytes.len();
        let offset = if e.offset < cut { e.offset } else { e.offset + member };
        Rejection::NotCanonical { reason: format!("byte {offset}: {}", e.reason) }
    })?;
    let hash = Sha256::of(&signed_bytes);
    Ok(ParsedPlan { document, signed_bytes, hash })
}

/// Which signatures counted and which did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureReport {
    /// Trusted keys with a valid signature, sorted, each once.
    pub counted: Vec<KeyId>,
    /// Everything else, in file order.
    pub ignored: Vec<IgnoredSignature>,
}

/// A signature that did not count toward the threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoredSignature {
    /// Its `key_id` as written.
    pub key_id: String,
    /// Why it did not count.
    pub reason: IgnoreReason,
}

/// Why a signature did not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum IgnoreReason {
    /// `alg` is not `ed25519`.
    UnknownAlgorithm(String),
    /// `key_id` is not 16 lowercase hex digits.
    MalformedKeyId,
    /// No trusted key has this id.
    UnknownKey,
    /// The key was revoked (`rtt keys revoke`).
    Revoked,
    /// This key already counted (the same signature or key listed twice).
    AlreadyCounted,
    /// `sig` is not 128 lowercase hex digits.
    MalformedSignature,
    /// The signature does not verify (strictly) for these bytes under this key.
    Invalid,
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownAlgorithm(alg) => write!(f, "unknown algorithm {alg:?} (only {ED25519:?} is accepted)"),
            Self::MalformedKeyId => f.write_str("key_id is not 16 lowercase hex digits"),
            Self::UnknownKey => f.write_str("no trusted key has this id"),
            Self::Revoked => f.write_str("the key was revoked (revoked.json)"),
            Self::AlreadyCounted => f.write_str("this key already counted once"),
            Self::MalformedSignature => f.write_str("sig is not 128 lowercase hex digits"),
            Self::Invalid => {
                f.write_str("signature does not verify for this plan under this key (tampered or wrong plan)")
            }
        }
    }
}

impl fmt::Display for IgnoredSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {:?}: {}", self.key_id, self.reason)
    }
}

/// Check 2: at least `threshold` valid signatures from distinct trusted keys.
///
/// The store maps each key id to one key, so distinct ids are distinct keys;
/// a key listed under two ids cannot happen (the id is derived from the key).
pub fn check_signatures(parsed: &ParsedPlan, store: &TrustStore) -> Result<SignatureReport, Rejection> {
    check_signature_list(&parsed.signed_bytes, &parsed.document.signatures, store)
}

/// [`check_signatures`] for any signed document: `signatures` over `signed_bytes`.
pub fn check_signature_list(
    signed_bytes: &[u8],
    signatures: &[rtt_plan::Signature],
    store: &TrustStore,
) -> Result<SignatureReport, Rejection> {
    let mut counted = BTreeSet::new();
    let mut ignored = Vec::new();
    for signature in signatures {
        let ignore = |reason| IgnoredSignature { key_id: signature.key_id.clone(), reason };
        if signature.alg != ED25519 {
            ignored.push(ignore(IgnoreReason::UnknownAlgorithm(signature.alg.clone())));
            continue;
        }
        let Ok(key_id) = signature.key_id.parse::<KeyId>() else {
            ignored.push(ignore(IgnoreReason::MalformedKeyId));
            continue;
        };
        let Some(trusted) = store.get(&key_id) else {
            ignored.push(ignore(if store.is_revoked(&key_id) {
                IgnoreReason::Revoked
            } else {
                IgnoreReason::UnknownKey
            }));
            continue;
        };
        if counted.contains(&key_id) {
            ignored.push(ignore(IgnoreReason::AlreadyCounted));
            continue;
        }
        let Some(sig) = parse_signature(&signature.sig) else {
            ignored.push(ignore(IgnoreReason::MalformedSignature));
            continue;
        };
        if !trusted.key.verify(signed_bytes, &sig) {
            ignored.push(ignore(IgnoreReason::Invalid));
            continue;
        }
        counted.insert(key_id);
    }
    let report = SignatureReport { counted: counted.into_iter().collect(), ignored };
    let threshold = store.policy().threshold;
    if report.counted.len() < threshold as usize {
        return Err(Rejection::ThresholdNotMet { threshold, report });
    }
    Ok(report)
}

/// Check 1b, when the caller names the plan by hash (`--hash`): the file is
/// that plan. A pipeline that passes a hash from the step that reviewed a
/// plan to the one that applies it is refused a swapped file before its
/// signatures are even read.
pub fn check_hash(parsed: &ParsedPlan, expected: &Sha256) -> Result<(), Rejection> {
    if parsed.hash == *expected {
        Ok(())
    } else {
        Err(Rejection::HashMismatch { expected: *expected, actual: parsed.hash })
    }
}

/// Check 3: rollback protection — the serial is strictly above the highest applied one.
pub fn check_serial(document: &PlanDocument, applied: Option<&AppliedState>) -> Result<(), Rejection> {
    match applied {
        Some(state) if document.serial <= state.highest_serial => {
            Err(Rejection::Rollback { serial: document.serial, highest_applied: state.highest_serial })
        }
        _ => Ok(()),
    }
}

/// Why a plan was rejected.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
pub enum Rejection {
    /// Not a plan document.
    #[error("plan rejected: not a valid rtt plan ({reason})")]
    #[diagnostic(code(rtt::verify::malformed), help("plans are written by `rtt plan -o FILE`"))]
    Malformed {
        /// The parser's message.
        reason: String,
    },
    /// A plan, but not laid out as rtt writes plans (canonical JSON, one newline).
    #[error("plan rejected: the file is not in canonical form: {reason}")]
    #[diagnostic(
        code(rtt::verify::not_canonical),
        help("rtt writes and signs plans as canonical JSON (RFC 8785); a reformatted or hand-edited file is refused")
    )]
    NotCanonical {
        /// What is out of place.
        reason: String,
    },
    /// Not the plan the caller named by hash.
    #[error("plan rejected: its hash is {actual}, not the {expected} asked for")]
    #[diagnostic(
        code(rtt::verify::hash),
        help("the file is another plan than the one reviewed; pass the file whose `rtt verify` printed that hash")
    )]
    HashMismatch {
        /// The hash asked for.
        expected: Sha256,
        /// The file's plan hash (sha256 of its signed bytes).
        actual: Sha256,
    },
    /// Too few valid signatures from distinct trusted keys.
    #[error(
        "plan rejected: {} valid signature(s) from distinct trusted keys, the policy needs {threshold}{}",
        .report.counted.len(),
        ignored_suffix(&.report.ignored)
    )]
    #[diagnostic(
        code(rtt::verify::threshold),
        help(
            "sign the plan with trusted keys (`rtt sign PLAN --key KEY`); a plan changed after signing needs new signatures"
        )
    )]
    ThresholdNotMet {
        /// The policy's threshold.
        threshold: u32,
        /// What counted and what did not.
        report: SignatureReport,
    },
    /// A serial at or below the highest applied one: an old plan replayed.
    #[error(
        "plan rejected: serial {serial} is not above the highest applied serial {highest_applied} (rollback protection)"
    )]
    #[diagnostic(
        code(rtt::verify::rollback),
        help("plan again from the plan in force (`rtt plan --previous PLAN`) to get a serial above {highest_applied}")
    )]
    Rollback {
        /// The plan's serial.
        serial: u64,
        /// The highest applied serial in the state.
        highest_applied: u64,
    },
}

impl Rejection {
    /// The check that failed, as named in `rtt verify` output.
    pub fn check(&self) -> &'static str {
        match self {
            Self::Malformed { .. } | Self::NotCanonical { .. } => "format",
            Self::HashMismatch { .. } => "hash",
            Self::ThresholdNotMet { .. } => "signatures",
            Self::Rollback { .. } => "serial",
        }
    }
}

fn ignored_suffix(ignored: &[IgnoredSignature]) -> String {
    if ignored.is_empty() {
        return String::new();
    }
    let list: Vec<String> = ignored.iter().map(ToString::to_string).collect();
    format!("; not counted: {}", list.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;
    use crate::signing::sign_document;
    use crate::store::Policy;

    const UNSIGNED: &str = r#"{"inputs":{"config":"sha256:0000000000000000000000000000000000000000000000000000000000000000","previous":null,"registry":null},"kind":"rtt.plan","objective":{"latency_us":0,"moves":0,"total":0},"placements":[],"routes":[],"serial":1,"signatures":[],"solver":{"bound":0,"gap":0,"objective":0,"status":"optimal"},"version":1,"views":{}}"#;

    fn signed(key: &SecretKey) -> String {
        let mut document = PlanDocument::parse(UNSIGNED).unwrap();
        sign_document(&mut document, key).unwrap();
        String::from_utf8(document.to_file_bytes().unwrap()).unwrap()
    }

    #[test]
    fn a_serial_json_cannot_carry_exactly_is_malformed() {
        let text = signed(&SecretKey::from_seed(&[1; 32])).replace("\"serial\":1,", "\"serial\":9007199254740993,");
        let error = parse_plan(text.as_bytes()).unwrap_err();
        assert!(matches!(&error, Rejection::Malformed { reason } if reason.contains("2^53")), "{error}");
    }

    #[test]
    fn signed_bytes_that_are_not_canonical_are_refused_though_the_signature_verifies() {
        let key = SecretKey::from_seed(&[1; 32]);
        let store = TrustStore::new([("k1.pub".to_owned(), key.public_key())], Policy { threshold: 1 }).unwrap();
        // A trusted key signs exactly these bytes, so only the canonical
        // check stands between them and the last-key-wins parse.
        let forge = |signed: &str| -> Vec<u8> {
            let sig = hex::encode(key.sign(signed.as_bytes()));
            let member =
                format!(r#","signatures":[{{"alg":"ed25519","key_id":"{}","sig":"{sig}"}}]"#, key.public_key().id());
            let at = signed.find(r#","solver""#).unwrap();
            format!("{}{member}{}\n", &signed[..at], &signed[at..]).into_bytes()
        };
        let canonical = UNSIGNED.replace(r#","signatures":[]"#, "");
        assert!(verify_plan(&forge(&canonical), &store, None).is_ok(), "the control case verifies");
        for (what, signed, there) in [
            ("a duplicate provider", canonical.replace(r#""views":{}"#, r#""views":{"p":[],"p":[]}"#), r#""p":[]}"#),
            ("an escaped character", canonical.replace(r#""kind":"rtt.plan""#, r#""kind":"rtt\u002eplan""#), r"\u002e"),
            ("a number spelled long", canonical.replace(r#""total":0"#, r#""total":0.0"#), "0.0}"),
        ] {
            let file = forge(&signed);
            let error = verify_plan(&file, &store, None).expect_err(what);
            let Rejection::NotCanonical { reason } = &error else { panic!("{what}: {error}") };
            assert_eq!(error.check(), "format", "{what}");
            // The byte named is the file's, where it departs from canonical form.
            let offset: usize = reason["byte ".len()..reason.find(':').unwrap()].parse().unwrap();
            assert!(file[offset..].starts_with(there.as_bytes()), "{what}: {reason}");
        }
    }

    #[test]
    fn the_report_lists_what_did_not_count_and_why() {
        let (trusted, stranger) = (SecretKey::from_seed(&[1; 32]), SecretKey::from_seed(&[2; 32]));
        let mut document = PlanDocument::parse(&signed(&trusted)).unwrap();
        sign_document(&mut document, &stranger).unwrap();
        let bytes = document.to_file_bytes().unwrap();
        let store = TrustStore::new([("k1.pub".to_owned(), trusted.public_key())], Policy { threshold: 1 }).unwrap();
        let verified = verify_plan(&bytes, &store, None).unwrap();
        assert_eq!(verified.signed_by(), [trusted.public_key().id()]);
        assert_eq!(verified.ignored().len(), 1);
        assert_eq!(verified.ignored()[0].key_id, stranger.public_key().id().to_string());
        assert_eq!(verified.ignored()[0].reason, IgnoreReason::UnknownKey);
    }

    #[test]
    fn the_serial_must_be_strictly_above_the_highest_applied_one() {
        let document = PlanDocument::parse(UNSIGNED).unwrap();
        let state = |highest_serial| AppliedState { plan: Sha256::of(b"x"), serial: 0, highest_serial };
        assert!(check_serial(&document, None).is_ok());
        assert!(check_serial(&document, Some(&state(0))).is_ok());
        assert!(matches!(
            check_serial(&document, Some(&state(1))),
            Err(Rejection::Rollback { serial: 1, highest_applied: 1 })
        ));
        assert!(matches!(check_serial(&document, Some(&state(7))), Err(Rejection::Rollback { .. })));
    }
}
