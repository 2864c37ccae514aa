//! Chaos scenarios as data (`src/chaos/scenarios/*.json`, or any file of
//! the same shape): what to inject, and what the fleet must hold after
//! recovery. Pure.

use serde::{Deserialize, Serialize};

/// One scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name (a bundled one is run by name).
    pub name: String,
    /// What it does, for the report.
    pub description: String,
    /// The fault.
    pub inject: Inject,
    /// What the fleet must hold once recovery is done.
    #[serde(default)]
    pub expect: Expect,
    /// Whether it is in the short pack (`--quick`).
    #[serde(default)]
    pub quick: bool,
}

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Inject {
    /// SIGKILL of the coordinator at every fault point it reaches.
    CoordinatorKill {},
    /// A driver misbehaves once at each of `phases`, in each driver the
    /// transaction touches.
    Driver {
        /// `crash`, `hang`, `slow` or `garbage`.
        fault: DriverFault,
        /// Methods (`Probe`, `Open`, `Rx`, `Health`, `Close`) or Tx phases
        /// (`prepare`, `commit`, `abort`).
        phases: Vec<String>,
        /// For `slow`: how late.
        #[serde(default)]
        delay_ms: Option<u64>,
    },
    /// ENOSPC at the coordinator's n-th fsync, for every n it reaches.
    Enospc {},
    /// Every fsync of the coordinator takes `delay_ms` more.
    SlowDisk {
        /// Extra time per fsync, ms.
        delay_ms: u64,
    },
    /// The touched drivers' telemetry reports every route with an SLO at
    /// ten times its SLO; apply soaks for `soak_ms`.
    TelemetryBreach {
        /// The soak.
        soak_ms: u64,
    },
}

/// A driver's misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriverFault {
    /// Exits after the work, before the answer.
    Crash,
    /// Never answers.
    Hang,
    /// Answers late.
    Slow,
    /// Answers with a line that is not JSON.
    Garbage,
}

/// What the fleet must hold once recovery is done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// Wholly the previous plan or wholly the next.
    #[default]
    Either,
    /// Wholly the previous plan.
    Previous,
    /// Wholly the next plan.
    Next,
}

/// The bundled scenarios, in run order.
pub const BUNDLED: [(&str, &str); 8] = [
    ("coordinator-kill", include_str!("scenarios/coordinator-kill.json")),
    ("driver-crash", include_str!("scenarios/driver-crash.json")),
    ("driver-hang", include_str!("scenarios/driver-hang.json")),
    ("driver-slow", include_str!("scenarios/driver-slow.json")),
    ("driver-garbage", include_str!("scenarios/driver-garbage.json")),
    ("enospc", include_str!("scenarios/enospc.json")),
    ("slow-disk", include_str!("scenarios/slow-disk.json")),
    ("telemetry-breach", include_str!("scenarios/telemetry-breach.json")),
];

/// Parses a scenario file's text.
pub fn parse(text: &str) -> Result<Scenario, String> {
    let scenario: Scenario = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if let Inject::Driver { fault: DriverFault::Slow, delay_ms: None, .. } = scenario.inject {
        return Err("a `slow` driver fault needs `delay_ms`".to_owned());
    }
    Ok(scenario)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_scenario_parses_under_its_name() {
        for (name, text) in BUNDLED {
            let scenario = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(scenario.name, name);
        }
        assert!(
            parse(r#"{"name":"x","description":"","inject":{"driver":{"fault":"slow","phases":["Rx"]}}}"#).is_err()
        );
        assert!(parse(r#"{"name":"x","description":"","inject":{"meteor":{}}}"#).is_err());
    }
}
