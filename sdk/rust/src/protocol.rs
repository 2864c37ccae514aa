//! Driver protocol 1 (SPEC §8): the request and response envelopes and the
//! typed parameters and results of each method. Pure data; framing (lines,
//! the 1 MiB cap) is in [`crate::framing`]; the driver side of a session in [`crate::engine`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The protocol version drivers must report from `Probe`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The capability that lets a driver stage and switch placements (`Tx`).
/// `Probe`, `Rx`, `Health` and `Close` need none.
pub const CAP_PLACEMENTS_WRITE: &str = "placements.write";

/// A request line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Echoed in the response.
    pub id: String,
    /// Which method.
    pub method: String,
    /// The method's parameters (an object).
    pub params: serde_json::Value,
}

/// A response line: exactly one of `result` and `error` is non-null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// The request's id.
    pub id: String,
    /// The result, on success.
    pub result: Option<serde_json::Value>,
    /// The error, on failure.
    pub error: Option<ErrorBody>,
}

/// A protocol error: a snake_case code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `stale_epoch`.
    pub code: String,
    /// What happened.
    pub message: String,
}

/// The methods of protocol 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// Identify the driver.
    Probe,
    /// Start a session: plan, epoch, grants.
    Open,
    /// Prepare, commit or abort a transaction.
    Tx,
    /// Read the placements in force.
    Rx,
    /// Liveness.
    Health,
    /// End the session; the driver exits.
    Close,
}

impl Method {
    /// Every method, in protocol order.
    pub const ALL: [Method; 6] = [Method::Probe, Method::Open, Method::Tx, Method::Rx, Method::Health, Method::Close];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Probe => "Probe",
            Method::Open => "Open",
            Method::Tx => "Tx",
            Method::Rx => "Rx",
            Method::Health => "Health",
            Method::Close => "Close",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error codes with a meaning the coordinator acts on. Drivers may send
/// others; they are kept as [`ErrorCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// The epoch is below the highest the driver has seen.
    StaleEpoch,
    /// A host outside the grant, or an action outside the granted capabilities.
    CapabilityDenied,
    /// Commit of a transaction the driver never prepared.
    UnknownTxn,
    /// Commit after abort or abort after commit.
    TxnConflict,
    /// A method the driver does not know.
    UnknownMethod,
    /// Parameters that do not parse.
    BadRequest,
    /// `Tx` before `Open`.
    NotOpen,
    /// The driver failed (disk full, …).
    Internal,
    /// Any other code.
    Other(String),
}

impl ErrorCode {
    /// The wire code.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::StaleEpoch => "stale_epoch",
            ErrorCode::CapabilityDenied => "capability_denied",
            ErrorCode::UnknownTxn => "unknown_txn",
            ErrorCode::TxnConflict => "txn_conflict",
            ErrorCode::UnknownMethod => "unknown_method",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotOpen => "not_open",
            ErrorCode::Internal => "internal",
            ErrorCode::Other(code) => code,
        }
    }

    /// Parses a wire code.
    pub fn parse(code: &str) -> ErrorCode {
        match code {
            "stale_epoch" => ErrorCode::StaleEpoch,
            "capability_denied" => ErrorCode::CapabilityDenied,
            "unknown_txn" => ErrorCode::UnknownTxn,
            "txn_conflict" => ErrorCode::TxnConflict,
            "unknown_method" => ErrorCode::UnknownMethod,
            "bad_request" => ErrorCode::BadRequest,
            "not_open" => ErrorCode::NotOpen,
            "internal" => ErrorCode::Internal,
            other => ErrorCode::Other(other.to_owned()),
        }
    }
}

/// A driver's refusal: what a driver implementation returns instead of a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct Refusal {
    /// Why, for machines.
    pub code: ErrorCode,
    /// Why, for people.
    pub message: String,
}

impl Refusal {
    /// A refusal with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal { code, message: message.into() }
    }

    /// The wire form.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody { code: self.code.as_str().to_owned(), message: self.message.clone() }
    }
}

/// One placement row on a host (the plan's row without the host).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// Agent id.
    pub agent: String,
    /// NUMA node.
    pub numa: u32,
    /// Replicas.
    pub replicas: u32,
}

/// Placements per host name.
pub type HostPlacements = BTreeMap<String, Vec<Placement>>;

