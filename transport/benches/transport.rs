//! Pipe, Unix socket and ring side by side in one run (issue 18): round-trip
//! p50/p99 and one-way messages per second for 64-byte messages, between two
//! threads pinned to CPUs 0 and 1 (and unpinned, for the pinning effect).
//! Pipe and socket write one message per call, as protocol 1's lines are
//! written; the ring publishes each message as it comes.
//!
//!     cargo bench -p rtt-transport --bench transport

use rtt_transport::measure::{Mechanism, round_trips, throughput};

const TRIPS: usize = 100_000;
const STREAM: usize = 2_000_000;
/// Messages a ring publishes at once (pipe and socket write each one).
const BATCH: usize = 64;

fn main() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = if cpus >= 2 { (Some(0), Some(1)) } else { (None, None) };
    let ring = Mechanism::Ring { capacity_words: 1 << 13, spin: 20_000 };
    println!("| transport | pinned | round trip p50 (µs) | p99 (µs) | messages/s one way | ÷ pipe |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut pipe_rate = None;
    for (mechanism, cpus) in [(Mechanism::Pipe, pinned), (Mechanism::Uds, pinned), (ring, pinned), (ring, (None, None))]
    {
        let trips = round_trips(mechanism, cpus, TRIPS, 64).expect("round trips");
        let rate = throughput(mechanism, cpus, STREAM, 64, BATCH).expect("throughput");
        let base = *pipe_rate.get_or_insert(rate);
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.0} | {:.1}× |",
            mechanism.name(),
            if cpus.0.is_some() { "0,1" } else { "no" },
            trips.p50_ns / 1e3,
            trips.p99_ns / 1e3,
            rate,
            rate / base
        );
    }
    println!(
        "({TRIPS} round trips and {STREAM} one-way messages of 64 bytes each; the ring publishes {BATCH} at a time)"
    );
}
