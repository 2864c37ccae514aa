//! The semantic diff of two plan documents (SPEC §6, `rtt diff`): moved
//! replicas, scale changes, route p99 changes with SLO status, new SLO
//! violations, the objective change, input hash changes and view changes.
//!
//! It compares parsed documents, never bytes, so key order and whitespace
//! cannot show up as a change; signatures are ignored (they say who approved a
//! plan, not what it does). Every list is sorted, so the same two plans always
//! give the same diff, and a plan diffed against itself gives an empty one.
//! Rendering (text, markdown) lives in the binary; this is data.

use std::collections::{BTreeMap, BTreeSet};

use rtt_canonical::Sha256;
use rtt_schema::model::{Locality, Model};
use serde::Serialize;

use crate::definitions::route_level;
use crate::placement::{Placement, RowMismatch};
use crate::score::score;
use crate::topology::Topology;
use rtt_plan::{PlacementRow, PlanDocument, SolverStatus, round_figure};

/// `kind` of a diff document.
pub const DIFF_KIND: &str = "rtt.diff";
/// Version of the diff document's schema (docs/explain.md).
pub const DIFF_VERSION: u32 = 1;

/// The differences between two plans.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanDiff {
    /// Always `rtt.diff`.
    pub kind: &'static str,
    /// Schema version.
    pub version: u32,
    /// The old plan.
    pub old: PlanRef,
    /// The new plan.
    pub new: PlanRef,
    /// Whether route figures were recomputed under a config (`--config`)
    /// rather than read from the plans.
    pub rescored: bool,
    /// `inputs` hashes that differ.
    pub inputs: Vec<InputChange>,
    /// The objective and solver figures, when any differs.
    pub objective: Option<ObjectiveChange>,
    /// Replicas that left one slot for another, by agent then slot.
    pub moves: Vec<Move>,
    /// Agents whose replica count changed (added and removed agents included).
    pub scale: Vec<ScaleChange>,
    /// Routes whose p99, locality or SLO changed, by (from, to).
    pub routes: Vec<RouteChange>,
    /// Routes that break their SLO in the new plan and did not in the old.
    pub new_slo_violations: Vec<RouteKey>,
    /// View entries whose content hash changed.
    pub views: Vec<ViewChange>,
}

/// Which plan a side is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRef {
    /// The plan hash (SPEC §5), when it can be computed.
    pub hash: Option<Sha256>,
    /// `serial`.
    pub serial: u64,
}

/// One `inputs` field that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputChange {
    /// `config`, `previous` or `registry`.
    pub input: &'static str,
    /// Old hash.
    pub old: Option<Sha256>,
    /// New hash.
    pub new: Option<Sha256>,
}

/// Objective and solver figures of both plans.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectiveChange {
    /// Old figures.
    pub old: ObjectiveFigures,
    /// New figures.
    pub new: ObjectiveFigures,
    /// `new.total − old.total`.
    pub total_change: f64,
    /// `new.latency_us − old.latency_us`.
    pub latency_change_us: f64,
}

/// The objective block and the solver's status of one plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectiveFigures {
    /// Traffic-weighted mean route p99, µs.
    pub latency_us: f64,
    /// Moves against that plan's own previous plan.
    pub moves: u64,
    /// Objective total.
    pub total: f64,
    /// Solver status.
    pub status: SolverStatus,
    /// Relative gap to the proven bound.
    pub gap: f64,
}

/// A NUMA node named as in the plan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Slot {
    /// Host name.
    pub host: String,
    /// NUMA index.
    pub numa: u32,
}

/// Replicas of one agent that moved from one slot to another.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Move {
    /// Agent id.
    pub agent: String,
    /// Where they were.
    pub from: Slot,
    /// Where they are.
    pub to: Slot,
    /// How many.
    pub replicas: u32,
}

/// An agent whose replica count changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScaleChange {
    /// Agent id.
    pub agent: String,
    /// Replicas in the old plan (0: new agent).
    pub old_replicas: u32,
    /// Replicas in the new plan (0: removed agent).
    pub new_replicas: u32,
    /// Where the added replicas went.
    pub added: Vec<SlotCount>,
    /// Where the removed replicas were.
    pub removed: Vec<SlotCount>,
}

/// A count on a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotCount {
    /// The slot.
    pub slot: Slot,
    /// Replicas.
    pub replicas: u32,
}

