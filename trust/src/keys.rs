//! Ed25519 keys and their one-line text formats: parsing, formatting, key ids,
//! signing and strict verification.
//!
//! Pure: no files here (see `keyfile`), and randomness is asked of the OS only
//! in [`SecretKey::generate`]. Every parser is strict — one exact shape, no
//! whitespace, comments or alternative encodings — because a key file that is
//! "probably" a key is not proven good.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rtt_canonical::Sha256;
use zeroize::Zeroizing;

/// First line of a secret key file: this prefix, then the 32-byte seed in hex.
pub const SECRET_PREFIX: &str = "rtt-ed25519-secret:";
/// First line of a public key file: this prefix, then the 32-byte key in hex.
pub const PUBLIC_PREFIX: &str = "rtt-ed25519-public:";
/// The only signature algorithm rtt signs with and accepts.
pub const ED25519: &str = "ed25519";

/// A key id: the first 16 hex digits of sha256 of the raw 32-byte public key (SPEC §5).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The id of a raw public key.
    pub fn of(public_key: &[u8; 32]) -> Self {
        let digest = Sha256::of(public_key);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest.0[..8]);
        Self(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for KeyId {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = strict_hex::<8>(text).ok_or(KeyError::MalformedKeyId)?;
        Ok(Self(bytes))
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A public key that is safe to trust: on the curve, canonically encoded, not of small order.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: KeyId,
}

impl PublicKey {
    /// Checks raw key bytes.
    ///
    /// Rejects small-order ("weak") keys, for which one signature can verify
    /// for many messages; keys with a small-order component, which no key
    /// generator produces (a real key is a multiple of the base point) and
    /// under which cofactored and cofactorless verifiers disagree; and
    /// non-canonical encodings, so that one key has one byte string and
    /// therefore one key id.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotOnCurve)?;
        let point = key.to_edwards();
        if point.compress().to_bytes() != *bytes {
            return Err(KeyError::NonCanonical);
        }
        if key.is_weak() {
            return Err(KeyError::Weak);
        }
        if !point.is_torsion_free() {
            return Err(KeyError::MixedOrder);
        }
        Ok(Self { key, id: KeyId::of(bytes) })
    }

    /// Parses the text of a public key file (`rtt-ed25519-public:<64 hex>`, one optional newline).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let bytes = parse_line::<32>(text, PUBLIC_PREFIX)?;
        Self::from_bytes(&bytes)
    }

    /// The text of a public key file, newline included.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_PREFIX}{}\n", hex::encode(self.key.as_bytes()))
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The raw 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Strict Ed25519 verification (`verify_strict`): besides the equation,
    /// small-order `R`, non-canonical `R` and `S ≥ L` never verify, so a
    /// signature cannot be altered into another valid one (malleability).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.key.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

/// A signing key. Its seed is wiped from memory when dropped and never printed by `Debug`.
pub struct SecretKey {
    key: SigningKey,
}

impl SecretKey {
    /// The key for a 32-byte seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { key: SigningKey::from_bytes(seed) }
    }

    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice()).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self::from_seed(&seed))
    }

    /// Parses the text of a secret key file (`rtt-ed25519-secret:<64 hex>`, one optional newline).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let seed = Zeroizing::new(parse_line::<32>(text, SECRET_PREFIX)?);
        Ok(Self::from_seed(&seed))
    }

    /// The text of a secret key file, newline included; wiped when dropped.
    pub fn to_text(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(hex::encode(self.key.as_bytes()));
        Zeroizing::new(format!("{SECRET_PREFIX}{}\n", seed.as_str()))
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        let key = self.key.verifying_key();
        // A key derived from a seed is a clamped multiple of the base point:
        // never of small order and always canonically encoded.
        PublicKey { id: KeyId::of(key.as_bytes()), key }
    }

    /// The Ed25519 signature of `message` (deterministic: same key and message, same bytes).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}, seed redacted)", self.public_key().id())
    }
}

/// Parses a signature as written in a plan: 128 lowercase hex digits.
pub fn parse_signature(text: &str) -> Option<[u8; 64]> {
    strict_hex::<64>(text)
}

/// Key text that is not a usable key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum KeyError {
    /// Not the one-line format.
    #[error("expected one line `{prefix}<{digits} lowercase hex digits>`")]
    #[diagnostic(code(rtt::trust::key_format))]
    Malformed {
        /// The prefix the line must start with.
        prefix: &'static str,
        /// How many hex digits must follow.
        digits: usize,
    },
    /// The bytes do not decode to a curve point.
    #[error("public key is not a point on Ed25519")]
    NotOnCurve,
    /// The point has a shorter encoding; accepting both would give one key two ids.
    #[error("public key is not canonically encoded")]
    NonCanonical,
    /// A small-order point: signatures by it can verify for many messages.
    #[error("public key is weak (a point of small order) and can never be trusted")]
    Weak,
    /// A point with a small-order component: crafted, never generated.
    #[error("public key has a small-order component, which no key generator produces")]
    MixedOrder,
    /// A key id that is not 16 lowercase hex digits.
    #[error("key id is not 16 lowercase hex digits")]
    MalformedKeyId,
    /// The OS gave no randomness.
    #[error("failed to get randomness from the operating system: {0}")]
    Random(String),
}

