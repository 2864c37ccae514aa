//! Adding a signature to a plan document.

use rtt_canonical::CanonicalError;
use rtt_plan::{PlanDocument, Signature};

use crate::keys::{ED25519, KeyId, SecretKey};

/// Largest integer JSON numbers carry exactly (2^53 − 1). RFC 8785 writes
/// every number as an IEEE double, so a larger `u64` would be signed as a
/// different value than the one in memory.
pub const MAX_EXACT_INTEGER: u64 = (1 << 53) - 1;

/// Signs the plan's signed bytes (its JCS without `signatures`) with `key`.
///
/// A signature by the same key is replaced, never duplicated; signatures are
/// kept sorted by key id so that the file's bytes do not depend on who signed
/// first. Ed25519 is deterministic, so signing twice gives identical bytes.
pub fn sign_document(document: &mut PlanDocument, key: &SecretKey) -> Result<KeyId, SignError> {
    check_exact_integers(document)?;
    let message = document.signed_bytes()?;
    Ok(add_signature(&mut document.signatures, &message, key))
}

/// Signs `message` into `signatures`: replacing the key's earlier signature,
/// sorted by key id (the order every signed document keeps).
pub fn add_signature(signatures: &mut Vec<Signature>, message: &[u8], key: &SecretKey) -> KeyId {
    let key_id = key.public_key().id();
    let signature =
        Signature { alg: ED25519.to_owned(), key_id: key_id.to_string(), sig: hex::encode(key.sign(message)) };
    signatures.retain(|s| s.key_id != signature.key_id);
    signatures.push(signature);
    signatures.sort_by(|a, b| (&a.key_id, &a.alg, &a.sig).cmp(&(&b.key_id, &b.alg, &b.sig)));
    key_id
}

/// The `u64` fields of a plan must survive JSON unchanged (the `u32` ones always do).
pub fn check_exact_integers(document: &PlanDocument) -> Result<(), InexactInteger> {
    for (field, value) in [("serial", document.serial), ("objective.moves", document.objective.moves)] {
        if value > MAX_EXACT_INTEGER {
            return Err(InexactInteger { field, value });
        }
    }
    Ok(())
}

/// An integer above 2^53 − 1 in a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {value} is above 2^53 − 1, so its JSON form would be a different number")]
pub struct InexactInteger {
    /// The field.
    pub field: &'static str,
    /// Its value.
    pub value: u64,
}

/// A plan that cannot be signed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SignError {
    /// The plan has no canonical form.
    #[error("failed to sign: {0}")]
    Canonical(#[from] CanonicalError),
    /// An integer JSON cannot carry exactly.
    #[error("failed to sign: {0}")]
    InexactInteger(#[from] InexactInteger),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_json_cannot_carry_are_refused() {
        let text = r#"{"inputs":{"config":"sha256:0000000000000000000000000000000000000000000000000000000000000000","previous":null,"registry":null},"kind":"rtt.plan","objective":{"latency_us":0,"moves":0,"total":0},"placements":[],"routes":[],"serial":1,"signatures":[],"solver":{"bound":0,"gap":0,"objective":0,"status":"optimal"},"version":1,"views":{}}"#;
        let mut document = PlanDocument::parse(text).unwrap();
        let key = SecretKey::from_seed(&[1; 32]);
        document.serial = MAX_EXACT_INTEGER;
        assert!(sign_document(&mut document, &key).is_ok());
        document.serial = MAX_EXACT_INTEGER + 2;
        assert!(matches!(
            sign_document(&mut document, &key),
            Err(SignError::InexactInteger(InexactInteger { field: "serial", .. }))
        ));
    }
}
