//! Timing helpers shared by the benchmarks (each includes this file).

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// The median of `runs` timings of `f`, after one untimed run that warms caches.
pub fn median_of(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    median_measured(runs, || {
        let start = Instant::now();
        f();
        start.elapsed()
    })
}

/// The median of `runs` durations that `f` measures itself.
pub fn median_measured(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..runs).map(|_| f()).collect();
    times.sort();
    times[runs / 2]
}
