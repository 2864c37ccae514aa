//! `rtt tune`'s measurements and choice: round trips per CPU pair; a grid of
//! ring sizes × spins (throughput in batches and round-trip p99, pinned to a
//! core pair); pipe and socket beside the chosen ring; the chosen ring
//! unpinned, for what pinning is worth. The choice itself is pure
//! ([`choose`]).

use std::io;

use crate::machine::Machine;
use crate::measure::{Mechanism, RoundTrips, round_trips, throughput};

/// How much to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effort {
    /// Round trips per measurement.
    pub trips: usize,
    /// Messages per throughput measurement.
    pub messages: usize,
}

impl Effort {
    /// The default: ≈ 30 s on a 2-core machine.
    pub const FULL: Effort = Effort { trips: 20_000, messages: 1_000_000 };
    /// For tests: a second or two.
    pub const QUICK: Effort = Effort { trips: 500, messages: 20_000 };
}

/// Ring sizes of the grid, in bytes of data.
pub const RING_BYTES: [usize; 4] = [4 << 10, 16 << 10, 64 << 10, 256 << 10];
/// Spins of the grid (polls before sleeping).
pub const SPINS: [u32; 4] = [0, 200, 2_000, 20_000];
/// Message size measured, bytes.
pub const MESSAGE: usize = 64;
/// Messages a ring publishes at once in the throughput runs.
pub const BATCH: usize = 64;

/// One cell of the grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// Ring data bytes.
    pub ring_bytes: usize,
    /// Spin.
    pub spin: u32,
    /// Round trips.
    pub trips: RoundTrips,
    /// Messages per second one way.
    pub rate: f64,
}

/// Everything `rtt tune` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuned {
    /// Round trips of the default ring per CPU pair: (name, cpus, figures).
    pub pairs: Vec<(&'static str, (usize, usize), RoundTrips)>,
    /// The grid, on the first pair.
    pub grid: Vec<Cell>,
    /// Index of the chosen cell.
    pub chosen: usize,
    /// Index of the cell with the highest throughput.
    pub fastest: usize,
    /// Pipe and socket on the same pair: (round trips, rate).
    pub pipe: (RoundTrips, f64),
    /// The socket pair.
    pub uds: (RoundTrips, f64),
    /// The chosen ring unpinned.
    pub unpinned: (RoundTrips, f64),
}

/// The chosen cell: the lowest round-trip p99 among the cells within 10 %
/// of the best throughput; ties go to the smaller ring, then the smaller spin.
pub fn choose(grid: &[Cell]) -> Option<usize> {
    let best = grid.iter().map(|c| c.rate).fold(0.0, f64::max);
    grid.iter()
        .enumerate()
        .filter(|(_, c)| c.rate >= 0.9 * best)
        .min_by(|(_, a), (_, b)| {
            a.trips.p99_ns.total_cmp(&b.trips.p99_ns).then(a.ring_bytes.cmp(&b.ring_bytes)).then(a.spin.cmp(&b.spin))
        })
        .map(|(i, _)| i)
}

fn ring(ring_bytes: usize, spin: u32) -> Mechanism {
    Mechanism::Ring { capacity_words: ring_bytes / 8, spin }
}

/// Measures this machine.
pub fn run(machine: &Machine, effort: Effort) -> io::Result<Tuned> {
    let measured_pairs = machine.cpu_pairs();
    let cpus = measured_pairs.first().map_or((None, None), |&(_, a, b)| (Some(a), Some(b)));
    let default = ring(64 << 10, 2_000);
    let mut pairs = Vec::new();
    for &(name, a, b) in &measured_pairs {
        pairs.push((name, (a, b), round_trips(default, (Some(a), Some(b)), effort.trips, MESSAGE)?));
    }
    let mut grid = Vec::new();
    for ring_bytes in RING_BYTES {
        for spin in SPINS {
            let mechanism = ring(ring_bytes, spin);
            let trips = round_trips(mechanism, cpus, effort.trips, MESSAGE)?;
            let rate = throughput(mechanism, cpus, effort.messages, MESSAGE, BATCH)?;
            grid.push(Cell { ring_bytes, spin, trips, rate });
        }
    }
    let chosen = choose(&grid).unwrap_or(0);
    let fastest = grid.iter().enumerate().max_by(|a, b| a.1.rate.total_cmp(&b.1.rate)).map_or(0, |(i, _)| i);
    let measure = |mechanism, cpus| -> io::Result<(RoundTrips, f64)> {
        Ok((
            round_trips(mechanism, cpus, effort.trips, MESSAGE)?,
            throughput(mechanism, cpus, effort.messages / 4, MESSAGE, BATCH)?,
        ))
    };
    let pick = ring(grid[chosen].ring_bytes, grid[chosen].spin);
    Ok(Tuned {
        pairs,
        chosen,
        fastest,
        pipe: measure(Mechanism::Pipe, cpus)?,
        uds: measure(Mechanism::Uds, cpus)?,
        unpinned: measure(pick, (None, None))?,
        grid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(ring_bytes: usize, spin: u32, p99: f64, rate: f64) -> Cell {
        Cell { ring_bytes, spin, trips: RoundTrips { p50_ns: p99 / 2.0, p99_ns: p99 }, rate }
    }

    #[test]
    fn the_choice_is_the_lowest_p99_within_ten_percent_of_the_best_throughput() {
        let grid = [
            cell(4096, 0, 900.0, 50.0),
            cell(16384, 200, 700.0, 95.0),
            cell(65536, 2000, 500.0, 80.0),
            cell(65536, 200, 700.0, 100.0),
        ];
        assert_eq!(choose(&grid), Some(1), "cell 2 is too slow; 1 and 3 tie on p99, the smaller ring wins");
        assert_eq!(choose(&[]), None);
    }
}
