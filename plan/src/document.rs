//! The plan document of SPEC §5: its types, canonical bytes and hash.

use std::collections::BTreeMap;

use rtt_canonical::{CanonicalError, Sha256, to_canonical_vec};
use serde::{Deserialize, Serialize};

use crate::views::Views;

/// `kind` of a plan document.
pub const PLAN_KIND: &str = "rtt.plan";

/// A plan, as written to disk (canonical JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanDocument {
    /// Always `rtt.plan`.
    pub kind: String,
    /// Always 1.
    pub version: u32,
    /// Monotonic per state: previous serial + 1.
    pub serial: u64,
    /// Hashes of what the plan was made from.
    pub inputs: Inputs,
    /// What the solver proved.
    pub solver: SolverReport,
    /// The objective, computed from the placements.
    pub objective: ObjectiveReport,
    /// Replica counts per agent, host and NUMA node, sorted, no zero rows.
    pub placements: Vec<PlacementRow>,
    /// Route figures, sorted by (from, to).
    pub routes: Vec<RouteRow>,
    /// Provider views (filled once a registry is in use).
    pub views: Views,
    /// Signatures over the plan without this field.
    pub signatures: Vec<Signature>,
}

/// `inputs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// sha256 of the canonical normalised config.
    pub config: Sha256,
    /// Hash of the previous plan, if any.
    pub previous: Option<Sha256>,
    /// sha256 of the canonical registry index, if any.
    pub registry: Option<Sha256>,
}

/// `solver`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolverReport {
    /// `optimal` or `feasible`.
    pub status: SolverStatus,
    /// The solver's objective (the MILP's, which equals `objective.total` at optimality).
    pub objective: f64,
    /// Best proven lower bound.
    pub bound: f64,
    /// Relative gap.
    pub gap: f64,
}

/// Solve status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SolverStatus {
    /// Proven optimal within the gap.
    Optimal,
    /// Feasible, stopped by a limit.
    Feasible,
}

/// `objective`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveReport {
    /// Traffic-weighted mean route p99, µs.
    pub latency_us: f64,
    /// Replicas moved from the previous plan.
    pub moves: u64,
    /// `latency_weight · latency_us + churn_weight · moves`.
    pub total: f64,
}

/// One row of `placements`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementRow {
    /// Agent id.
    pub agent: String,
    /// Host name.
    pub host: String,
    /// NUMA node index.
    pub numa: u32,
    /// Replicas there.
    pub replicas: u32,
}

/// One row of `routes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRow {
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// p99 of the route, µs.
    pub p99_us: f64,
    /// SLO, µs.
    pub slo_p99_us: Option<f64>,
    /// Share of traffic local at each level.
    pub locality: Locality,
    /// How the route's messages travel, when the config asks for
    /// transports (docs/transports.md); absent otherwise, so plans without
    /// it keep their bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
}

/// A route's transport: derived from its placement, its traffic and its
/// latency budget, and the machine profiles of its hosts (`rtt tune`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    /// `shm` (a shared-memory ring: both ends share a host), `uds` (the ends
    /// share a host, the messages are too large for a ring) or `tcp`.
    pub kind: String,
    /// Data bytes of the ring (`shm` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring_bytes: Option<u64>,
    /// Polls before a ring end sleeps (`shm` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spin: Option<u32>,
    /// How long a sender may hold messages to send them together, µs.
    pub batch_us: u64,
    /// The message size it was sized for, bytes.
    pub message_bytes: u32,
    /// Fingerprints of the machine profiles that set the ring (sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
}

/// `F_L` per level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locality {
    /// Same NUMA node.
    pub numa: f64,
    /// Same host.
    pub host: f64,
    /// Same rack.
    pub rack: f64,
    /// Same zone.
    pub zone: f64,
}

/// One signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// `ed25519`.
    pub alg: String,
    /// First 16 hex digits of sha256(public key).
    pub key_id: String,
    /// The signature.
    pub sig: String,
}

impl PlanDocument {
    /// A plan that is only placements: zero figures, no routes, no views, no
    /// signatures. What apply's tests and benchmarks need to exercise signing
    /// and two-phase commit without a solve.
    pub fn bare(config: Sha256, serial: u64, previous: Option<Sha256>, mut placements: Vec<PlacementRow>) -> Self {
        placements.sort();
        PlanDocument {
            kind: PLAN_KIND.into(),
            version: 1,
            serial,
            inputs: Inputs { config, previous, registry: None },
            solver: SolverReport { status: SolverStatus::Optimal, objective: 0.0, bound: 0.0, gap: 0.0 },
            objective: ObjectiveReport { latency_us: 0.0, moves: 0, total: 0.0 },
            placements,
            routes: Vec::new(),
            views: BTreeMap::new(),
            signatures: Vec::new(),
        }
    }

    /// The JCS bytes of the plan without `signatures`: what is hashed and signed.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        let mut value = serde_json::to_value(self).map_err(|e| CanonicalError::from_message(e.to_string()))?;
        if let Some(object) = value.as_object_mut() {
            object.remove("signatures");
        }
        to_canonical_vec(&value)
    }

    /// The plan hash (SPEC §5).
    pub fn hash(&self) -> Result<Sha256, CanonicalError> {
        Ok(Sha256::of(&self.signed_bytes()?))
    }

    /// The file bytes: the whole document in canonical form, then a newline.
    pub fn to_file_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        let mut bytes = to_canonical_vec(self)?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Parses plan file text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let plan: PlanDocument = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if plan.kind != PLAN_KIND || plan.version != 1 {
            return Err(format!("not an rtt plan of version 1 (kind {:?}, version {})", plan.kind, plan.version));
        }
        Ok(plan)
    }
}

/// Rounds a figure the solver produced, so that last-bit noise of floating
/// point never reaches the signed bytes.
pub fn round_figure(x: f64) -> f64 {
    if !x.is_finite() {
        return 0.0;
    }
    // `+ 0.0` turns -0 (an empty float sum is -0) into 0, so no figure reads "-0".
    (x * 1e6).round() / 1e6 + 0.0
}
