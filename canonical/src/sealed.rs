//! Files rtt rewrites in place (`.rtt/state`): a canonical JSON object that
//! carries the sha256 of its own content in `checksum`, then one newline.
//!
//! Plans and registry objects are named by their hash, so damage to them is
//! caught by re-hashing; a state file is named by its role, and a flipped
//! digit in a serial or a breaker count is still valid JSON. The checksum
//! makes every change detectable, and reading requires the exact bytes
//! sealing writes (canonical, one newline), so not even a lost newline
//! passes as intact.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{CanonicalError, Sha256, check_canonical, to_canonical_vec};

/// The member that holds the checksum.
pub const CHECKSUM: &str = "checksum";

/// The file bytes of `value` (which must serialise to an object without a
/// `checksum` member): its canonical form with the checksum added, and a newline.
pub fn seal<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let value = serde_json::to_value(value).map_err(|e| CanonicalError::from_message(e.to_string()))?;
    let Value::Object(mut object) = value else {
        return Err(CanonicalError::from_message("only a JSON object can be sealed".into()));
    };
    if object.contains_key(CHECKSUM) {
        return Err(CanonicalError::from_message(format!("the object already has a `{CHECKSUM}` member")));
    }
    let checksum = Sha256::of(&to_canonical_vec(&object)?);
    object.insert(CHECKSUM.to_owned(), Value::String(checksum.to_string()));
    let mut bytes = to_canonical_vec(&object)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Reads bytes [`seal`] wrote, refusing anything else: not canonical, no
/// newline or more than one, a missing or wrong checksum, or content `T`
/// does not accept. The message says which.
pub fn open<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    open_or_unsealed(bytes, false).map(|(value, _)| value)
}

/// [`open`], also accepting a file written before sealing existed: exactly
/// canonical JSON and a newline, with no `checksum` member at all. Returns
/// whether the file was sealed. A damaged sealed file never reads as an
/// unsealed one (losing the whole member takes more than a flip or a cut),
/// and every writer seals, so an unsealed file lasts until its next write.
pub fn open_migrating<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, bool), String> {
    open_or_unsealed(bytes, true)
}

fn open_or_unsealed<T: DeserializeOwned>(bytes: &[u8], unsealed_ok: bool) -> Result<(T, bool), String> {
    let body = bytes.strip_suffix(b"\n").ok_or("it does not end with a newline (cut short?)")?;
    check_canonical(body).map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let Value::Object(mut object) = value else { return Err("it is not a JSON object".into()) };
    let written = match object.remove(CHECKSUM) {
        Some(Value::String(text)) => text.parse::<Sha256>().map_err(|e| format!("`{CHECKSUM}`: {e}"))?,
        Some(_) => return Err(format!("`{CHECKSUM}` is not a \"sha256:<hex>\" string")),
        None if unsealed_ok => {
            return serde_json::from_value(Value::Object(object)).map(|v| (v, false)).map_err(|e| e.to_string());
        }
        None => return Err(format!("it has no `{CHECKSUM}` (written by an older rtt, or damaged)")),
    };
    let actual = Sha256::of(&to_canonical_vec(&object).map_err(|e| e.to_string())?);
    if actual != written {
        return Err(format!("its content hashes to {actual}, not the {written} it was sealed with"));
    }
    serde_json::from_value(Value::Object(object)).map(|v| (v, true)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct State {
        serial: u64,
        plan: String,
    }

    #[test]
    fn sealed_bytes_open_and_any_change_is_refused() {
        let state = State { serial: 12, plan: "p".into() };
        let bytes = seal(&state).unwrap();
        assert!(bytes.starts_with(br#"{"checksum":"sha256:"#) && bytes.ends_with(b"\"serial\":12}\n"));
        assert_eq!(open::<State>(&bytes).unwrap(), state);
        for at in 0..bytes.len() {
            for bit in [0x01, 0x10, 0x80] {
                let mut damaged = bytes.clone();
                damaged[at] ^= bit;
                assert!(open::<State>(&damaged).is_err(), "byte {at} ^ {bit:#x} passed");
            }
        }
        for len in 0..bytes.len() {
            assert!(open::<State>(&bytes[..len]).is_err(), "cut to {len} passed");
        }
        let mut twice = bytes.clone();
        twice.push(b'\n');
        assert!(open::<State>(&twice).is_err());
    }

    #[test]
    fn a_file_without_checksum_says_so_unless_migrating() {
        let unsealed = b"{\"plan\":\"p\",\"serial\":12}\n";
        let error = open::<State>(unsealed).unwrap_err();
        assert!(error.contains("no `checksum`"), "{error}");
        assert_eq!(open_migrating::<State>(unsealed).unwrap(), (State { serial: 12, plan: "p".into() }, false));
        // Unsealed is still exact: canonical, one newline.
        assert!(open_migrating::<State>(b"{\"plan\":\"p\", \"serial\":12}\n").is_err());
        assert!(open_migrating::<State>(b"{\"plan\":\"p\",\"serial\":12}").is_err());
        let sealed = seal(&State { serial: 12, plan: "p".into() }).unwrap();
        assert!(open_migrating::<State>(&sealed).unwrap().1, "a sealed file reads as sealed");
    }
}
