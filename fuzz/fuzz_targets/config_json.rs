//! The JSON config front end: parse, validate, refine, hash, and render
//! whatever error comes out, with the line index.
#![no_main]

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::check_config(data, "fuzz.json", rtt_schema::Format::Json));