/// A route by its ends.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RouteKey {
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
}

/// A route's figures in both plans.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteChange {
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// Old figures (absent: a new route).
    pub old: Option<RouteFigures>,
    /// New figures (absent: a removed route).
    pub new: Option<RouteFigures>,
    /// `new.p99_us − old.p99_us` when both exist.
    pub p99_change_us: Option<f64>,
    /// The change in percent of the old p99, when both exist and old > 0.
    pub p99_change_pct: Option<f64>,
}

/// One side's figures of a route.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteFigures {
    /// p99, µs.
    pub p99_us: f64,
    /// The locality level that sets it.
    pub level: &'static str,
    /// `F_L` for numa, host, rack, zone.
    pub locality: [f64; 4],
    /// The SLO, µs.
    pub slo_p99_us: Option<f64>,
    /// `ok`, `violated` or `none` (no SLO).
    pub slo_status: SloStatus,
}

/// Whether a route meets its SLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SloStatus {
    /// No SLO.
    None,
    /// p99 within the SLO.
    Ok,
    /// p99 above the SLO.
    Violated,
}

/// A view entry whose content hash changed (SPEC §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ViewChange {
    /// Provider name.
    pub provider: String,
    /// Entry id (its `id` field, or its position when it has none).
    pub id: String,
    /// Old content hash (absent: added).
    pub old: Option<String>,
    /// New content hash (absent: removed).
    pub new: Option<String>,
}

/// Why two plans cannot be compared under a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    /// A plan names something the config does not have.
    #[error("the {side} plan does not fit the config: {mismatch}")]
    Mismatch {
        /// `old` or `new`.
        side: &'static str,
        /// What does not fit.
        mismatch: RowMismatch,
    },
}

impl PlanDiff {
    /// No difference at all (serials aside: a re-plan of the same inputs
    /// that places the same is the same plan).
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
            && self.objective.is_none()
            && self.moves.is_empty()
            && self.scale.is_empty()
            && self.routes.is_empty()
            && self.new_slo_violations.is_empty()
            && self.views.is_empty()
    }

    /// Routes whose p99 grew by more than `percent` of the old p99 (a route
    /// that had a p99 of 0 regresses on any growth); sorted.
    pub fn regressions(&self, percent: f64) -> Vec<&RouteChange> {
        self.routes
            .iter()
            .filter(|route| match (&route.old, &route.new) {
                (Some(old), Some(new)) if old.p99_us > 0.0 => {
                    (new.p99_us - old.p99_us) / old.p99_us * 100.0 > percent + 1e-9
                }
                (Some(old), Some(new)) => new.p99_us > old.p99_us,
                _ => false,
            })
            .collect()
    }
}

/// The diff of two plans, route figures as the plans state them.
pub fn diff(old: &PlanDocument, new: &PlanDocument) -> PlanDiff {
    build(old, new, stated_routes(old), stated_routes(new), false)
}

/// The diff of two plans with every route figure recomputed from the
/// placements under `model` (its SLOs included), so that plans made from
/// different configs are compared on the same terms.
pub fn diff_under(model: &Model, old: &PlanDocument, new: &PlanDocument) -> Result<PlanDiff, DiffError> {
    let topology = Topology::new(model);
    let old_routes =
        rescored_routes(model, &topology, old).map_err(|mismatch| DiffError::Mismatch { side: "old", mismatch })?;
    let new_routes =
        rescored_routes(model, &topology, new).map_err(|mismatch| DiffError::Mismatch { side: "new", mismatch })?;
    Ok(build(old, new, old_routes, new_routes, true))
}

fn build(
    old: &PlanDocument,
    new: &PlanDocument,
    old_routes: BTreeMap<RouteKey, RouteFigures>,
    new_routes: BTreeMap<RouteKey, RouteFigures>,
    rescored: bool,
) -> PlanDiff {
    let (moves, scale) = placement_changes(&old.placements, &new.placements);
    let routes = route_changes(&old_routes, &new_routes);
    let new_slo_violations = routes
        .iter()
        .filter(|r| {
            let now = r.new.as_ref().is_some_and(|n| n.slo_status == SloStatus::Violated);
            let before = r.old.as_ref().is_some_and(|o| o.slo_status == SloStatus::Violated);
            now && !before
        })
        .map(|r| RouteKey { from: r.from.clone(), to: r.to.clone() })
        .collect();
    PlanDiff {
        kind: DIFF_KIND,
        version: DIFF_VERSION,
        old: PlanRef { hash: old.hash().ok(), serial: old.serial },
        new: PlanRef { hash: new.hash().ok(), serial: new.serial },
        rescored,
        inputs: input_changes(old, new),
        objective: objective_change(old, new),
        moves,
        scale,
        routes,
        new_slo_violations,
        views: view_changes(old, new),
    }
}

