//! The driver side of a session: fencing, grants and the two-phase
//! transaction journal, over a [`Backend`] that knows the real system.
//!
//! Checks run in one order, the same in every SDK: parameters parse
//! (`bad_request`), a `Tx` has a session (`not_open`), the epoch is not below
//! the highest seen (`stale_epoch`; a higher one is made durable before it is
//! acknowledged), the capability and every host were granted
//! (`capability_denied`), then the transaction's state decides.
//!
//! The journal (`<root>/.rtt-driver/`) holds the highest epoch and one record
//! per transaction: `preparing` (written before the backend stages, so an
//! abort after a crash knows which hosts to clean), `prepared` (the durable
//! yes vote), `committed`, `aborted`. Each is written atomically and fsynced.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::fsx;
use crate::protocol::{
    CAP_PLACEMENTS_WRITE, ErrorCode, HealthResult, HostPlacements, Method, PROTOCOL_VERSION, Placement, Refusal,
    RouteLatency, Vote,
};
use crate::serve::Handler;

/// What a driver does on its own system. Every method may be called again
/// for the same transaction after a crash, so each must be idempotent.
pub trait Backend {
    /// Capabilities the driver needs (reported by `Probe`).
    fn capabilities(&self) -> Vec<String> {
        vec![CAP_PLACEMENTS_WRITE.to_owned()]
    }
    /// Stages the full desired placements of each host, durably, without
    /// applying them. `Vote::No` refuses the transaction; `Err` is a failure.
    fn stage(&mut self, txn: &str, plan: &str, hosts: &HostPlacements) -> Result<Vote, String>;
    /// Applies what `txn` staged on `hosts`.
    fn commit(&mut self, txn: &str, hosts: &[String]) -> Result<(), String>;
    /// Drops what `txn` staged on `hosts` (some may have nothing staged).
    fn abort(&mut self, txn: &str, hosts: &[String]) -> Result<(), String>;
    /// The placements in force on `host` (any order; the engine sorts).
    fn read(&mut self, host: &str) -> Result<Vec<Placement>, String>;
    /// Whether the driver can work.
    fn healthy(&mut self) -> bool {
        true
    }
    /// Route latency seen since the last call, and the queue depth now
    /// (telemetry for `Health`; none by default).
    fn telemetry(&mut self) -> (Vec<RouteLatency>, Option<u64>) {
        (Vec::new(), None)
    }
}

