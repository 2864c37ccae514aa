//! The YAML config front end (saphyr events, the YAML 1.2 core schema):
//! parse, validate, refine, hash, and render whatever error comes out.
#![no_main]

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::check_config(data, "fuzz.yaml", rtt_schema::Format::Yaml));
