//! Adding a signature to a plan document.

use rtt_planner::document::{PlanDocument, Signature};
use rtt_schema::canonical::CanonicalError;

use crate::keys::{ED25519, KeyId, SecretKey};

/// Signs the plan's signed bytes (its JCS without `signatures`) with `key`.
///
/// A signature by the same key is replaced, never duplicated; signatures are
/// kept sorted by key id so that the file's bytes do not depend on who signed
/// first. Ed25519 is deterministic, so signing twice gives identical bytes.
pub fn sign_document(document: &mut PlanDocument, key: &SecretKey) -> Result<KeyId, CanonicalError> {
    let message = document.signed_bytes()?;
    let key_id = key.public_key().id();
    let signature =
        Signature { alg: ED25519.to_owned(), key_id: key_id.to_string(), sig: hex::encode(key.sign(&message)) };
    document.signatures.retain(|s| s.key_id != signature.key_id);
    document.signatures.push(signature);
    document.signatures.sort_by(|a, b| (&a.key_id, &a.alg, &a.sig).cmp(&(&b.key_id, &b.alg, &b.sig)));
    Ok(key_id)
}
