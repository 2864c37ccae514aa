//! What the controller knows about itself, and how it says it: the
//! Prometheus text of `/metrics`, and the answers of `/healthz` and
//! `/readyz`. Pure.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CycleResult {
    /// Nothing changed and nothing drifted.
    Idle,
    /// A plan was applied (and passed its gate, if any).
    Applied,
    /// Drift was put back.
    Repaired,
    /// A plan waits for approvals in `.rtt/pending/`.
    Waiting,
    /// Something failed; the next try is backed off.
    Failed,
}

impl CycleResult {
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            CycleResult::Idle => "idle",
            CycleResult::Applied => "applied",
            CycleResult::Repaired => "repaired",
            CycleResult::Waiting => "waiting",
            CycleResult::Failed => "failed",
        }
    }

    /// Whether the fleet is where the controller wants it.
    pub fn settled(self) -> bool {
        matches!(self, CycleResult::Idle | CycleResult::Applied | CycleResult::Repaired)
    }
}

/// The controller's counters and last readings.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Cycles by result.
    pub cycles: BTreeMap<CycleResult, u64>,
    /// The last cycle's result and why, if it failed.
    pub last: Option<(CycleResult, String)>,
    /// When the loop last ticked, ms since the epoch.
    pub last_tick_ms: u64,
    /// The last cycle's wall time, s.
    pub cycle_seconds: f64,
    /// The last plan's wall time, s.
    pub plan_seconds: f64,
    /// Replicas moved by applied plans.
    pub moves: u64,
    /// Automatic rollbacks (failed verify or SLO gate).
    pub rollbacks: u64,
    /// Hosts off the plan in force at the last probe.
    pub drift_hosts: u64,
    /// Consecutive failed cycles.
    pub failures: u32,
    /// Breakers by driver: open or not.
    pub breakers_open: BTreeMap<String, bool>,
    /// HA: whether this controller leads (`None` on one machine).
    pub leader: Option<bool>,
    /// HA: leaderships this controller won.
    pub leaderships: u64,
}

impl Metrics {
    /// Counts a cycle.
    pub fn cycle(&mut self, result: CycleResult, detail: String, seconds: f64, now_ms: u64) {
        *self.cycles.entry(result).or_default() += 1;
        self.failures = if result == CycleResult::Failed { self.failures + 1 } else { 0 };
        self.last = Some((result, detail));
        self.cycle_seconds = seconds;
        self.last_tick_ms = now_ms;
    }

    /// `/metrics`: the Prometheus text exposition format.
    pub fn exposition(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            name.to_owned()
        };
        let name = family("rtt_reconcile_cycles_total", "counter", "Reconcile cycles by result.");
        let mut lines = String::new();
        for result in
            [CycleResult::Idle, CycleResult::Applied, CycleResult::Repaired, CycleResult::Waiting, CycleResult::Failed]
        {
            let _ = writeln!(
                lines,
                "{name}{{result=\"{}\"}} {}",
                result.name(),
                self.cycles.get(&result).copied().unwrap_or(0)
            );
        }
        out.push_str(&lines);
        let gauges: [(&str, &str, &str, f64); 6] = [
            ("rtt_reconcile_cycle_seconds", "gauge", "Wall time of the last cycle.", self.cycle_seconds),
            ("rtt_reconcile_plan_seconds", "gauge", "Wall time of the last plan.", self.plan_seconds),
            ("rtt_reconcile_moves_total", "counter", "Replicas moved by applied plans.", self.moves as f64),
            (
                "rtt_reconcile_rollbacks_total",
                "counter",
                "Automatic rollbacks (verify or SLO gate).",
                self.rollbacks as f64,
            ),
            (
                "rtt_reconcile_drift_hosts",
                "gauge",
                "Hosts off the plan in force at the last probe.",
                self.drift_hosts as f64,
            ),
            ("rtt_reconcile_consecutive_failures", "gauge", "Failed cycles in a row.", f64::from(self.failures)),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        if let Some(leader) = self.leader {
            let _ = writeln!(
                out,
                "# HELP rtt_reconcile_leader Whether this controller leads (HA on etcd).\n# TYPE rtt_reconcile_leader gauge\nrtt_reconcile_leader {}",
                u8::from(leader)
            );
            let _ = writeln!(
                out,
                "# HELP rtt_reconcile_leaderships_total Leaderships this controller won.\n# TYPE rtt_reconcile_leaderships_total counter\nrtt_reconcile_leaderships_total {}",
                self.leaderships
            );
        }
        let _ = writeln!(
            out,
            "# HELP rtt_driver_breaker_open Whether a driver's breaker is open.\n# TYPE rtt_driver_breaker_open gauge"
        );
        for (driver, open) in &self.breakers_open {
            let _ = writeln!(out, "rtt_driver_breaker_open{{driver=\"{driver}\"}} {}", u8::from(*open));
        }
        out
    }

    /// `/healthz`: the loop is alive (it ticked within `stale_ms`).
    pub fn healthy(&self, now_ms: u64, stale_ms: u64) -> Result<String, String> {
        let age = now_ms.saturating_sub(self.last_tick_ms);
        if self.last_tick_ms == 0 || age <= stale_ms {
            Ok("ok\n".to_owned())
        } else {
            Err(format!("the loop has not ticked for {} ms\n", age))
        }
    }

    /// `/readyz`: the last cycle settled the fleet and nothing drifts (a
    /// follower is a ready standby).
    pub fn ready(&self) -> Result<String, String> {
        if self.leader == Some(false) {
            return Ok("follower\n".to_owned());
        }
        match &self.last {
            None => Err("no cycle has run yet\n".to_owned()),
            Some((result, detail)) if !result.settled() => Err(format!("{}: {detail}\n", result.name())),
            Some(_) if self.drift_hosts > 0 => {
                Err(format!("{} hosts drift from the plan in force\n", self.drift_hosts))
            }
            Some((result, _)) => Ok(format!("{}\n", result.name())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_parses_as_prometheus_text_and_readiness_follows_the_last_cycle() {
        let mut metrics = Metrics::default();
        assert!(metrics.ready().is_err());
        metrics.cycle(CycleResult::Applied, String::new(), 0.5, 1_000);
        metrics.moves = 6;
        metrics.breakers_open.insert("d1".into(), true);
        let text = metrics.exposition();
        assert!(text.contains("rtt_reconcile_cycles_total{result=\"applied\"} 1\n"), "{text}");
        assert!(text.contains("rtt_reconcile_moves_total 6\n"));
        assert!(text.contains("rtt_driver_breaker_open{driver=\"d1\"} 1\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().expect("value");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        assert_eq!(metrics.ready(), Ok("applied\n".to_owned()));
        metrics.cycle(CycleResult::Failed, "plan: infeasible".into(), 0.1, 2_000);
        assert_eq!(metrics.failures, 1);
        assert!(metrics.ready().expect_err("failed").contains("infeasible"));
        assert!(metrics.healthy(2_500, 1_000).is_ok());
        assert!(metrics.healthy(9_000, 1_000).is_err());
        metrics.leader = Some(false);
        assert_eq!(metrics.ready(), Ok("follower\n".to_owned()));
        assert!(metrics.exposition().contains("rtt_reconcile_leader 0\n"));
    }
}
