//! Ed25519 edge cases: only signatures that verify under the strict, cofactorless
//! rule with canonical encodings and keys of large order may count.
//!
//! Vectors: the twelve of "Taming the many EdDSAs" (Chalkias, Garillot,
//! Nikolaenko; SSR 2020), as published in `cases.txt` of
//! github.com/novifinancial/ed25519-speccheck. Their `results.md` row for
//! "Dalek strict" accepts vector 3 only. rtt goes further: it refuses every
//! key of these vectors that is weak, non-canonical or has a small-order
//! component before any verification, so under rtt's rules none verifies,
//! and `verify_strict` alone (its second line of defence) accepts vector 3 only.

use rtt_trust::keys::{KeyError, PublicKey};

struct Vector {
    number: usize,
    what: &'static str,
    message: &'static str,
    public_key: &'static str,
    signature: &'static str,
}

const VECTORS: &[Vector] = &[
    Vector {
        number: 0,
        what: "S = 0, small-order A and R",
        message: "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
        public_key: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        signature: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000",
    },
    Vector {
        number: 1,
        what: "0 < S < L, small-order A and R",
        message: "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        public_key: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        signature: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
    },
    Vector {
        number: 2,
        what: "0 < S < L, mixed-order A, small-order R",
        message: "aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
        public_key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        signature: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
    },
    Vector {
        number: 3,
        what: "0 < S < L, mixed-order A and R; passes cofactored and cofactorless",
        message: "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        public_key: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        signature: "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
    },
    Vector {
        number: 4,
        what: "0 < S < L, mixed-order A and R; passes cofactored only",
        message: "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        public_key: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        signature: "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
    },
    Vector {
        number: 5,
        what: "0 < S < L, mixed-order A, L-order R; passes cofactored with a pre-reduced scalar",
        message: "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        public_key: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        signature: "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
    },
    Vector {
        number: 6,
        what: "S > L (non-canonical scalar), S < 2^253",
        message: "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        public_key: "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        signature: "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
    },
    Vector {
        number: 7,
        what: "S >> L (non-canonical scalar, high bits set)",
        message: "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        public_key: "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        signature: "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22",
    },
    Vector {
        number: 8,
        what: "non-canonical R (small order); passes cofactored with the reduced R",
        message: "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        public_key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        signature: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f",
    },
    Vector {
        number: 9,
        what: "non-canonical R (small order); passes cofactorless with the reduced R",
        message: "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        public_key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        signature: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908",
    },
    Vector {
        number: 10,
        what: "non-canonical A (small order); passes cofactored with the reduced A",
        message: "e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b",
        public_key: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        signature: "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
    },
    Vector {
        number: 11,
        what: "non-canonical A (small order); passes cofactorless with the reduced A",
        message: "39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f",
        public_key: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        signature: "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
    },
];

fn bytes<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).unwrap();
    out
}

/// What rtt does with a vector: load the key as a trusted key would be
/// loaded, then verify strictly.
fn rtt_accepts(vector: &Vector) -> Result<bool, KeyError> {
    let key = PublicKey::from_bytes(&bytes::<32>(vector.public_key))?;
    Ok(key.verify(&hex::decode(vector.message).unwrap(), &bytes::<64>(vector.signature)))
}

#[test]
fn no_edge_case_vector_verifies_under_rtts_rules() {
    let accepted: Vec<usize> = VECTORS.iter().filter(|v| rtt_accepts(v) == Ok(true)).map(|v| v.number).collect();
    assert_eq!(accepted, [0usize; 0], "accepted vectors");
}

#[test]
fn small_order_mixed_order_and_non_canonical_keys_are_refused_before_verification() {
    for vector in VECTORS {
        let expected = match vector.number {
            0 | 1 => Err(KeyError::Weak),
            2..=5 | 8 | 9 => Err(KeyError::MixedOrder),
            10 | 11 => Err(KeyError::NonCanonical),
            _ => Ok(()),
        };
        let loaded = PublicKey::from_bytes(&bytes::<32>(vector.public_key)).map(|_| ());
        assert_eq!(loaded, expected, "vector {} ({})", vector.number, vector.what);
    }
}

/// The vectors with a good key (6, 7) fail on the signature itself: S ≥ L.
#[test]
fn non_canonical_scalars_do_not_verify_under_a_good_key() {
    for vector in VECTORS.iter().filter(|v| matches!(v.number, 6 | 7)) {
        assert_eq!(rtt_accepts(vector), Ok(false), "vector {} ({})", vector.number, vector.what);
    }
}

/// Defence in depth: even if a key check were skipped, `verify_strict`
/// itself refuses every edge case but vector 3 (small-order R or A,
/// non-canonical R, S ≥ L).
#[test]
fn strict_verification_alone_refuses_the_edge_cases() {
    for vector in VECTORS {
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&bytes::<32>(vector.public_key)) else {
            continue;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&bytes::<64>(vector.signature));
        let verified = key.verify_strict(&hex::decode(vector.message).unwrap(), &signature).is_ok();
        assert_eq!(verified, vector.number == 3, "vector {} ({})", vector.number, vector.what);
    }
}

/// The non-strict rule does accept some of them — which is why rtt never uses it.
#[test]
fn the_lenient_rule_would_have_accepted_some_of_them() {
    use ed25519_dalek::Verifier;
    let lenient: Vec<usize> = VECTORS
        .iter()
        .filter(|v| {
            let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&bytes::<32>(v.public_key)) else {
                return false;
            };
            let signature = ed25519_dalek::Signature::from_bytes(&bytes::<64>(v.signature));
            key.verify(&hex::decode(v.message).unwrap(), &signature).is_ok()
        })
        .map(|v| v.number)
        .collect();
    assert!(lenient.len() > 1 && lenient.contains(&0), "lenient verify accepted {lenient:?}");
}
