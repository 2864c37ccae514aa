//! What was observed under one plan: a histogram per route with the window
//! it covers, and each driver's last queue depth. Pure; [`crate::store`]
//! keeps it on disk in [`ObservationsFile`]'s form.

use std::collections::BTreeMap;

use rtt_canonical::Sha256;
use serde::{Deserialize, Serialize};

use crate::RouteKey;
use crate::histogram::{Latency, MalformedHistogram};

/// One route's samples and when they were taken.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSeen {
    /// The samples.
    pub latency: Latency,
    /// Earliest sample's arrival, ms since the epoch.
    pub first_ms: u64,
    /// Latest sample's arrival, ms since the epoch.
    pub last_ms: u64,
}

/// A driver's last reported queue depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriverSeen {
    /// Requests waiting in the driver.
    pub queue_depth: u64,
    /// When it said so, ms since the epoch.
    pub at_ms: u64,
}

/// Percentiles of one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Samples.
    pub count: u64,
    /// Median, µs.
    pub p50_us: u64,
    /// 95th percentile, µs.
    pub p95_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// Window start, ms since the epoch.
    pub first_ms: u64,
    /// Window end, ms since the epoch.
    pub last_ms: u64,
}

/// Observations under one plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations {
    /// Per route.
    pub routes: BTreeMap<RouteKey, RouteSeen>,
    /// Per driver.
    pub drivers: BTreeMap<String, DriverSeen>,
}

impl Observations {
    /// Adds `count` samples of `us` on `route`, arrived at `at_ms`.
    pub fn record(&mut self, route: &RouteKey, us: u64, count: u64, at_ms: u64) {
        if count == 0 {
            return;
        }
        // In place: a histogram per sample would cost an allocation each.
        match self.routes.get_mut(route) {
            Some(seen) => {
                seen.latency.record(us, count);
                seen.first_ms = seen.first_ms.min(at_ms);
                seen.last_ms = seen.last_ms.max(at_ms);
            }
            None => {
                let mut latency = Latency::new();
                latency.record(us, count);
                self.routes.insert(route.clone(), RouteSeen { latency, first_ms: at_ms, last_ms: at_ms });
            }
        }
    }

    /// Adds a histogram of `route` covering `first_ms..=last_ms`.
    pub fn add(&mut self, route: &RouteKey, latency: &Latency, first_ms: u64, last_ms: u64) {
        if latency.count() == 0 {
            return;
        }
        match self.routes.get_mut(route) {
            Some(seen) => {
                seen.latency.merge(latency);
                seen.first_ms = seen.first_ms.min(first_ms);
                seen.last_ms = seen.last_ms.max(last_ms);
            }
            None => {
                self.routes.insert(route.clone(), RouteSeen { latency: latency.clone(), first_ms, last_ms });
            }
        }
    }

    /// Notes a driver's queue depth (the latest reading wins).
    pub fn queue_depth(&mut self, driver: &str, queue_depth: u64, at_ms: u64) {
        let reading = DriverSeen { queue_depth, at_ms };
        match self.drivers.get_mut(driver) {
            Some(seen) if seen.at_ms > at_ms => {}
            _ => {
                self.drivers.insert(driver.to_owned(), reading);
            }
        }
    }

    /// Adds everything `other` saw.
    pub fn merge(&mut self, other: &Observations) {
        for (route, seen) in &other.routes {
            self.add(route, &seen.latency, seen.first_ms, seen.last_ms);
        }
        for (driver, seen) in &other.drivers {
            self.queue_depth(driver, seen.queue_depth, seen.at_ms);
        }
    }

    /// Samples in all.
    pub fn samples(&self) -> u64 {
        self.routes.values().map(|seen| seen.latency.count()).sum()
    }

    /// Percentiles of `route`, if it was seen.
    pub fn summary(&self, route: &RouteKey) -> Option<Summary> {
        self.routes.get(route).map(|seen| Summary {
            count: seen.latency.count(),
            p50_us: seen.latency.quantile(0.50),
            p95_us: seen.latency.quantile(0.95),
            p99_us: seen.latency.quantile(0.99),
            first_ms: seen.first_ms,
            last_ms: seen.last_ms,
        })
    }

    /// The on-disk form.
    pub fn to_file(&self, plan: Sha256) -> ObservationsFile {
        ObservationsFile {
            version: FILE_VERSION,
            plan,
            routes: self
                .routes
                .iter()
                .map(|(route, seen)| {
                    (
                        route.to_string(),
                        RouteEntry {
                            from: route.from.clone(),
                            to: route.to.clone(),
                            first_ms: seen.first_ms,
                            last_ms: seen.last_ms,
                            count: seen.latency.count(),
                            hdr: seen.latency.encode(),
                        },
                    )
                })
                .collect(),
            drivers: self.drivers.clone(),
        }
    }

    /// Reads the on-disk form.
    pub fn from_file(file: &ObservationsFile) -> Result<Observations, MalformedHistogram> {
        let mut observations = Observations { drivers: file.drivers.clone(), ..Observations::default() };
        for entry in file.routes.values() {
            let latency = Latency::decode(&entry.hdr)?;
            observations.add(&RouteKey::new(&entry.from, &entry.to), &latency, entry.first_ms, entry.last_ms);
        }
        Ok(observations)
    }
}

/// The version of [`ObservationsFile`].
pub const FILE_VERSION: u32 = 1;

/// `.rtt/telemetry/routes/<hex>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationsFile {
    /// [`FILE_VERSION`].
    pub version: u32,
    /// The plan in force while these were observed.
    pub plan: Sha256,
    /// By `from->to`.
    pub routes: BTreeMap<String, RouteEntry>,
    /// By driver name.
    pub drivers: BTreeMap<String, DriverSeen>,
}

/// One route in [`ObservationsFile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// Window start, ms since the epoch.
    pub first_ms: u64,
    /// Window end, ms since the epoch.
    pub last_ms: u64,
    /// Samples (also inside `hdr`; here for people reading the file).
    pub count: u64,
    /// HdrHistogram V2, base64.
    pub hdr: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_form_round_trips_and_windows_widen() {
        let route = RouteKey::new("api", "db");
        let mut seen = Observations::default();
        seen.record(&route, 800, 99, 2_000);
        seen.record(&route, 5_000, 1, 1_000);
        seen.queue_depth("d", 3, 10);
        seen.queue_depth("d", 1, 5);
        let summary = seen.summary(&route).expect("seen");
        assert_eq!((summary.count, summary.first_ms, summary.last_ms), (100, 1_000, 2_000));
        assert!(summary.p50_us >= 800 && summary.p50_us <= 808, "{summary:?}");
        assert_eq!(seen.drivers["d"].queue_depth, 3);
        let file = seen.to_file(Sha256::of(b"plan"));
        assert_eq!(Observations::from_file(&file).expect("decodes"), seen);
    }
}