/// The journal directory under a driver's root.
pub const JOURNAL_DIR: &str = ".rtt-driver";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TxnState {
    Preparing,
    Prepared,
    Committed,
    Aborted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TxnRecord {
    state: TxnState,
    plan: String,
    hosts: Vec<String>,
}

#[derive(Debug, Clone)]
struct Session {
    plan: String,
    capabilities: Vec<String>,
    hosts: Vec<String>,
}

/// A protocol-1 driver: the engine over a backend.
pub struct Driver<B> {
    name: String,
    journal: PathBuf,
    epoch: u64,
    session: Option<Session>,
    backend: B,
}

impl<B: Backend> Driver<B> {
    /// Opens the journal under `root` (created if missing) and reads the
    /// highest epoch seen.
    pub fn open(name: &str, root: &Path, backend: B) -> Result<Self, String> {
        let journal = root.join(JOURNAL_DIR);
        std::fs::create_dir_all(journal.join("txns"))
            .map_err(|e| format!("cannot create {}: {e}", journal.display()))?;
        let epoch = match fsx::read_json::<Value>(&journal.join("epoch.json"))? {
            None => 0,
            Some(value) => value
                .get("epoch")
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("{}: no epoch", journal.join("epoch.json").display()))?,
        };
        Ok(Driver { name: name.to_owned(), journal, epoch, session: None, backend })
    }

    /// The backend, to inspect it.
    pub fn backend(&mut self) -> &mut B {
        &mut self.backend
    }

    fn fence(&mut self, epoch: u64) -> Result<(), Refusal> {
        if epoch < self.epoch {
            return Err(Refusal::new(
                ErrorCode::StaleEpoch,
                format!("epoch {epoch} is below {}: a newer coordinator has taken over", self.epoch),
            ));
        }
        if epoch > self.epoch {
            fsx::write_json(&self.journal.join("epoch.json"), &json!({ "epoch": epoch })).map_err(internal)?;
            self.epoch = epoch;
        }
        Ok(())
    }

    fn record_path(&self, txn: &str) -> PathBuf {
        self.journal.join("txns").join(format!("{txn}.json"))
    }

    fn record(&self, txn: &str) -> Result<Option<TxnRecord>, Refusal> {
        fsx::read_json(&self.record_path(txn)).map_err(internal)
    }

    fn save(&self, txn: &str, record: &TxnRecord) -> Result<(), Refusal> {
        fsx::write_json(&self.record_path(txn), record).map_err(internal)
    }

    fn open_session(&mut self, params: &Map<String, Value>) -> Result<Value, Refusal> {
        let plan = string(params, "plan")?;
        let epoch = epoch(params)?;
        let capabilities = strings(params, "capabilities")?;
        let hosts = names(params, "hosts", "host")?;
        self.fence(epoch)?;
        self.session = Some(Session { plan, capabilities, hosts });
        Ok(json!({}))
    }

    fn tx(&mut self, params: &Map<String, Value>) -> Result<Value, Refusal> {
        let phase = string(params, "phase")?;
        let epoch = epoch(params)?;
        let txn = name(params, "txn", "txn")?;
        let hosts = match phase.as_str() {
            "prepare" => Some(host_placements(params)?),
            "commit" | "abort" => None,
            other => {
                return Err(bad(format!("`phase` must be \"prepare\", \"commit\" or \"abort\", not {other:?}")));
            }
        };
        let session = self.session.clone().ok_or_else(|| Refusal::new(ErrorCode::NotOpen, "Tx before Open"))?;
        self.fence(epoch)?;
        if !session.capabilities.iter().any(|c| c == CAP_PLACEMENTS_WRITE) {
            return Err(Refusal::new(ErrorCode::CapabilityDenied, format!("`{CAP_PLACEMENTS_WRITE}` was not granted")));
        }
        let record = self.record(&txn)?;
        match hosts {
            Some(hosts) => self.prepare(&session, &txn, &hosts, record),
            None if phase == "commit" => self.commit(&txn, record),
            None => self.abort(&txn, record),
        }
    }

    fn prepare(
        &mut self,
        session: &Session,
        txn: &str,
        hosts: &HostPlacements,
        record: Option<TxnRecord>,
    ) -> Result<Value, Refusal> {
        if let Some(host) = hosts.keys().find(|h| !session.hosts.contains(h)) {
            return Err(Refusal::new(ErrorCode::CapabilityDenied, format!("host `{host}` was not granted")));
        }
        match record.map(|r| r.state) {
            Some(TxnState::Prepared) => return Ok(vote(&Vote::Yes)),
            Some(state @ (TxnState::Committed | TxnState::Aborted)) => {
                return Err(Refusal::new(ErrorCode::TxnConflict, format!("transaction {txn} is already {state:?}")));
            }
            Some(TxnState::Preparing) | None => {}
        }
        let mut record = TxnRecord {
            state: TxnState::Preparing,
            plan: session.plan.clone(),
            hosts: hosts.keys().cloned().collect(),
        };
        self.save(txn, &record)?;
        let mut sorted = hosts.clone();
        sorted.values_mut().for_each(|p| p.sort());
        match self.backend.stage(txn, &session.plan, &sorted).map_err(internal)? {
            Vote::Yes => {
                record.state = TxnState::Prepared;
                self.save(txn, &record)?;
                Ok(vote(&Vote::Yes))
            }
            no @ Vote::No { .. } => Ok(vote(&no)),
        }
    }

    fn commit(&mut self, txn: &str, record: Option<TxnRecord>) -> Result<Value, Refusal> {
        let mut record = match record {
            Some(record) if record.state != TxnState::Preparing => record,
            _ => return Err(Refusal::new(ErrorCode::UnknownTxn, format!("transaction {txn} was never prepared here"))),
        };
        match record.state {
            TxnState::Committed => return Ok(json!({})),
            TxnState::Aborted => {
                return Err(Refusal::new(ErrorCode::TxnConflict, format!("transaction {txn} was aborted")));
            }
            TxnState::Prepared | TxnState::Preparing => {}
        }
        self.backend.commit(txn, &record.hosts).map_err(internal)?;
        record.state = TxnState::Committed;
        self.save(txn, &record)?;
        Ok(json!({}))
    }

    fn abort(&mut self, txn: &str, record: Option<TxnRecord>) -> Result<Value, Refusal> {
        // Never prepared here: record the abort, so a late prepare cannot stage.
        let mut record =
            record.unwrap_or(TxnRecord { state: TxnState::Preparing, plan: String::new(), hosts: Vec::new() });
        match record.state {
            TxnState::Aborted => return Ok(json!({})),
            TxnState::Committed => {
                return Err(Refusal::new(ErrorCode::TxnConflict, format!("transaction {txn} was committed")));
            }
            TxnState::Prepared | TxnState::Preparing => {}
        }
        self.backend.abort(txn, &record.hosts).map_err(internal)?;
        record.state = TxnState::Aborted;
        self.save(txn, &record)?;
        Ok(json!({}))
    }

    fn rx(&mut self, params: &Map<String, Value>) -> Result<Value, Refusal> {
        let hosts = names(params, "hosts", "host")?;
        if let Some(session) = &self.session
            && let Some(host) = hosts.iter().find(|h| !session.hosts.contains(h))
        {
            return Err(Refusal::new(ErrorCode::CapabilityDenied, format!("host `{host}` was not granted")));
        }
        let mut out = Map::new();
        for host in hosts {
            let mut placements = self.backend.read(&host).map_err(internal)?;
            placements.sort();
            out.insert(host, serde_json::to_value(placements).map_err(internal)?);
        }
        Ok(json!({ "hosts": out }))
    }
}

