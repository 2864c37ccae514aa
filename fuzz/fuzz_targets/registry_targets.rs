//! Registry signers' targets files as `rtt plan`, `view`, `mount` and
//! `materialize` read them under a registry threshold: the strict parse,
//! the signed-bytes cut, the canonical check, the one-signature rule,
//! expiry and versions. Whatever parses, signed again by a trusted key,
//! must verify and vouch for exactly what it lists.
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use rtt_trust::keys::SecretKey;
use rtt_trust::registry::{Attestations, SeenTargets, Targets, sign_targets, verify_targets};
use rtt_trust::store::{Policy, TrustStore};

static KEY: LazyLock<SecretKey> = LazyLock::new(|| SecretKey::from_seed(&[7; 32]));
static STORE: LazyLock<TrustStore> = LazyLock::new(|| {
    TrustStore::new([("k.pub".to_owned(), KEY.public_key())], Policy { threshold: 1 }).expect("store")
});

fuzz_target!(|data: &[u8]| {
    // 2001-09-09: before the expiry of anything rtt writes from now on.
    let now = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let id = KEY.public_key().id().to_string();
    if let Ok(verified) = verify_targets(&id, data, &STORE, &SeenTargets::default(), now) {
        let attestations = Attestations::new(1, vec![verified.clone()], vec![]);
        for (agent, hash) in &verified.targets {
            assert!(attestations.check(agent, hash).is_ok());
        }
    }
    let Ok(mut targets) = Targets::parse(data) else { return };
    if targets.expires_at().is_ok_and(|at| at <= now) {
        return;
    }
    let listed: BTreeMap<_, _> = targets.targets.clone();
    sign_targets(&mut targets, &KEY).expect("a parsed file signs");
    let bytes = targets.to_file_bytes().expect("canonical");
    let verified = verify_targets(&id, &bytes, &STORE, &SeenTargets::default(), now).expect("re-signed verifies");
    assert_eq!(verified.targets, listed);
});