/// `Probe` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Must be [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// The driver's name for itself.
    pub name: String,
    /// Capabilities the driver needs.
    pub capabilities: Vec<String>,
    /// The highest epoch the driver has seen.
    pub epoch: u64,
}

/// `Open` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenParams {
    /// Hash of the plan being applied (`sha256:…`).
    pub plan: String,
    /// Fencing epoch of this coordinator.
    pub epoch: u64,
    /// Capabilities granted.
    pub capabilities: Vec<String>,
    /// Hosts the driver may touch.
    pub hosts: Vec<String>,
}

/// `Tx` parameters, tagged by `phase`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "lowercase", deny_unknown_fields)]
pub enum TxParams {
    /// Stage the full desired placements of every host the transaction changes.
    Prepare {
        /// Fencing epoch.
        epoch: u64,
        /// Transaction id.
        txn: String,
        /// Desired placements per changed host.
        hosts: HostPlacements,
    },
    /// Switch to the staged placements.
    Commit {
        /// Fencing epoch.
        epoch: u64,
        /// Transaction id.
        txn: String,
    },
    /// Drop the staged placements.
    Abort {
        /// Fencing epoch.
        epoch: u64,
        /// Transaction id.
        txn: String,
    },
}

/// A prepare vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "vote", rename_all = "lowercase", deny_unknown_fields)]
pub enum Vote {
    /// Staged durably; will commit or abort on request.
    Yes,
    /// Will not commit.
    No {
        /// Why.
        reason: String,
    },
}

/// `Rx` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RxParams {
    /// Hosts to read.
    pub hosts: Vec<String>,
}

/// `Rx` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RxResult {
    /// Placements in force per host.
    pub hosts: HostPlacements,
}

/// `Health` result. `routes` and `queue_depth` are telemetry (an optional
/// extension of protocol 1, docs/telemetry.md): a driver that has none omits
/// them, and `{"ok": true}` stays a complete answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthResult {
    /// Whether the driver can work.
    pub ok: bool,
    /// Route latency observed since the previous `Health` answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteLatency>,
    /// Requests waiting in the driver now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_depth: Option<u64>,
}

/// Latency samples of one route, as histogram buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteLatency {
    /// Caller agent.
    pub from: String,
    /// Callee agent.
    pub to: String,
    /// Samples per bucket; not cumulative, any order.
    pub buckets: Vec<LatencyBucket>,
}

/// Samples whose latency was at most `le_us` (and above the next lower bound).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyBucket {
    /// Upper bound, µs.
    pub le_us: u64,
    /// Samples.
    pub count: u64,
}

/// An empty object (`Open`, `Tx` commit/abort and `Close` results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_params_use_the_phase_tag_of_spec_section_8() {
        let prepare: TxParams = serde_json::from_str(
            r#"{"phase":"prepare","epoch":3,"txn":"t3","hosts":{"h1":[{"agent":"a@1","numa":0,"replicas":2}]}}"#,
        )
        .expect("prepare parses");
        assert!(matches!(prepare, TxParams::Prepare { epoch: 3, .. }));
        let commit = serde_json::to_string(&TxParams::Commit { epoch: 4, txn: "t4".into() }).expect("serialises");
        assert_eq!(commit, r#"{"phase":"commit","epoch":4,"txn":"t4"}"#);
    }

    #[test]
    fn votes_round_trip_with_reason_only_on_no() {
        assert_eq!(serde_json::to_string(&Vote::Yes).expect("yes"), r#"{"vote":"yes"}"#);
        let no: Vote = serde_json::from_str(r#"{"vote":"no","reason":"disk full"}"#).expect("no parses");
        assert_eq!(no, Vote::No { reason: "disk full".into() });
        assert!(serde_json::from_str::<Vote>(r#"{"vote":"maybe"}"#).is_err());
    }

    #[test]
    fn error_codes_round_trip_and_keep_unknown_ones() {
        for code in ["stale_epoch", "capability_denied", "unknown_txn", "txn_conflict", "not_open", "weird_code"] {
            assert_eq!(ErrorCode::parse(code).as_str(), code);
        }
        assert_eq!(Method::parse("Tx"), Some(Method::Tx));
        assert_eq!(Method::parse("tx"), None);
    }
}
