//! Counters to increments. An OpenMetrics page holds counts since its
//! process started, so each read keeps the last counts per series and
//! records only what grew since, the way Prometheus's `increase()` does: the
//! first sight of a series is its baseline (nothing recorded, so a long-lived
//! exporter's history is not blamed on the plan just applied), and a count
//! that went down means the process restarted (all of it is new). A
//! JSON-lines file is read from where the last read stopped; a file shorter
//! than that was rotated and is read from its start. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::RouteKey;
use crate::histogram::{Latency, MAX_US};
use crate::openmetrics::{Series, Shape};

/// The version of [`Cursors`]' file.
pub const CURSORS_VERSION: u32 = 1;

/// Where every source was last read (`.rtt/telemetry/cursors.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursors {
    /// [`CURSORS_VERSION`].
    pub version: u32,
    /// Last counts by `<source> <series key>`.
    pub series: BTreeMap<String, Counts>,
    /// Bytes of each JSON-lines file already read, by path.
    pub files: BTreeMap<String, u64>,
}

impl Default for Cursors {
    fn default() -> Self {
        Cursors { version: CURSORS_VERSION, series: BTreeMap::new(), files: BTreeMap::new() }
    }
}

/// A series' counts at its last read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// The bucket bounds (or quantiles) they belong to, as text; other
    /// bounds on the next read mean a new series.
    pub shape: String,
    /// Cumulative bucket counts, or the summary's `_count`.
    pub counts: Vec<f64>,
}

impl Cursors {
    /// What each of `series` (read from `source`) gained since the last
    /// read, as histograms. `from_zero` takes counts with no earlier read as
    /// increments from zero (a page written by a process started with the
    /// plan) instead of as a baseline.
    pub fn increments(&mut self, source: &str, series: &[Series], from_zero: bool) -> Vec<(RouteKey, Latency)> {
        let mut gained = Vec::new();
        for one in series {
            let (shape, counts) = match &one.shape {
                Shape::Histogram { buckets } => {
                    (buckets.iter().map(|(le, _)| format_bound(*le)).collect::<Vec<_>>().join(","), {
                        buckets.iter().map(|(_, count)| *count).collect::<Vec<_>>()
                    })
                }
                Shape::Summary { count, .. } => ("summary".to_owned(), vec![*count]),
            };
            let key = format!("{source} {}", one.key);
            let before = match self.series.get(&key) {
                Some(last) if last.shape == shape && last.counts.iter().zip(&counts).all(|(a, b)| a <= b) => {
                    Some(last.counts.clone())
                }
                // Other bounds, or a count went down: a new series or a
                // restarted process; all of it is new.
                Some(_) => None,
                None if from_zero => None,
                None => {
                    self.series.insert(key, Counts { shape, counts });
                    continue;
                }
            };
            let delta: Vec<f64> = match &before {
                Some(before) => counts.iter().zip(before).map(|(now, then)| now - then).collect(),
                None => counts.clone(),
            };
            let latency = match &one.shape {
                Shape::Histogram { buckets } => histogram_of(buckets, &delta),
                Shape::Summary { quantiles, .. } => summary_of(quantiles, delta.first().copied().unwrap_or(0.0)),
            };
            self.series.insert(key, Counts { shape, counts });
            if latency.count() > 0 {
                gained.push((one.route.clone(), latency));
            }
        }
        gained
    }

    /// The byte offset to read `path` from, given its current length.
    pub fn file_offset(&self, path: &str, len: u64) -> u64 {
        match self.files.get(path) {
            Some(&offset) if offset <= len => offset,
            _ => 0,
        }
    }
}

fn format_bound(le: f64) -> String {
    if le.is_infinite() { "+Inf".to_owned() } else { le.to_string() }
}

fn count_of(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 { value.round() as u64 } else { 0 }
}

/// Cumulative bucket increments to a histogram: each bucket's samples count
/// at its upper bound (a p99 never reads lower than the truth), those above
/// the last finite bound at [`MAX_US`].
fn histogram_of(buckets: &[(f64, f64)], cumulative: &[f64]) -> Latency {
    let mut latency = Latency::new();
    let mut below = 0.0;
    for ((le, _), &upto) in buckets.iter().zip(cumulative) {
        let at = if le.is_finite() { le.max(0.0).ceil() as u64 } else { MAX_US };
        latency.record(at, count_of(upto - below));
        below = upto.max(below);
    }
    latency
}

/// A summary's quantiles to a histogram of `count` samples: the share between
/// two quantiles counts at the higher one's value, the share above the
/// highest at its value. Its quantiles at the summary's own ranks read the
/// summary's values; between them it is a step, not an interpolation.
fn summary_of(quantiles: &[(f64, f64)], count: f64) -> Latency {
    let mut latency = Latency::new();
    let total = count_of(count);
    if total == 0 || quantiles.is_empty() {
        return latency;
    }
    let mut placed = 0u64;
    for (index, (q, value)) in quantiles.iter().enumerate() {
        let upto = if index + 1 == quantiles.len() { total } else { ((q * total as f64).round() as u64).min(total) };
        latency.record(value.max(0.0).ceil() as u64, upto.saturating_sub(placed));
        placed = placed.max(upto);
    }
    latency
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openmetrics::parse;

    fn page(count_fast: u64, count_all: u64) -> Vec<Series> {
        parse(&format!(
            "# TYPE l_seconds histogram\n\
             l_seconds_bucket{{route=\"a->b\",le=\"0.001\"}} {count_fast}\n\
             l_seconds_bucket{{route=\"a->b\",le=\"+Inf\"}} {count_all}\n"
        ))
        .expect("parses")
    }

    #[test]
    fn first_sight_is_a_baseline_then_increments_then_restarts() {
        let mut cursors = Cursors::default();
        assert!(cursors.increments("src", &page(90, 100), false).is_empty());
        let gained = cursors.increments("src", &page(180, 200), false);
        assert_eq!(gained.len(), 1);
        assert_eq!(gained[0].1.count(), 100);
        // 90 at 1 ms, 10 above the last bound.
        assert!((1_000..=1_010).contains(&gained[0].1.quantile(0.90)));
        assert_eq!(gained[0].1.quantile(0.95), MAX_US);
        // The exporter restarted: its counts are all new.
        assert_eq!(cursors.increments("src", &page(5, 5), false)[0].1.count(), 5);
        // Another source's same series is its own.
        assert_eq!(cursors.increments("other", &page(5, 5), true)[0].1.count(), 5);
    }

    #[test]
    fn summaries_become_steps_at_their_quantiles() {
        let mut latency = summary_of(&[(0.5, 100.0), (0.99, 900.0)], 1000.0);
        assert_eq!(latency.count(), 1000);
        assert!(latency.quantile(0.5) <= 101, "{latency:?}");
        assert!((900..=909).contains(&latency.quantile(0.99)), "{latency:?}");
        latency.record(1, 0);
        assert_eq!(summary_of(&[], 10.0).count(), 0);
    }

    #[test]
    fn file_offsets_restart_after_rotation() {
        let mut cursors = Cursors::default();
        cursors.files.insert("f".into(), 100);
        assert_eq!(cursors.file_offset("f", 150), 100);
        assert_eq!(cursors.file_offset("f", 50), 0);
        assert_eq!(cursors.file_offset("g", 50), 0);
    }
}
