//! The overlay engine: an overlay file (RFC 7396 merges, RFC 6902 patches)
//! applied to a base manifest. Input: overlay text, NUL, base JSON. A view
//! is deterministic, canonical, and the same for overlays that share a hash.
#![no_main]

#[path = "common.rs"]
mod common;

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rtt_registry::overlay::{OverlayFile, apply_layers};

fuzz_target!(|data: &[u8]| {
    let (overlay, base) = common::split(data, 0);
    let (Ok(overlay), Ok(base)) = (std::str::from_utf8(overlay), std::str::from_utf8(base)) else { return };
    let file = match OverlayFile::parse(Path::new("fuzz.json"), overlay) {
        Ok(file) => file,
        Err(error) => return common::render(&error),
    };
    let Ok((_, base)) = rtt_registry::object::canonical_from_text("base.json", base) else { return };
    let part = file.applicable("x@1");
    let once = apply_layers("x@1", &base, &[(&part, Path::new("p"))]);
    // The overlay read back from its canonical bytes (as from the CAS).
    let stored: rtt_registry::overlay::Overlay = serde_json::from_slice(&part.to_bytes()).expect("stored overlay");
    assert_eq!(stored.hash(), part.hash());
    let again = apply_layers("x@1", &base, &[(&stored, Path::new("p"))]);
    match (&once, &again) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert!(rtt_canonical::check_canonical(a).is_ok());
        }
        (Err(_), Err(_)) => {}
        _ => panic!("one hash, two behaviours: {once:?} / {again:?}"),
    }
});
