//! The CUE error mapping: given `cue export`'s JSON, `rtt-cue-spans`'
//! output and the `.cue` text (three parts split by NUL), diagnostics must
//! point into the `.cue` file or the export without ever indexing outside
//! either.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use rtt_schema::source::SourceFile;

fuzz_target!(|data: &[u8]| {
    let (export, rest) = common::split(data, 0);
    let (spans, cue) = common::split(rest, 0);
    let (Ok(export), Ok(cue)) = (std::str::from_utf8(export), std::str::from_utf8(cue)) else { return };
    let Some(spans) = rtt_schema::cue::parse_spans(spans) else { return };
    match rtt_schema::check_cue_export(SourceFile::new("fuzz.cue", cue), export.to_owned(), spans) {
        Ok(loaded) => {
            loaded.config_hash().expect("a checked config hashes");
        }
        Err(error) => common::render(&error),
    }
});