fn input_changes(old: &PlanDocument, new: &PlanDocument) -> Vec<InputChange> {
    let pairs = [
        ("config", Some(old.inputs.config), Some(new.inputs.config)),
        ("previous", old.inputs.previous, new.inputs.previous),
        ("registry", old.inputs.registry, new.inputs.registry),
    ];
    pairs.into_iter().filter(|(_, o, n)| o != n).map(|(input, old, new)| InputChange { input, old, new }).collect()
}

fn objective_change(old: &PlanDocument, new: &PlanDocument) -> Option<ObjectiveChange> {
    let figures = |p: &PlanDocument| ObjectiveFigures {
        latency_us: p.objective.latency_us,
        moves: p.objective.moves,
        total: p.objective.total,
        status: p.solver.status,
        gap: p.solver.gap,
    };
    let (o, n) = (figures(old), figures(new));
    (o != n).then(|| ObjectiveChange {
        total_change: round_figure(n.total - o.total),
        latency_change_us: round_figure(n.latency_us - o.latency_us),
        old: o,
        new: n,
    })
}

/// Replica counts per agent and slot.
fn counts(rows: &[PlacementRow]) -> BTreeMap<&str, BTreeMap<Slot, u32>> {
    let mut counts: BTreeMap<&str, BTreeMap<Slot, u32>> = BTreeMap::new();
    for row in rows {
        let slot = Slot { host: row.host.clone(), numa: row.numa };
        *counts.entry(row.agent.as_str()).or_default().entry(slot).or_insert(0) += row.replicas;
    }
    counts
}

/// Pairs the replicas that left slots with those that arrived, per agent.
/// Moves within a host are paired first (a NUMA change is the cheapest move
/// to read), the rest in slot order; what is left over is a scale change.
/// The number of paired replicas is SPEC §4's `moves` between the two plans.
pub fn placement_changes(old: &[PlacementRow], new: &[PlacementRow]) -> (Vec<Move>, Vec<ScaleChange>) {
    let (old_counts, new_counts) = (counts(old), counts(new));
    let empty = BTreeMap::new();
    let agents: BTreeSet<&str> = old_counts.keys().chain(new_counts.keys()).copied().collect();
    let mut moves = Vec::new();
    let mut scale = Vec::new();
    for agent in agents {
        let before = old_counts.get(agent).unwrap_or(&empty);
        let after = new_counts.get(agent).unwrap_or(&empty);
        let slots: BTreeSet<&Slot> = before.keys().chain(after.keys()).collect();
        let mut left: Vec<(Slot, u32)> = Vec::new();
        let mut arrived: Vec<(Slot, u32)> = Vec::new();
        for slot in slots {
            let (b, a) = (before.get(slot).copied().unwrap_or(0), after.get(slot).copied().unwrap_or(0));
            if b > a {
                left.push((slot.clone(), b - a));
            } else if a > b {
                arrived.push((slot.clone(), a - b));
            }
        }
        let mut agent_moves: Vec<Move> = Vec::new();
        for same_host_only in [true, false] {
            for (from, out) in left.iter_mut() {
                for (to, into) in arrived.iter_mut() {
                    if *out == 0 {
                        break;
                    }
                    if *into == 0 || (same_host_only && from.host != to.host) {
                        continue;
                    }
                    let n = (*out).min(*into);
                    *out -= n;
                    *into -= n;
                    agent_moves.push(Move { agent: agent.to_owned(), from: from.clone(), to: to.clone(), replicas: n });
                }
            }
        }
        agent_moves.sort();
        // The same pair can be reached in both passes only once (a pass
        // empties one side), but merge anyway so each pair is one row.
        for m in agent_moves {
            match moves.last_mut() {
                Some(Move { agent, from, to, replicas }) if *agent == m.agent && *from == m.from && *to == m.to => {
                    *replicas += m.replicas;
                }
                _ => moves.push(m),
            }
        }
        let (old_total, new_total): (u32, u32) = (before.values().sum(), after.values().sum());
        if old_total != new_total {
            let rest = |v: Vec<(Slot, u32)>| {
                v.into_iter().filter(|(_, n)| *n > 0).map(|(slot, replicas)| SlotCount { slot, replicas }).collect()
            };
            scale.push(ScaleChange {
                agent: agent.to_owned(),
                old_replicas: old_total,
                new_replicas: new_total,
                added: rest(arrived),
                removed: rest(left),
            });
        }
    }
    (moves, scale)
}