impl<B: Backend> Handler for Driver<B> {
    fn handle(&mut self, method: Method, params: Value) -> Result<Value, Refusal> {
        let Value::Object(params) = params else { return Err(bad("`params` must be an object".into())) };
        match method {
            Method::Probe => Ok(json!({
                "protocol": PROTOCOL_VERSION,
                "name": self.name,
                "capabilities": self.backend.capabilities(),
                "epoch": self.epoch,
            })),
            Method::Open => self.open_session(&params),
            Method::Tx => self.tx(&params),
            Method::Rx => self.rx(&params),
            Method::Health => {
                let ok = self.backend.healthy();
                let (routes, queue_depth) = self.backend.telemetry();
                serde_json::to_value(HealthResult { ok, routes, queue_depth })
                    .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))
            }
            Method::Close => Ok(json!({})),
        }
    }

    fn end_session(&mut self) {
        self.session = None;
    }
}

/// A host or transaction name that is safe as one path component.
pub fn is_safe_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    first_ok && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn vote(vote: &Vote) -> Value {
    serde_json::to_value(vote).unwrap_or_else(|_| json!({ "vote": "yes" }))
}

fn bad(message: String) -> Refusal {
    Refusal::new(ErrorCode::BadRequest, message)
}

fn internal(e: impl std::fmt::Display) -> Refusal {
    Refusal::new(ErrorCode::Internal, e.to_string())
}

fn string(params: &Map<String, Value>, key: &str) -> Result<String, Refusal> {
    params.get(key).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| bad(format!("`{key}` must be a string")))
}