/// `PREFIX<hex>` with at most one trailing `\n`.
fn parse_line<const N: usize>(text: &str, prefix: &'static str) -> Result<[u8; N], KeyError> {
    let malformed = KeyError::Malformed { prefix, digits: 2 * N };
    let line = text.strip_suffix('\n').unwrap_or(text);
    let digits = line.strip_prefix(prefix).ok_or_else(|| malformed.clone())?;
    strict_hex::<N>(digits).ok_or(malformed)
}

/// Exactly `2N` lowercase hex digits: one spelling per byte string.
fn strict_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut bytes = [0u8; N];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 §7.1 test 1: seed, public key, and the signature of the empty message.
    const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC8032_SIG: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn rfc_key() -> SecretKey {
        SecretKey::parse(&format!("{SECRET_PREFIX}{RFC8032_SEED}\n")).unwrap()
    }

    #[test]
    fn signs_like_rfc_8032_test_1() {
        let key = rfc_key();
        assert_eq!(hex::encode(key.public_key().to_bytes()), RFC8032_PUBLIC);
        assert_eq!(hex::encode(key.sign(b"")), RFC8032_SIG);
        assert!(key.public_key().verify(b"", &parse_signature(RFC8032_SIG).unwrap()));
        assert!(!key.public_key().verify(b"x", &parse_signature(RFC8032_SIG).unwrap()));
    }

    #[test]
    fn key_id_is_the_first_16_hex_digits_of_the_public_key_sha256() {
        let public = rfc_key().public_key();
        let digest = Sha256::of(&public.to_bytes()).hex();
        assert_eq!(public.id().to_string(), digest[..16]);
        assert_eq!(public.id().to_string().parse::<KeyId>().unwrap(), public.id());
    }

    #[test]
    fn key_texts_round_trip() {
        let secret = rfc_key();
        assert_eq!(SecretKey::parse(&secret.to_text()).unwrap().public_key(), secret.public_key());
        let public = secret.public_key();
        assert_eq!(PublicKey::parse(&public.to_text()).unwrap(), public);
        assert_eq!(PublicKey::parse(public.to_text().trim_end()).unwrap(), public);
    }

    #[test]
    fn key_texts_accept_one_spelling_only() {
        let good = format!("{PUBLIC_PREFIX}{RFC8032_PUBLIC}");
        for bad in [
            format!("{good}\n\n"),
            format!(" {good}"),
            format!("{good} "),
            format!("{good}\r\n"),
            good.to_uppercase(),
            format!("{PUBLIC_PREFIX}{}", RFC8032_PUBLIC.to_uppercase()),
            format!("{PUBLIC_PREFIX}{}", &RFC8032_PUBLIC[..62]),
            format!("{PUBLIC_PREFIX}{RFC8032_PUBLIC}00"),
            format!("{SECRET_PREFIX}{RFC8032_PUBLIC}"),
            String::new(),
        ] {
            assert!(
                matches!(PublicKey::parse(&bad), Err(KeyError::Malformed { .. })),
                "{bad:?} was accepted as a public key"
            );
        }
        assert!(SecretKey::parse(&good).is_err(), "a public key line is not a secret key");
    }

    #[test]
    fn weak_and_non_canonical_public_keys_are_refused() {
        // The identity point (order 1), encoded canonically and as y = p + 1 (non-canonical).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(KeyError::Weak));
        let mut identity_plus_p = [0xffu8; 32];
        identity_plus_p[0] = 0xee;
        identity_plus_p[31] = 0x7f;
        assert_eq!(PublicKey::from_bytes(&identity_plus_p), Err(KeyError::NonCanonical));
        // A point of order 8 (from the ed25519-speccheck vectors).
        let order_8: [u8; 32] = strict_hex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa").unwrap();
        assert_eq!(PublicKey::from_bytes(&order_8), Err(KeyError::Weak));
    }

    #[test]
    fn signing_is_deterministic() {
        let key = SecretKey::from_seed(&[7; 32]);
        assert_eq!(key.sign(b"plan"), key.sign(b"plan"));
    }

    #[test]
    fn debug_never_shows_the_seed() {
        let text = format!("{:?}", rfc_key());
        assert!(!text.contains(RFC8032_SEED) && text.contains("redacted"), "{text}");
    }

    #[test]
    fn generated_keys_differ() {
        let a = SecretKey::generate().unwrap().public_key();
        let b = SecretKey::generate().unwrap().public_key();
        assert_ne!(a, b);
    }
}
