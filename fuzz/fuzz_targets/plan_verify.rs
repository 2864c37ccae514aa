//! Plan files as `rtt verify` and `rtt apply` read them: the strict parse,
//! the signed-bytes cut, the canonical check and the signature check.
//! Whatever passes the parse must hash the bytes it was cut from.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rtt_trust::keys::SecretKey;
use rtt_trust::store::{Policy, TrustStore};

static STORE: LazyLock<TrustStore> = LazyLock::new(|| {
    let key = SecretKey::from_seed(&[7; 32]).public_key();
    TrustStore::new([("k.pub".to_owned(), key)], Policy { threshold: 1 }).expect("store")
});

fuzz_target!(|data: &[u8]| {
    match rtt_trust::verify::parse_plan(data) {
        Ok(parsed) => {
            assert_eq!(parsed.hash, rtt_canonical::Sha256::of(&parsed.signed_bytes));
            assert!(rtt_canonical::check_canonical(&parsed.signed_bytes).is_ok());
            if let Err(rejection) = rtt_trust::verify::check_signatures(&parsed, &STORE) {
                common::render(&rejection);
            }
        }
        Err(rejection) => common::render(&rejection),
    }
    // The applied-state file beside it is read by the same hands.
    let _ = rtt_trust::state::AppliedState::parse(data);
});
