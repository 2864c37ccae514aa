//! Where the signed bytes sit in a plan file, found without re-serialising.
//!
//! A plan file is the JCS of the whole document plus a newline; the signed
//! bytes are the JCS of the document without `signatures` (SPEC §5). Because
//! JCS sorts keys, `signatures` sits between `serial` and `solver`, so the
//! signed bytes are the file with `,"signatures":[…]` and the newline cut
//! out. Cutting is ~10× cheaper than re-running the canonicaliser on a large
//! plan (BENCHMARKS.md), and it means a signature is checked against exactly
//! the bytes on disk, not against a re-serialisation of them.
//!
//! Why the cut is sound: in valid JSON a `"` inside a string is escaped, so
//! `,"signatures":` can only be a member key; its value must be byte-for-byte
//! the canonical form of the signatures the strict parse read, so the cut
//! removes exactly that member. A file whose bytes differ from what was
//! signed anywhere else fails signature verification; one that rtt did not
//! lay out this way (reformatted, keys moved) is refused here.

use crate::document::Signature;
use rtt_canonical::to_canonical_vec;

/// What is wrong with the layout of a plan file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// The file is not `{…}` followed by exactly one newline.
    Framing,
    /// No `,"signatures":` member in canonical form holding the parsed signatures.
    NoSignaturesMember,
}

/// The signed bytes of a plan file whose strict parse gave `signatures`.
pub fn signed_bytes_in_file(file: &[u8], signatures: &[Signature]) -> Result<Vec<u8>, LayoutError> {
    let body =
        file.strip_suffix(b"\n").filter(|b| b.starts_with(b"{") && b.ends_with(b"}")).ok_or(LayoutError::Framing)?;
    let value = to_canonical_vec(&signatures).map_err(|_| LayoutError::NoSignaturesMember)?;
    let mut member = Vec::with_capacity(value.len() + 16);
    member.extend_from_slice(b",\"signatures\":");
    member.extend_from_slice(&value);
    // The member must be followed by the next key (`solver`) or close the object.
    let start = memchr::memmem::find(body, &member).ok_or(LayoutError::NoSignaturesMember)?;
    let end = start + member.len();
    if !matches!(body.get(end), Some(b',') | Some(b'}')) {
        return Err(LayoutError::NoSignaturesMember);
    }
    let mut signed = Vec::with_capacity(body.len() - member.len());
    signed.extend_from_slice(&body[..start]);
    signed.extend_from_slice(&body[end..]);
    Ok(signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(key_id: &str) -> Signature {
        Signature { alg: "ed25519".into(), key_id: key_id.into(), sig: "00".into() }
    }

    #[test]
    fn cuts_the_signatures_member_and_the_newline() {
        let file = br#"{"a":1,"serial":2,"signatures":[{"alg":"ed25519","key_id":"k","sig":"00"}],"solver":{}}
"#;
        assert_eq!(signed_bytes_in_file(file, &[signature("k")]).unwrap(), br#"{"a":1,"serial":2,"solver":{}}"#);
        let last = b"{\"a\":1,\"signatures\":[]}\n";
        assert_eq!(signed_bytes_in_file(last, &[]).unwrap(), br#"{"a":1}"#);
    }

    #[test]
    fn refuses_other_layouts() {
        let signatures = [signature("k")];
        for (file, error) in [
            (&b"{\"a\":1,\"signatures\":[]}"[..], LayoutError::Framing),
            (b"{\"a\":1,\"signatures\":[]}\n\n", LayoutError::Framing),
            (b" {\"a\":1,\"signatures\":[]}\n", LayoutError::Framing),
            (b"{\"a\":1, \"signatures\":[]}\n", LayoutError::NoSignaturesMember),
            (b"{\"a\":1,\"signatures\": []}\n", LayoutError::NoSignaturesMember),
            (b"{\"signatures\":[],\"a\":1}\n", LayoutError::NoSignaturesMember),
            (b"{\"a\":\"x\\\",\\\"signatures\\\":[]}\"}\n", LayoutError::NoSignaturesMember),
        ] {
            let expected = if file.starts_with(b"{\"a\":1,\"sig") { &[][..] } else { &signatures[..0] };
            assert_eq!(signed_bytes_in_file(file, expected), Err(error), "{}", String::from_utf8_lossy(file));
        }
        // The signatures in the file must be exactly those the parse read.
        let file = b"{\"a\":1,\"signatures\":[]}\n";
        assert_eq!(signed_bytes_in_file(file, &signatures), Err(LayoutError::NoSignaturesMember));
    }
}
