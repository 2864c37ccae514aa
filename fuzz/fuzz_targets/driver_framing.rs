//! What a driver writes to the coordinator, and a coordinator to a driver:
//! lines under the cap, read through a small buffer so lines split across
//! reads, each parsed as every protocol message.
#![no_main]

use std::io::BufReader;

use libfuzzer_sys::fuzz_target;
use rtt_apply::driver::framing;
use rtt_apply::driver::protocol::{HealthResult, ProbeResult, Request, Response, RxResult, Vote};

fuzz_target!(|data: &[u8]| {
    let Some((&size, rest)) = data.split_first() else { return };
    let mut reader = BufReader::with_capacity(usize::from(size).max(1), rest);
    for _ in 0..64 {
        match framing::read_line(&mut reader) {
            Ok(Some(line)) => {
                assert!(line.len() <= framing::MAX_LINE_BYTES && !line.contains('\n'));
                let _ = serde_json::from_str::<Request>(&line);
                if let Ok(response) = serde_json::from_str::<Response>(&line) {
                    if let Ok(encoded) = framing::encode_line(&response) {
                        assert_eq!(encoded.iter().filter(|&&b| b == b'\n').count(), 1);
                    }
                }
                let _ = serde_json::from_str::<ProbeResult>(&line);
                let _ = serde_json::from_str::<RxResult>(&line);
                let _ = serde_json::from_str::<HealthResult>(&line);
                let _ = serde_json::from_str::<Vote>(&line);
            }
            Ok(None) | Err(_) => break,
        }
    }
});
