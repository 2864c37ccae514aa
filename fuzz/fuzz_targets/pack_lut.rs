//! The registry's pack and lut readers (memory-mapped in the product):
//! `open` checks the lut against the pack; whatever it accepts must be safe
//! to look up, slice and verify. Input: lut bytes, NUL NUL, pack bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtt_registry::pack::{self, PackView};

fuzz_target!(|data: &[u8]| {
    let at = data.windows(2).position(|w| w == [0, 0]).unwrap_or(data.len());
    let (lut, pack_bytes) = (&data[..at], data.get(at + 2..).unwrap_or(&[]));
    let _ = pack::scan(pack_bytes);
    let _ = rtt_registry::Index::parse(data);
    let Ok(view) = PackView::open(pack_bytes, lut) else { return };
    for i in 0..view.len().min(64) {
        let entry = view.entry(i);
        let _ = view.slice(&entry);
        let _ = view.get(&entry.hash);
    }
    let _ = view.find(&rtt_canonical::Sha256::of(data));
    let _ = view.verify();
});
