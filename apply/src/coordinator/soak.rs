//! The soak and the SLO gate (docs/telemetry.md): after a commit, read the
//! routes' observed latency for a while — drivers' `Health` telemetry and
//! the configured sources — judge it against the plan's SLOs and the
//! previous plan's observations, log the verdict in the WAL, and roll back
//! through the same two-phase commit on a breach. A breach ends the soak at
//! once; a pass needs the whole window.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rtt_telemetry::gate::{self, Outcome as GateVerdict, PlannedRoute, Policy, Verdict};
use rtt_telemetry::source::{Source, ingest};
use rtt_telemetry::store::Store;
use rtt_telemetry::{Observations, RouteKey};

use super::*;
use crate::flight::What;
use crate::log::wal::GateOutcome;

/// How long to watch, how often, where from, and what passes.
#[derive(Debug, Clone)]
pub struct Soak {
    /// The window.
    pub duration: Duration,
    /// Time between readings.
    pub interval: Duration,
    /// OpenMetrics pages and JSON-lines files, read besides the drivers.
    pub sources: Vec<Source>,
    /// What passes.
    pub policy: Policy,
}

/// What the soak found and did.
#[derive(Debug)]
pub struct SoakReport {
    /// The verdict.
    pub verdict: Verdict,
    /// The rollback a breach started: its report, or why it failed.
    pub rollback: Option<Result<Report, String>>,
    /// Readings that failed (a driver's `Health`, a source), for the operator.
    pub problems: Vec<String>,
    /// Samples read.
    pub samples: u64,
}

/// The plan's routes, as the gate judges them.
pub fn planned_routes(document: &PlanDocument) -> Vec<PlannedRoute> {
    document
        .routes
        .iter()
        .map(|r| PlannedRoute {
            route: RouteKey::new(&r.from, &r.to),
            planned_p99_us: r.p99_us,
            slo_p99_us: r.slo_p99_us,
        })
        .collect()
}

impl Coordinator {
    /// Soaks `to`, just committed by `report` (from the plan `from`), and
    /// rolls back on a breach.
    pub fn soak(
        &mut self,
        report: &Report,
        from: Option<Sha256>,
        to: &PlanToApply,
        soak: &Soak,
    ) -> Result<SoakReport, ApplyError> {
        let store = Store::new(&self.workspace.layout);
        let planned = planned_routes(&to.document);
        let routes: BTreeSet<RouteKey> = planned.iter().map(|p| p.route.clone()).collect();
        let mut problems = Vec::new();
        let names: Vec<String> = self.fleet.drivers.keys().cloned().collect();
        let mut reporting = Vec::new();
        for name in names {
            match self.start(&name) {
                Ok(_) => reporting.push(name),
                Err(e) => problems.push(format!("driver `{name}` gives no telemetry: {e}")),
            }
        }
        // What drivers collected before this point straddles the commit (a
        // driver reports what it saw since its last `Health`): it is drained
        // and dropped, so the soak judges only samples taken after the
        // commit. Page counters read now are the soak's baseline.
        let _straddling = self.read_drivers(&reporting, &routes, &mut problems);
        let mut seen = Observations::default();
        self.read_sources(&store, &to.hash, &routes, &soak.sources, &mut seen, &mut problems);
        let baseline = match from {
            Some(from) => store.read(&from).map_err(|e| problems.push(e.to_string())).ok(),
            None => None,
        };
        let started = Instant::now();
        let verdict = loop {
            let left = soak.duration.saturating_sub(started.elapsed());
            std::thread::sleep(soak.interval.min(left));
            let now = self.read_drivers(&reporting, &routes, &mut problems);
            self.keep(&store, &to.hash, &now, &mut problems);
            seen.merge(&now);
            self.read_sources(&store, &to.hash, &routes, &soak.sources, &mut seen, &mut problems);
            let verdict = gate::judge(&planned, &seen, baseline.as_ref(), soak.policy);
            self.recorder.record(What::Reading { samples: seen.samples(), routes: seen.routes.len() });
            self.faults.point("soaked");
            if verdict.outcome == GateVerdict::Breach || started.elapsed() >= soak.duration {
                break verdict;
            }
        };
        let outcome = match verdict.outcome {
            GateVerdict::Pass => GateOutcome::Pass,
            GateVerdict::Breach => GateOutcome::Breach,
            GateVerdict::NoEvidence => GateOutcome::NoEvidence,
        };
        let evidence = verdict.evidence();
        self.recorder.record(What::Verdict { outcome: outcome.name().to_owned(), evidence: evidence.clone() });
        self.log(Entry::Gate { txn: report.txn.clone(), outcome, evidence })?;
        if let Some(anchor) = self.wal.anchor() {
            self.workspace.write_anchor(&anchor)?;
        }
        self.faults.point("gated");
        let rollback = match (outcome, from) {
            (GateOutcome::Breach, Some(previous)) => {
                let (document, bytes) = self.workspace.load_plan(&previous)?;
                let previous = PlanToApply::verified(document, previous, bytes);
                let current = (to.hash, to.document.clone());
                Some(self.transaction(Some(current), &previous, Some(&report.txn)).map_err(|e| e.to_string()))
            }
            (GateOutcome::Breach, None) => {
                // A breach with nothing before it: the plan stays (there is
                // no other to go to) and the operator is told.
                problems
                    .push("nothing was applied before this plan, so it stays in force despite the breach".to_owned());
                None
            }
            _ => None,
        };
        if outcome == GateOutcome::Breach {
            self.flush_flight("gate", &report.txn);
        }
        // The same failure at every reading is one problem.
        let mut unique = BTreeSet::new();
        problems.retain(|p| unique.insert(p.clone()));
        Ok(SoakReport { samples: seen.samples(), verdict, rollback, problems })
    }

    /// One `Health` round: the routes of `routes` each driver reports, and
    /// its queue depth.
    fn read_drivers(
        &mut self,
        drivers: &[String],
        routes: &BTreeSet<RouteKey>,
        problems: &mut Vec<String>,
    ) -> Observations {
        let now = now_ms();
        let mut seen = Observations::default();
        for name in drivers {
            match self.driver(name).and_then(|d| d.health()) {
                Ok(health) => {
                    if let Some(depth) = health.queue_depth {
                        seen.queue_depth(name, depth, now);
                    }
                    for route in health.routes {
                        let key = RouteKey::new(route.from, route.to);
                        if !routes.contains(&key) {
                            continue;
                        }
                        for bucket in route.buckets {
                            seen.record(&key, bucket.le_us, bucket.count, now);
                        }
                    }
                }
                Err(e) => problems.push(format!("driver `{name}` Health failed: {e}")),
            }
        }
        seen
    }

    fn read_sources(
        &mut self,
        store: &Store,
        plan: &Sha256,
        routes: &BTreeSet<RouteKey>,
        sources: &[Source],
        seen: &mut Observations,
        problems: &mut Vec<String>,
    ) {
        if sources.is_empty() {
            return;
        }
        match ingest(store, plan, routes, sources, false, now_ms()) {
            Ok((_, added)) => seen.merge(&added),
            Err(e) => problems.push(e.to_string()),
        }
    }

    fn keep(&self, store: &Store, plan: &Sha256, seen: &Observations, problems: &mut Vec<String>) {
        let kept = store.lock().and_then(|lock| store.add(&lock, plan, seen));
        if let Err(e) = kept {
            problems.push(e.to_string());
        }
    }
}
