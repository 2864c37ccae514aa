//! Strict JSON for the small trust files (policy, applied state).

use serde::de::DeserializeOwned;

/// Deserialises a JSON object into `T`.
///
/// serde's derived structs also accept a JSON array of the field values
/// (`[1]` for `{"threshold": 1}`); these files have one spelling, the object.
/// Duplicate and unknown fields are refused by the derive
/// (`deny_unknown_fields` on each type).
pub fn from_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err("expected a JSON object".into());
    }
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}
