//! Phase timings per driver: appended to `.rtt/telemetry/phases.jsonl` after
//! each run, summarised as p50/p95/p99 by `rtt status`. Advisory data: not
//! fsynced, and a line that does not parse (a torn last line) is skipped.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One call's duration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// Driver name.
    pub driver: String,
    /// Phase: probe, open, prepare, commit, abort, rx, health, close.
    pub phase: String,
    /// Duration, µs.
    pub micros: u64,
    /// Whether the call succeeded.
    pub ok: bool,
}

/// Percentiles of one driver's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quantiles {
    /// Samples.
    pub count: usize,
    /// Median, µs.
    pub p50_us: u64,
    /// 95th percentile, µs.
    pub p95_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
}

/// Appends samples.
pub fn append(path: &Path, samples: &[Sample]) -> io::Result<()> {
    if samples.is_empty() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut text = Vec::new();
    for sample in samples {
        serde_json::to_writer(&mut text, sample).map_err(io::Error::other)?;
        text.push(b'\n');
    }
    OpenOptions::new().create(true).append(true).open(path)?.write_all(&text)
}

/// Reads every sample that parses; no file means none.
pub fn read(path: &Path) -> io::Result<Vec<Sample>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// p50/p95/p99 (nearest rank) per driver and phase. Pure.
pub fn summarise(samples: &[Sample]) -> BTreeMap<String, BTreeMap<String, Quantiles>> {
    let mut grouped: BTreeMap<String, BTreeMap<String, Vec<u64>>> = BTreeMap::new();
    for sample in samples {
        grouped.entry(sample.driver.clone()).or_default().entry(sample.phase.clone()).or_default().push(sample.micros);
    }
    grouped
        .into_iter()
        .map(|(driver, phases)| {
            let phases = phases
                .into_iter()
                .map(|(phase, mut micros)| {
                    micros.sort_unstable();
                    let rank =
                        |p: usize| micros[(p * micros.len()).div_ceil(100).saturating_sub(1).min(micros.len() - 1)];
                    let quantiles =
                        Quantiles { count: micros.len(), p50_us: rank(50), p95_us: rank(95), p99_us: rank(99) };
                    (phase, quantiles)
                })
                .collect();
            (driver, phases)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_per_driver_and_phase() {
        let samples: Vec<Sample> = (1..=100)
            .map(|n| Sample { driver: "d".into(), phase: "prepare".into(), micros: n, ok: true })
            .chain([Sample { driver: "e".into(), phase: "commit".into(), micros: 7, ok: false }])
            .collect();
        let summary = summarise(&samples);
        assert_eq!(summary["d"]["prepare"], Quantiles { count: 100, p50_us: 50, p95_us: 95, p99_us: 99 });
        assert_eq!(summary["e"]["commit"], Quantiles { count: 1, p50_us: 7, p95_us: 7, p99_us: 7 });
    }
}