/// The name of a locality level, as plans and explanations spell it.
pub fn level_name(level: Locality) -> &'static str {
    match level {
        Locality::Numa => "numa",
        Locality::Host => "host",
        Locality::Rack => "rack",
        Locality::Zone => "zone",
        Locality::Region => "region",
    }
}

fn slo_status(p99_us: f64, slo: Option<f64>) -> SloStatus {
    match slo {
        None => SloStatus::None,
        Some(slo) if p99_us > slo => SloStatus::Violated,
        Some(_) => SloStatus::Ok,
    }
}

fn stated_routes(plan: &PlanDocument) -> BTreeMap<RouteKey, RouteFigures> {
    plan.routes
        .iter()
        .map(|r| {
            let locality = [r.locality.numa, r.locality.host, r.locality.rack, r.locality.zone];
            let figures = RouteFigures {
                p99_us: r.p99_us,
                level: level_name(route_level(&locality)),
                locality,
                slo_p99_us: r.slo_p99_us,
                slo_status: slo_status(r.p99_us, r.slo_p99_us),
            };
            (RouteKey { from: r.from.clone(), to: r.to.clone() }, figures)
        })
        .collect()
}

fn rescored_routes(
    model: &Model,
    topology: &Topology,
    plan: &PlanDocument,
) -> Result<BTreeMap<RouteKey, RouteFigures>, RowMismatch> {
    let rows = plan.placements.iter().map(|r| (r.agent.as_str(), r.host.as_str(), r.numa, r.replicas));
    let placement = Placement::from_rows(model, topology, rows)?;
    let figures = score(model, topology, &placement, None);
    Ok(model
        .routes
        .iter()
        .zip(&figures.routes)
        .map(|(route, figure)| {
            let key = RouteKey {
                from: model.agents[route.from.0 as usize].id.clone(),
                to: model.agents[route.to.0 as usize].id.clone(),
            };
            let figures = RouteFigures {
                p99_us: figure.p99_us,
                level: level_name(figure.level),
                locality: figure.locality.map(round_figure),
                slo_p99_us: route.slo_p99_us,
                slo_status: slo_status(figure.p99_us, route.slo_p99_us),
            };
            (key, figures)
        })
        .collect())
}

fn route_changes(old: &BTreeMap<RouteKey, RouteFigures>, new: &BTreeMap<RouteKey, RouteFigures>) -> Vec<RouteChange> {
    let keys: BTreeSet<&RouteKey> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let (o, n) = (old.get(key), new.get(key));
            if o == n {
                return None;
            }
            let change = o.zip(n).map(|(o, n)| round_figure(n.p99_us - o.p99_us));
            let pct = o
                .zip(n)
                .filter(|(o, _)| o.p99_us > 0.0)
                .map(|(o, n)| round_figure((n.p99_us - o.p99_us) / o.p99_us * 100.0));
            Some(RouteChange {
                from: key.from.clone(),
                to: key.to.clone(),
                old: o.cloned(),
                new: n.cloned(),
                p99_change_us: change,
                p99_change_pct: pct,
            })
        })
        .collect()
}

/// Each view's content (its `result` hash) by provider and agent id.
fn view_entries(plan: &PlanDocument) -> BTreeMap<(String, String), String> {
    let mut entries = BTreeMap::new();
    for (provider, list) in &plan.views {
        for view in list {
            entries.insert((provider.clone(), view.id.clone()), view.result.to_string());
        }
    }
    entries
}

fn view_changes(old: &PlanDocument, new: &PlanDocument) -> Vec<ViewChange> {
    let (before, after) = (view_entries(old), view_entries(new));
    let keys: BTreeSet<&(String, String)> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|key| before.get(*key) != after.get(*key))
        .map(|key| ViewChange {
            provider: key.0.clone(),
            id: key.1.clone(),
            old: before.get(key).cloned(),
            new: after.get(key).cloned(),
        })
        .collect()
}
