//! One route's observed latency: an HDR histogram in µs. Histograms merge
//! exactly (adding counts), so a soak window, a day, or two sources of the
//! same route combine without the error of averaging percentiles.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

/// The highest latency a histogram tells apart, µs (one minute). Samples
/// above it count as it: past a minute, a route has failed whatever the exact
/// figure.
pub const MAX_US: u64 = 60_000_000;

/// Significant decimal digits kept: every recorded value is known within 1 %.
/// Two digits rather than HdrHistogram's customary three keep a histogram at
/// about 20 KiB in memory, so 15,000 routes fit in a status read; a p99 within
/// 1 % is far finer than any SLO budget.
const SIGNIFICANT_DIGITS: u8 = 2;

/// A histogram that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed histogram: {0}")]
pub struct MalformedHistogram(pub String);

/// Latency samples of one route, µs.
#[derive(Clone, PartialEq)]
pub struct Latency(Histogram<u64>);

impl std::fmt::Debug for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latency").field("count", &self.count()).field("p99_us", &self.quantile(0.99)).finish()
    }
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty histogram.
    pub fn new() -> Self {
        // The bounds are constants inside HdrHistogram's limits.
        let histogram = Histogram::new_with_bounds(1, MAX_US, SIGNIFICANT_DIGITS).expect("constant bounds are valid");
        Latency(histogram)
    }

    /// Records `count` samples of `us` (0 counts as 1 µs, above [`MAX_US`] as
    /// [`MAX_US`]).
    pub fn record(&mut self, us: u64, count: u64) {
        if count == 0 {
            return;
        }
        // In range by the clamp, and u64 counts saturate: nothing to fail.
        let _ = self.0.record_n(us.clamp(1, MAX_US), count);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides: the add cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The value at quantile `q` (0..=1), µs, as the highest value equivalent
    /// to the sample at that rank (a conservative p99); 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        self.0.highest_equivalent(self.0.value_at_quantile(q.clamp(0.0, 1.0))).min(MAX_US)
    }

    /// HdrHistogram's V2 encoding, in base64: what the store keeps.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::new();
        // Writing to a Vec cannot fail, and the histogram's counts are u64.
        let _ = V2Serializer::new().serialize(&self.0, &mut bytes);
        STANDARD.encode(bytes)
    }

    /// Reads [`Latency::encode`]'s text.
    pub fn decode(text: &str) -> Result<Latency, MalformedHistogram> {
        let bytes = STANDARD.decode(text).map_err(|e| MalformedHistogram(e.to_string()))?;
        let decoded: Histogram<u64> =
            Deserializer::new().deserialize(&mut bytes.as_slice()).map_err(|e| MalformedHistogram(format!("{e:?}")))?;
        // Re-record into our bounds so that a histogram written with other
        // bounds cannot smuggle in a different resolution or range.
        let mut latency = Latency::new();
        for value in decoded.iter_recorded() {
            latency.record(value.value_iterated_to(), value.count_at_value());
        }
        Ok(latency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quantiles_are_within_one_percent_and_never_below_the_sample() {
        let mut latency = Latency::new();
        for us in 1..=10_000u64 {
            latency.record(us, 1);
        }
        let p99 = latency.quantile(0.99);
        assert!((9_900..=9_900 * 101 / 100).contains(&p99), "p99 {p99}");
        assert_eq!(latency.count(), 10_000);
    }

    #[test]
    fn out_of_range_samples_are_clamped_not_lost() {
        let mut latency = Latency::new();
        latency.record(0, 2);
        latency.record(u64::MAX, 1);
        assert_eq!(latency.count(), 3);
        assert_eq!(latency.quantile(1.0), MAX_US);
        assert_eq!(Latency::new().quantile(0.99), 0);
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(Latency::decode("not base64!").is_err());
        assert!(Latency::decode(&STANDARD.encode(b"HISTFAAAA")).is_err());
    }

    proptest! {
        #[test]
        fn encoding_round_trips_and_merge_adds(
            a in proptest::collection::vec((1u64..MAX_US, 1u64..1000), 0..50),
            b in proptest::collection::vec((1u64..MAX_US, 1u64..1000), 0..50),
        ) {
            let fill = |samples: &[(u64, u64)]| {
                let mut latency = Latency::new();
                for &(us, n) in samples {
                    latency.record(us, n);
                }
                latency
            };
            let (ha, hb) = (fill(&a), fill(&b));
            prop_assert_eq!(Latency::decode(&ha.encode()).expect("decodes"), ha.clone());
            let mut merged = ha.clone();
            merged.merge(&hb);
            let both: Vec<(u64, u64)> = a.iter().chain(&b).copied().collect();
            prop_assert_eq!(merged, fill(&both));
        }
    }
}
