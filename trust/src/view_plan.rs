//! Signing and verifying per-provider view plans (`rtt_plan::ViewPlan`):
//! the same keys, threshold and strictness as fleet plans — exact signed
//! bytes cut from the file, canonical, at least `threshold` signatures from
//! distinct trusted keys. What a view plan may be used for (its provider,
//! its fleet plan against the plan in force) is the caller's check.

use rtt_canonical::Sha256;
use rtt_plan::ViewPlan;
use rtt_plan::layout::signed_bytes_in_file;

use crate::keys::{KeyId, SecretKey};
use crate::signing::{MAX_EXACT_INTEGER, SignError, add_signature};
use crate::store::TrustStore;
use crate::verify::{Rejection, SignatureReport, check_signature_list};

/// Signs `plan` with `key` (replacing an earlier signature by that key).
pub fn sign_view_plan(plan: &mut ViewPlan, key: &SecretKey) -> Result<KeyId, SignError> {
    if plan.serial > MAX_EXACT_INTEGER {
        return Err(SignError::InexactInteger(crate::signing::InexactInteger { field: "serial", value: plan.serial }));
    }
    let message = plan.signed_bytes()?;
    Ok(add_signature(&mut plan.signatures, &message, key))
}

/// A view plan whose signatures meet the policy.
#[derive(Debug, Clone)]
pub struct VerifiedViewPlan {
    /// The document.
    pub plan: ViewPlan,
    /// sha256 of its signed bytes.
    pub hash: Sha256,
    /// What counted.
    pub signatures: SignatureReport,
}

/// Parses the file strictly and checks its signatures against `store`.
pub fn verify_view_plan(bytes: &[u8], store: &TrustStore) -> Result<VerifiedViewPlan, Rejection> {
    let malformed = |reason: String| Rejection::Malformed { reason };
    let text = std::str::from_utf8(bytes).map_err(|e| malformed(e.to_string()))?;
    let plan = ViewPlan::parse(text).map_err(malformed)?;
    if plan.serial > MAX_EXACT_INTEGER {
        return Err(malformed(format!("serial {} is above 2^53 - 1", plan.serial)));
    }
    let signed = signed_bytes_in_file(bytes, &plan.signatures).map_err(|_| Rejection::NotCanonical {
        reason: "it is not one JSON object and a newline with its signatures where rtt writes them".into(),
    })?;
    rtt_canonical::check_canonical(&signed)
        .map_err(|e| Rejection::NotCanonical { reason: format!("the signed part: {e}") })?;
    let signatures = check_signature_list(&signed, &plan.signatures, store)?;
    Ok(VerifiedViewPlan { hash: Sha256::of(&signed), plan, signatures })
}

/// Whether the bytes claim to be a view plan (rather than a fleet plan).
pub fn is_view_plan(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, format!("\"kind\":\"{}\"", rtt_plan::VIEW_PLAN_KIND).as_bytes()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Policy;

    fn plan() -> ViewPlan {
        ViewPlan {
            kind: rtt_plan::VIEW_PLAN_KIND.into(),
            version: 1,
            provider: "p".into(),
            fleet_plan: Sha256::of(b"fleet"),
            registry: None,
            serial: 2,
            views: vec![],
            signatures: vec![],
        }
    }

    #[test]
    fn a_signed_view_plan_verifies_and_any_change_is_refused() {
        let key = SecretKey::from_seed(&[3; 32]);
        let store = TrustStore::new([("k.pub".to_owned(), key.public_key())], Policy { threshold: 1 }).unwrap();
        let mut signed = plan();
        sign_view_plan(&mut signed, &key).unwrap();
        let bytes = signed.to_file_bytes().unwrap();
        assert!(is_view_plan(&bytes));
        let verified = verify_view_plan(&bytes, &store).unwrap();
        assert_eq!(verified.hash, Sha256::of(&signed.signed_bytes().unwrap()));
        let other = String::from_utf8(bytes.clone()).unwrap().replace("\"provider\":\"p\"", "\"provider\":\"q\"");
        assert!(matches!(verify_view_plan(other.as_bytes(), &store), Err(Rejection::ThresholdNotMet { .. })));
        let unsigned = plan().to_file_bytes().unwrap();
        assert!(matches!(verify_view_plan(&unsigned, &store), Err(Rejection::ThresholdNotMet { .. })));
    }
}