fn epoch(params: &Map<String, Value>) -> Result<u64, Refusal> {
    params.get("epoch").and_then(Value::as_u64).ok_or_else(|| bad("`epoch` must be a non-negative integer".into()))
}

fn strings(params: &Map<String, Value>, key: &str) -> Result<Vec<String>, Refusal> {
    let items =
        params.get(key).and_then(Value::as_array).ok_or_else(|| bad(format!("`{key}` must be an array of strings")))?;
    items
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| bad(format!("`{key}` must be an array of strings"))))
        .collect()
}

fn checked(what: &str, name: String) -> Result<String, Refusal> {
    if is_safe_name(&name) {
        Ok(name)
    } else {
        Err(bad(format!("{what} {name:?} is not a safe name ([A-Za-z0-9_-][A-Za-z0-9._-]{{0,127}})")))
    }
}

fn name(params: &Map<String, Value>, key: &str, what: &str) -> Result<String, Refusal> {
    checked(what, string(params, key)?)
}

fn names(params: &Map<String, Value>, key: &str, what: &str) -> Result<Vec<String>, Refusal> {
    strings(params, key)?.into_iter().map(|n| checked(what, n)).collect()
}

fn host_placements(params: &Map<String, Value>) -> Result<HostPlacements, Refusal> {
    let hosts =
        params.get("hosts").and_then(Value::as_object).ok_or_else(|| bad("`hosts` must be an object".into()))?;
    let mut out = HostPlacements::new();
    for (host, rows) in hosts {
        let host = checked("host", host.clone())?;
        let rows = rows.as_array().ok_or_else(|| bad(format!("placements of {host} must be an array")))?;
        let mut placements = Vec::with_capacity(rows.len());
        for row in rows {
            let field = |key: &str| row.get(key);
            let agent = field("agent").and_then(Value::as_str);
            let numa = field("numa").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok());
            let replicas = field("replicas").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok());
            let (Some(agent), Some(numa), Some(replicas)) = (agent, numa, replicas) else {
                return Err(bad(format!(
                    "a placement of {host} must be {{\"agent\": string, \"numa\": integer ≥ 0, \"replicas\": integer ≥ 0}}"
                )));
            };
            placements.push(Placement { agent: agent.to_owned(), numa, replicas });
        }
        out.insert(host, placements);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::LatencyBucket;

    struct Observed;

    impl Backend for Observed {
        fn stage(&mut self, _: &str, _: &str, _: &HostPlacements) -> Result<Vote, String> {
            Ok(Vote::Yes)
        }
        fn commit(&mut self, _: &str, _: &[String]) -> Result<(), String> {
            Ok(())
        }
        fn abort(&mut self, _: &str, _: &[String]) -> Result<(), String> {
            Ok(())
        }
        fn read(&mut self, _: &str) -> Result<Vec<Placement>, String> {
            Ok(Vec::new())
        }
        fn telemetry(&mut self) -> (Vec<RouteLatency>, Option<u64>) {
            let buckets = vec![LatencyBucket { le_us: 250, count: 7 }];
            (vec![RouteLatency { from: "a".into(), to: "b".into(), buckets }], Some(3))
        }
    }

    #[test]
    fn health_carries_the_backends_telemetry_and_stays_plain_without_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut driver = Driver::open("t", dir.path(), Observed).expect("opens");
        let health = driver.handle(Method::Health, json!({})).expect("answers");
        assert_eq!(
            health,
            json!({"ok": true, "queue_depth": 3, "routes": [{"from": "a", "to": "b", "buckets": [{"le_us": 250, "count": 7}]}]})
        );
        let parsed: HealthResult = serde_json::from_value(health).expect("the coordinator's type reads it");
        assert_eq!(parsed.routes[0].buckets[0].count, 7);
        let plain: HealthResult = serde_json::from_value(json!({"ok": true})).expect("protocol 1 as before");
        assert_eq!(plain, HealthResult { ok: true, ..HealthResult::default() });
    }
}
