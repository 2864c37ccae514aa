//! Canonical JSON (RFC 8785, JCS) and content hashes: the one implementation
//! the whole workspace uses for anything that is hashed or signed.
//!
//! Serialisation is delegated to `serde_json_canonicalizer` (ECMAScript number
//! formatting, UTF-16 key order); this module fixes how rtt names hashes.

mod check;
pub mod sealed;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256 as Sha256Hasher};

pub use check::{NotCanonical, check_canonical};

/// The JCS bytes of a value.
///
/// Fails only for values JSON cannot hold (non-finite numbers, non-string keys).
pub fn to_canonical_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    serde_json_canonicalizer::to_vec(value).map_err(|e| CanonicalError(e.to_string()))
}

/// The JCS text of a value.
pub fn to_canonical_string<T: Serialize>(value: &T) -> Result<String, CanonicalError> {
    serde_json_canonicalizer::to_string(value).map_err(|e| CanonicalError(e.to_string()))
}

/// The sha256 of a value's JCS bytes, streamed into the hash: a config of
/// many megabytes is hashed without its canonical text in memory.
pub fn canonical_hash<T: Serialize>(value: &T) -> Result<Sha256, CanonicalError> {
    let mut hasher = Hasher::default();
    serde_json_canonicalizer::to_writer(value, &mut hasher).map_err(|e| CanonicalError(e.to_string()))?;
    Ok(hasher.digest())
}

impl std::io::Write for Hasher {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A value that has no canonical JSON form.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("value has no canonical JSON form: {0}")]
pub struct CanonicalError(String);

impl CanonicalError {
    /// An error with this message (for serialisation failures before JCS).
    pub fn from_message(message: String) -> Self {
        Self(message)
    }
}

/// A sha256 digest, written `sha256:<64 lowercase hex>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256Hasher::digest(bytes).into())
    }

    /// The 64 hex digits without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// A SHA-256 over bytes that arrive in pieces (the registry's pack checksum).
#[derive(Debug, Clone, Default)]
pub struct Hasher(Sha256Hasher);

impl Hasher {
    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything added so far.
    pub fn digest(&self) -> Sha256 {
        Sha256(self.0.clone().finalize().into())
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Text that is not `sha256:<64 lowercase hex>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed hash {0:?}: expected sha256:<64 lowercase hex digits>")]
pub struct MalformedHash(pub String);

impl FromStr for Sha256 {
    type Err = MalformedHash;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || MalformedHash(text.to_owned());
        let hex_digits = text.strip_prefix("sha256:").ok_or_else(malformed)?;
        if hex_digits.len() != 64 || !hex_digits.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(malformed());
        }
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut digest).map_err(|_| malformed())?;
        Ok(Self(digest))
    }
}

impl Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_streamed_hash_is_the_hash_of_the_canonical_bytes() {
        let value = serde_json::json!({"b": [1.5, "x", {"z": null, "a": true}], "a": 1e21});
        assert_eq!(canonical_hash(&value).unwrap(), Sha256::of(&to_canonical_vec(&value).unwrap()));
    }

    #[test]
    fn hashing_in_pieces_equals_hashing_the_whole() {
        let mut hasher = Hasher::default();
        for piece in [&b"rtt "[..], b"pack", b"", b" checksum"] {
            hasher.update(piece);
        }
        assert_eq!(hasher.digest(), Sha256::of(b"rtt pack checksum"));
    }

    /// RFC 8785 appendix B: IEEE 754 bit patterns and their canonical text.
    const NUMBER_VECTORS: &[(u64, &str)] = &[
        (0x0000000000000000, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xc340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44b52d02c7e14af5, "9.999999999999997e+22"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
        (0x444b1ae4d6e2ef4e, "999999999999999700000"),
        (0x444b1ae4d6e2ef4f, "999999999999999900000"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555553, "333333333.3333332"),
        (0x41b3de4355555554, "333333333.33333325"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x41b3de4355555556, "333333333.3333334"),
        (0x41b3de4355555557, "333333333.33333343"),
        (0xbecbf647612f3696, "-0.0000033333333333333333"),
        (0x43143ff3c1cb0959, "1424953923781206.2"),
    ];

    #[test]
    fn formats_numbers_like_rfc_8785_appendix_b() {
        for (bits, expected) in NUMBER_VECTORS {
            let value = f64::from_bits(*bits);
            assert_eq!(to_canonical_string(&value).expect("finite"), *expected, "bits {bits:#018x}");
            assert_eq!(check_canonical(expected.as_bytes()), Ok(()), "{expected} is canonical");
        }
    }

    #[test]
    fn rejects_non_finite_numbers() {
        assert!(to_canonical_string(&f64::NAN).is_err());
        assert!(to_canonical_string(&f64::INFINITY).is_err());
    }

    #[test]
    fn canonicalizes_the_rfc_8785_section_3_2_2_example() {
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        let value: serde_json::Value = serde_json::from_str(input).expect("json");
        let expected = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
        assert_eq!(to_canonical_string(&value).expect("canonical"), expected);
        // The one-pass check agrees: the output is canonical, the input not.
        assert_eq!(check_canonical(expected.as_bytes()), Ok(()));
        assert!(check_canonical(input.as_bytes()).is_err());
    }

    #[test]
    fn sorts_keys_by_utf16_code_units_like_rfc_8785_section_3_2_3() {
        let input = r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#;
        let value: serde_json::Value = serde_json::from_str(input).expect("json");
        let out = to_canonical_string(&value).expect("canonical");
        let order: Vec<&str> =
            ["Carriage Return", "One", "Control", "Latin Small", "Euro Sign", "Emoji", "Hebrew"].into_iter().collect();
        let positions: Vec<usize> = order.iter().map(|k| out.find(k).expect("present")).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{out}");
        assert_eq!(check_canonical(out.as_bytes()), Ok(()), "the key order check agrees");
    }

    #[test]
    fn hashes_parse_and_print_round_trip() {
        let hash = Sha256::of(b"abc");
        assert_eq!(hash.to_string(), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(hash.to_string().parse::<Sha256>(), Ok(hash));
        assert!("sha256:BA78".parse::<Sha256>().is_err());
        assert!("md5:00".parse::<Sha256>().is_err());
    }
}
