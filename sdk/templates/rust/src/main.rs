//! {{name}}: an rtt driver (protocol 1, docs/drivers.md) in Rust.
//!
//! The `rtt-driver` crate beside this one is the SDK: framing, envelopes,
//! fencing and durable two-phase transactions. This file only picks the
//! backend. `DirBackend` keeps each host's placements in
//! `<root>/<host>/placements.json`; replace it with a type implementing
//! `rtt_driver::Backend` that talks to your system. Build with ./build,
//! check with: rtt driver test -- ./driver

use rtt_driver::{DirBackend, Driver};

const NAME: &str = "{{name}}";

fn main() -> std::process::ExitCode {
    let root = rtt_driver::root_from_env(NAME);
    rtt_driver::run(|| Driver::open(NAME, &root, DirBackend::new(&root)))
}
