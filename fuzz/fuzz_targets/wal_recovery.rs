//! The WAL reader and recovery's reading of it. Two inputs: raw log bytes
//! (first byte even), and JSON lines of entries (first byte odd) that are
//! sealed into a valid chain first, so recovery's grouping and decisions are
//! reached past the hash chain; a sealed chain must always read back intact.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use rtt_apply::log::recovery;
use rtt_apply::log::wal::{self, Entry};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let bytes = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let mut log = Vec::new();
        let mut prev = None;
        let mut seq = 0;
        for line in rest.split(|&b| b == b'\n') {
            let Ok(entry) = serde_json::from_slice::<Entry>(line) else { continue };
            seq += 1;
            let Ok(record) = wal::seal(seq, prev, entry) else { return };
            prev = Some(record.hash);
            log.extend(serde_json::to_vec(&record).expect("a record encodes"));
            log.push(b'\n');
        }
        let chain = wal::check_chain(&log).expect("a sealed chain reads back intact");
        assert!(chain.torn.is_none() && chain.records.len() == seq as usize);
        log
    };
    match wal::check_chain(&bytes) {
        Ok(chain) => {
            if let Some(last) = chain.records.last() {
                let anchor = wal::Anchor { seq: last.seq, hash: last.hash };
                assert!(wal::check_anchor(&chain.records, &anchor).is_ok());
            }
            match recovery::transactions(&chain.records) {
                Ok(txns) => {
                    let _ = recovery::next_action(&txns);
                    let _ = recovery::highest_epoch(&txns);
                    let _ = recovery::plan_in_force(&txns);
                    assert!(recovery::in_doubt(&txns).len() <= 1, "one transaction at a time");
                }
                Err(error) => std::hint::black_box(error.to_string()).clear(),
            }
        }
        Err(error) => common::render(&error),
    }
});
