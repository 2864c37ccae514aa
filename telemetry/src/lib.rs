//! Observed route latency (issue 17). Samples arrive from drivers' `Health`
//! replies, OpenMetrics pages and JSON lines; they are kept per plan and
//! route as HDR histograms (`.rtt/telemetry/routes/`), and the SLO gate
//! judges a plan from them.
//!
//! Pure: [`histogram`], [`openmetrics`], [`jsonl`], [`observations`],
//! [`cursors`] (counters to increments) and [`gate`]. IO: [`store`] (the
//! files, under a lock) and [`source`] (reading a file or a localhost URL).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub mod calibrate;
pub mod cursors;
pub mod gate;
pub mod histogram;
pub mod jsonl;
pub mod observations;
pub mod openmetrics;
pub mod source;
pub mod store;

pub use histogram::Latency;
pub use observations::Observations;

/// The wall clock, ms since the Unix epoch: what readings, windows,
/// breakers and flight events carry (0 before 1970, a clock rtt does not
/// judge).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A route: caller and callee agent, written `from->to`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteKey {
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
}

impl RouteKey {
    /// The route from `from` to `to`.
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> RouteKey {
        RouteKey { from: from.into(), to: to.into() }
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}", self.from, self.to)
    }
}

impl FromStr for RouteKey {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once("->") {
            Some((from, to)) if !from.is_empty() && !to.is_empty() => Ok(RouteKey::new(from, to)),
            _ => Err(format!("route {text:?} is not `from->to`")),
        }
    }
}
