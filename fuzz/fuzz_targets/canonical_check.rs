//! The one-pass canonical check against its definition: bytes are canonical
//! exactly when they equal the JCS form of the value they parse to.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fast = rtt_canonical::check_canonical(data);
    let by_definition = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|value| rtt_canonical::to_canonical_vec(&value).ok())
        .is_some_and(|canonical| canonical == data);
    assert_eq!(fast.is_ok(), by_definition, "{fast:?} for {:?}", String::from_utf8_lossy(data));
    if let Err(error) = fast {
        assert!(error.offset <= data.len());
    }
});
