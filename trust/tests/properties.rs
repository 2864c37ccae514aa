//! Properties of signing and verification over random plans:
//! sign → verify accepts; signing is deterministic and idempotent; any single
//! flipped byte of the signed file (body or signature) is rejected.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rtt_canonical::Sha256;
use rtt_plan::{
    Inputs, Locality, ObjectiveReport, PLAN_KIND, PlacementRow, PlanDocument, RouteRow, SolverReport, SolverStatus,
};
use rtt_trust::{Policy, SecretKey, TrustStore, sign_document, verify_plan};

fn figure() -> impl Strategy<Value = f64> {
    // Plans carry figures rounded to 1e-6 (document::round_figure).
    (-1_000_000_000i64..1_000_000_000).prop_map(|n| n as f64 / 1e3)
}

fn name() -> impl Strategy<Value = String> {
    // Includes quotes, backslashes and non-ASCII, which JCS must escape or keep.
    "[a-z0-9\"\\\\é-]{1,8}"
}

fn placement() -> impl Strategy<Value = PlacementRow> {
    (name(), name(), 0u32..4, 1u32..10).prop_map(|(agent, host, numa, replicas)| PlacementRow {
        agent,
        host,
        numa,
        replicas,
    })
}

fn route() -> impl Strategy<Value = RouteRow> {
    (name(), name(), figure(), proptest::option::of(figure()), [figure(), figure(), figure(), figure()]).prop_map(
        |(from, to, p99_us, slo_p99_us, [numa, host, rack, zone])| RouteRow {
            from,
            to,
            p99_us,
            slo_p99_us,
            locality: Locality { numa, host, rack, zone },
            transport: None,
        },
    )
}

fn plan() -> impl Strategy<Value = PlanDocument> {
    (
        0..=rtt_trust::signing::MAX_EXACT_INTEGER,
        any::<[u8; 32]>(),
        proptest::option::of(any::<[u8; 32]>()),
        (figure(), figure(), figure(), any::<u32>()),
        proptest::collection::vec(placement(), 0..12),
        proptest::collection::vec(route(), 0..8),
    )
        .prop_map(|(serial, config, previous, (objective, bound, latency, moves), mut placements, routes)| {
            placements.sort();
            PlanDocument {
                kind: PLAN_KIND.to_owned(),
                version: 1,
                serial,
                inputs: Inputs { config: Sha256(config), previous: previous.map(Sha256), registry: None },
                solver: SolverReport { status: SolverStatus::Feasible, objective, bound, gap: 0.0 },
                objective: ObjectiveReport { latency_us: latency, moves: u64::from(moves), total: objective },
                placements,
                routes,
                views: BTreeMap::new(),
                signatures: Vec::new(),
            }
        })
}

fn store(keys: &[&SecretKey], threshold: u32) -> TrustStore {
    TrustStore::new(keys.iter().map(|k| (k.public_key().id().to_string(), k.public_key())), Policy { threshold })
        .unwrap()
}

fn signed_file(mut document: PlanDocument, keys: &[&SecretKey]) -> Vec<u8> {
    for key in keys {
        sign_document(&mut document, key).unwrap();
    }
    document.to_file_bytes().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_signed_plan_verifies(document in plan(), seed_a in any::<[u8; 32]>(), seed_b in any::<[u8; 32]>()) {
        prop_assume!(seed_a != seed_b);
        let (a, b) = (SecretKey::from_seed(&seed_a), SecretKey::from_seed(&seed_b));
        let bytes = signed_file(document.clone(), &[&a, &b]);
        let verified = verify_plan(&bytes, &store(&[&a, &b], 2), None).unwrap();
        prop_assert_eq!(verified.document(), &{
            let mut expected = document.clone();
            expected.signatures = verified.document().signatures.clone();
            expected
        });
        prop_assert_eq!(verified.hash(), document.hash().unwrap());
        let mut expected_ids = [a.public_key().id(), b.public_key().id()];
        expected_ids.sort();
        prop_assert_eq!(verified.signed_by(), &expected_ids[..]);
    }

    /// verify cuts the signed bytes out of the file instead of re-serialising:
    /// that cut must give exactly the JCS of the document without signatures.
    #[test]
    fn the_signed_bytes_cut_from_the_file_are_the_canonical_ones(document in plan(), seeds in proptest::collection::vec(any::<[u8; 32]>(), 0..4)) {
        let keys: Vec<SecretKey> = seeds.iter().map(SecretKey::from_seed).collect();
        let bytes = signed_file(document.clone(), &keys.iter().collect::<Vec<_>>());
        let parsed = rtt_trust::parse_plan(&bytes).unwrap();
        prop_assert_eq!(&parsed.signed_bytes, &document.signed_bytes().unwrap());
        prop_assert_eq!(parsed.hash, document.hash().unwrap());
    }

    #[test]
    fn signing_is_deterministic_idempotent_and_order_independent(document in plan(), seed_a in any::<[u8; 32]>(), seed_b in any::<[u8; 32]>()) {
        prop_assume!(seed_a != seed_b);
        let (a, b) = (SecretKey::from_seed(&seed_a), SecretKey::from_seed(&seed_b));
        let ab = signed_file(document.clone(), &[&a, &b]);
        prop_assert_eq!(&ab, &signed_file(document.clone(), &[&b, &a]));
        prop_assert_eq!(&ab, &signed_file(document.clone(), &[&a, &b, &a, &b]));
    }

    #[test]
    fn any_flipped_byte_is_rejected(document in plan(), seed in any::<[u8; 32]>(), position in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let key = SecretKey::from_seed(&seed);
        let mut bytes = signed_file(document, &[&key]);
        let position = position.index(bytes.len());
        bytes[position] ^= mask;
        prop_assert!(verify_plan(&bytes, &store(&[&key], 1), None).is_err(), "flipped byte {} accepted", position);
    }

    #[test]
    fn any_flipped_signature_byte_is_rejected(document in plan(), seed in any::<[u8; 32]>(), position in 0usize..64, mask in 1u8..=255) {
        let key = SecretKey::from_seed(&seed);
        let mut signed = document.clone();
        sign_document(&mut signed, &key).unwrap();
        let mut sig = hex::decode(&signed.signatures[0].sig).unwrap();
        sig[position] ^= mask;
        signed.signatures[0].sig = hex::encode(sig);
        let bytes = signed.to_file_bytes().unwrap();
        prop_assert!(verify_plan(&bytes, &store(&[&key], 1), None).is_err());
    }
}
