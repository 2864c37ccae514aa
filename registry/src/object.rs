//! What an object is: canonical JSON (RFC 8785) bytes of bounded size,
//! named by their sha256.

use rtt_canonical::{Sha256, to_canonical_vec};
use rtt_schema::parse::parse_json;
use rtt_schema::source::SourceFile;
use serde_json::Value;

use crate::error::{RegistryError, Result};

/// The largest object the registry stores or serves (16 MiB). Anything bigger
/// is refused on the way in and reported as corrupt on the way out: a manifest
/// that size is an accident or an attack.
pub const MAX_OBJECT_BYTES: u64 = 16 << 20;

/// Parses user-supplied JSON text strictly (duplicate keys, depth and syntax
/// errors are located) and returns its canonical bytes.
pub fn canonical_from_text(name: &str, text: &str) -> Result<(Value, Vec<u8>)> {
    let source = SourceFile::new(name, text);
    let node = parse_json(text).map_err(|e| {
        let (line, column) = source.line_col(e.span.start());
        let help = e.help.map(|h| format!(" ({h})")).unwrap_or_default();
        RegistryError::Invalid { path: name.to_owned(), line, column, message: format!("{}{help}", e.message) }
    })?;
    let value = node.to_json();
    let bytes = canonical_bytes(&value).map_err(|message| RegistryError::Invalid {
        path: name.to_owned(),
        line: 1,
        column: 1,
        message,
    })?;
    if bytes.len() as u64 > MAX_OBJECT_BYTES {
        return Err(RegistryError::Invalid {
            path: name.to_owned(),
            line: 1,
            column: 1,
            message: format!("{} bytes in canonical form; objects are at most {MAX_OBJECT_BYTES} bytes", bytes.len()),
        });
    }
    Ok((value, bytes))
}

/// The canonical bytes of a value.
pub fn canonical_bytes(value: &Value) -> std::result::Result<Vec<u8>, String> {
    to_canonical_vec(value).map_err(|e| e.to_string())
}

/// Checks bytes read back from storage against the hash they are stored under.
pub fn check_stored(hash: &Sha256, bytes: &[u8], what: &'static str, path: &std::path::Path) -> Result<()> {
    if bytes.len() as u64 > MAX_OBJECT_BYTES {
        return Err(RegistryError::Corrupt {
            what,
            path: path.to_owned(),
            detail: format!("{} bytes, more than any object may hold", bytes.len()),
        });
    }
    let actual = Sha256::of(bytes);
    if actual != *hash {
        return Err(RegistryError::Corrupt {
            what,
            path: path.to_owned(),
            detail: format!("bytes hash to {actual}, expected {hash}"),
        });
    }
    Ok(())
}

/// The agent id rule, shared with everything that reads ids without the registry.
pub use rtt_plan::views::check_agent_id;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_canonicalised() {
        let (_, bytes) = canonical_from_text("m.json", "{ \"b\": 1, \"a\": [true, 1.0] }").expect("valid");
        assert_eq!(bytes, br#"{"a":[true,1],"b":1}"#);
    }

    #[test]
    fn duplicate_keys_are_located() {
        let err = canonical_from_text("m.json", "{\n  \"a\": 1,\n  \"a\": 2\n}").expect_err("duplicate");
        let RegistryError::Invalid { line, .. } = err else { panic!("{err}") };
        assert_eq!(line, 3);
    }

    #[test]
    fn hostile_ids_are_refused() {
        for id in ["../x@1", "a/b@1", "a@", "@1", "..@1", "a@..", "a\0@1", "/abs@1", "A@1", "a@1@2"] {
            assert!(check_agent_id(id).is_err(), "{id:?} accepted");
        }
        for id in ["gateway@1", "a.b_c-d@1.2.3", "x..y@2"] {
            assert!(check_agent_id(id).is_ok(), "{id:?} refused");
        }
    }
}
