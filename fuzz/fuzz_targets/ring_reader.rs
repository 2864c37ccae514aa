//! What a hostile or torn peer leaves in a shared ring: any header and data
//! words. Attaching must refuse what is not a ring, and reading must end in
//! messages within the cap or a Corrupt error, never a read outside the
//! region (libFuzzer's ASan would see one) or a panic. The second half of
//! the input is what the peer writes between reads.
#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use rtt_transport::ring::{self, Consumer, Producer};

fn words_of(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks(8).map(|c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else { return };
    let (layout, writes) = rest.split_at(rest.len() / 2);
    // Half the time a well-formed header, so the reads get past attach.
    let capacity = 1usize << (1 + shape % 6);
    let region: Vec<AtomicU64> = (0..ring::region_words(capacity)).map(|_| AtomicU64::new(0)).collect();
    if shape & 0x80 == 0 {
        ring::init(&region, capacity, (capacity - 1) * 8).expect("a valid ring");
        for (i, w) in words_of(layout).enumerate().skip(8) {
            if let Some(slot) = region.get(i) {
                slot.store(w, Ordering::Relaxed);
            }
        }
    } else {
        for (slot, w) in region.iter().zip(words_of(layout)) {
            slot.store(w, Ordering::Relaxed);
        }
    }
    if let Ok(mut consumer) = Consumer::attach(&region) {
        let mut out = Vec::new();
        let mut writes = words_of(writes);
        for _ in 0..64 {
            match consumer.pop(&mut out) {
                Ok(Some(_)) => assert!(out.len() <= consumer.max_message()),
                Ok(None) | Err(_) => {}
            }
            // The peer scribbles a word somewhere between reads.
            match (writes.next(), writes.next()) {
                (Some(at), Some(value)) => region[(at as usize) % region.len()].store(value, Ordering::Relaxed),
                _ => break,
            }
        }
    }
    // A hostile consumer cannot make the producer write outside the ring either.
    if let Ok(mut producer) = Producer::attach(&region) {
        for n in 0..16u8 {
            let _ = producer.push(&[n; 13]);
        }
    }
});
