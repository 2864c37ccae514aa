//! The built-in `dir` driver (SPEC §8): each host's placements live in
//! `<root>/<host>/placements.json` as `{"plan": "sha256:…", "placements": […]}`.
//!
//! Prepare writes `placements.json.<txn>` beside it (file and directory
//! fsynced), then the transaction record `<root>/.rtt-dir/txns/<txn>.json`
//! (`prepared`) — the record is the durable yes vote. Commit renames each
//! staged file over `placements.json` (directory fsynced) and marks the record
//! `committed`; abort removes the staged files and marks it `aborted`. The
//! highest epoch seen is kept in `<root>/.rtt-dir/epoch.json`, written before
//! a higher epoch is acknowledged, so fencing survives restarts.
//!
//! Several coordinators may reach one root at once (HA: a deposed leader's
//! process and its successor's): every `Open` and `Tx` holds an exclusive
//! lock on `<root>/.rtt-dir/lock` and re-reads the epoch under it, so the
//! fencing check and the step it guards are one atomic act. Each such call
//! is appended to `<root>/.rtt-dir/calls.jsonl` (when, by whom, method,
//! epoch, transaction, accepted or why not) as it is judged: the history
//! the HA checker reads, and an audit trail of who changed this root.
//!
//! Not here: which hosts change or when to commit (the coordinator's job).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::driver::protocol::{
    CAP_PLACEMENTS_WRITE, Empty, ErrorCode, HealthResult, HostPlacements, Method, OpenParams, PROTOCOL_VERSION,
    Placement, ProbeResult, Refusal, RxParams, RxResult, TxParams, Vote,
};
use crate::driver::serve::Handler;
use crate::fault::Faults;

/// Name of the file holding a host's placements in force.
pub const PLACEMENTS_FILE: &str = "placements.json";
/// The driver's own directory under its root.
pub const META_DIR: &str = ".rtt-dir";

/// The contents of `placements.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementsFile {
    /// The plan that wrote it.
    pub plan: String,
    /// Sorted placements.
    pub placements: Vec<Placement>,
}

/// A transaction record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TxnRecord {
    state: TxnState,
    plan: String,
    hosts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TxnState {
    Prepared,
    Committed,
    Aborted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EpochFile {
    epoch: u64,
}

/// A `dir` driver over one root directory.
pub struct DirStore {
    root: PathBuf,
    highest_epoch: u64,
    session: Option<OpenParams>,
    faults: Faults,
    /// Who calls, for the audit trail: `RTT_CONTROLLER`, else the pid.
    caller: String,
}

/// The environment variable naming the controller a driver works for.
pub const CONTROLLER_ENV: &str = "RTT_CONTROLLER";
/// The audit trail of state-changing calls, under [`META_DIR`].
pub const CALLS_FILE: &str = "calls.jsonl";

/// One judged call, as `calls.jsonl` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// Wall clock, ms since the Unix epoch.
    pub at_ms: u64,
    /// The caller (`RTT_CONTROLLER`, else `pid:N`).
    pub by: String,
    /// `open`, `prepare`, `commit` or `abort`.
    pub method: String,
    /// The epoch the call carried.
    pub epoch: u64,
    /// The transaction (none for `open`).
    pub txn: Option<String>,
    /// Whether the fence let it through.
    pub accepted: bool,
}

impl DirStore {
    /// Opens the driver's state under `root` (created if missing).
    pub fn open(root: &Path, faults: Faults) -> Result<DirStore, String> {
        let txns = root.join(META_DIR).join("txns");
        fs::create_dir_all(&txns).map_err(|e| format!("cannot create {}: {e}", txns.display()))?;
        let epoch_path = root.join(META_DIR).join("epoch.json");
        let highest_epoch = match fs::read(&epoch_path) {
            Ok(bytes) => {
                serde_json::from_slice::<EpochFile>(&bytes)
                    .map_err(|e| format!("corrupt {}: {e}", epoch_path.display()))?
                    .epoch
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(format!("cannot read {}: {e}", epoch_path.display())),
        };
        let caller = std::env::var(CONTROLLER_ENV).unwrap_or_else(|_| format!("pid:{}", std::process::id()));
        Ok(DirStore { root: root.to_owned(), highest_epoch, session: None, faults, caller })
    }

    /// Re-reads the highest epoch (another process may have raised it).
    fn reload_epoch(&mut self) -> Result<(), Refusal> {
        let path = self.root.join(META_DIR).join("epoch.json");
        match fs::read(&path) {
            Ok(bytes) => {
                let stored = serde_json::from_slice::<EpochFile>(&bytes).map_err(internal)?.epoch;
                self.highest_epoch = self.highest_epoch.max(stored);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(internal(e)),
        }
    }

    /// Runs a state-changing call under the root's lock: the epoch is
    /// re-read, judged and logged, then `step` runs.
    fn guarded(
        &mut self,
        method: &str,
        epoch: u64,
        txn: Option<&str>,
        step: impl FnOnce(&mut Self) -> Result<serde_json::Value, Refusal>,
    ) -> Result<serde_json::Value, Refusal> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join(META_DIR).join("lock"))
            .map_err(internal)?;
        lock.lock().map_err(internal)?;
        self.reload_epoch()?;
        let accepted = epoch >= self.highest_epoch;
        let call = Call {
            at_ms: rtt_telemetry::now_ms(),
            by: self.caller.clone(),
            method: method.to_owned(),
            epoch,
            txn: txn.map(str::to_owned),
            accepted,
        };
        let mut line = serde_json::to_vec(&call).map_err(internal)?;
        line.push(b'\n');
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join(META_DIR).join(CALLS_FILE))
            .and_then(|mut file| file.write_all(&line))
            .map_err(internal)?;
        let result = step(self);
        drop(lock);
        result
    }

    /// The audit trail under `root`, in the order the calls were judged.
    pub fn calls(root: &Path) -> Result<Vec<Call>, String> {
        let path = root.join(META_DIR).join(CALLS_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        // A process killed inside a write leaves a partial last line.
        let text = String::from_utf8_lossy(&bytes);
        Ok(text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect())
    }

    /// Reads a host's placements in force (empty when the host has none yet).
    pub fn read_host(root: &Path, host: &str) -> Result<Option<PlacementsFile>, String> {
        let path = root.join(host).join(PLACEMENTS_FILE);
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("corrupt {}: {e}", path.display()))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    fn probe(&self) -> ProbeResult {
        ProbeResult {
            protocol: PROTOCOL_VERSION,
            name: "dir".into(),
            capabilities: vec![CAP_PLACEMENTS_WRITE.into()],
            epoch: self.highest_epoch,
        }
    }

    fn open_session(&mut self, params: OpenParams) -> Result<Empty, Refusal> {
        for host in &params.hosts {
            check_name("host", host)?;
        }
        self.fence(params.epoch)?;
        self.session = Some(params);
        self.faults.point("open");
        Ok(Empty {})
    }

    /// Refuses epochs below the highest seen; persists a higher one before
    /// acknowledging it (a restarted driver must still fence).
    fn fence(&mut self, epoch: u64) -> Result<(), Refusal> {
        if epoch < self.highest_epoch {
            return Err(Refusal::new(
                ErrorCode::StaleEpoch,
                format!("epoch {epoch} is below {} (a newer coordinator has taken over)", self.highest_epoch),
            ));
        }
        if epoch > self.highest_epoch {
            let bytes = serde_json::to_vec(&EpochFile { epoch }).map_err(internal)?;
            rtt_durable::write_atomic(&self.root.join(META_DIR).join("epoch.json"), &bytes, rtt_durable::READ_WRITE)
                .map_err(internal)?;
            self.highest_epoch = epoch;
        }
        Ok(())
    }

    fn session_for_tx(&mut self, epoch: u64) -> Result<OpenParams, Refusal> {
        let session =
            self.session.clone().ok_or_else(|| Refusal::new(ErrorCode::NotOpen, "Tx before Open: no session"))?;
        self.fence(epoch)?;
        if !session.capabilities.iter().any(|c| c == CAP_PLACEMENTS_WRITE) {
            return Err(Refusal::new(
                ErrorCode::CapabilityDenied,
                format!("`{CAP_PLACEMENTS_WRITE}` was not granted; Tx needs it"),
            ));
        }
        Ok(session)
    }

    fn prepare(&mut self, epoch: u64, txn: &str, hosts: &HostPlacements) -> Result<Vote, Refusal> {
        let session = self.session_for_tx(epoch)?;
        check_name("txn", txn)?;
        for host in hosts.keys() {
            check_name("host", host)?;
            if !session.hosts.contains(host) {
                return Err(Refusal::new(ErrorCode::CapabilityDenied, format!("host `{host}` was not granted")));
            }
        }
        match self.record(txn)? {
            Some(record) if record.state == TxnState::Prepared => return Ok(Vote::Yes),
            Some(record) => {
                return Err(Refusal::new(
                    ErrorCode::TxnConflict,
                    format!("transaction {txn} is already {:?}", record.state).to_lowercase(),
                ));
            }
            None => {}
        }
        for (host, placements) in hosts {
            let dir = self.root.join(host);
            if !dir.is_dir() {
                fs::create_dir_all(&dir).map_err(internal)?;
                rtt_durable::sync_dir(&self.root).map_err(internal)?;
            }
            let mut sorted = placements.clone();
            sorted.sort();
            let file = PlacementsFile { plan: session.plan.clone(), placements: sorted };
            let mut bytes = serde_json::to_vec(&file).map_err(internal)?;
            bytes.push(b'\n');
            write_synced(&dir.join(staged_name(txn)), &bytes).map_err(internal)?;
            rtt_durable::sync_dir(&dir).map_err(internal)?;
            self.faults.point("prepare.staged");
        }
        let record =
            TxnRecord { state: TxnState::Prepared, plan: session.plan, hosts: hosts.keys().cloned().collect() };
        self.write_record(txn, &record)?;
        self.faults.point("prepare.recorded");
        Ok(Vote::Yes)
    }

    fn commit(&mut self, epoch: u64, txn: &str) -> Result<Empty, Refusal> {
        self.session_for_tx(epoch)?;
        check_name("txn", txn)?;
        let Some(mut record) = self.record(txn)? else {
            return Err(Refusal::new(ErrorCode::UnknownTxn, format!("transaction {txn} was never prepared here")));
        };
        match record.state {
            TxnState::Committed => return Ok(Empty {}),
            TxnState::Aborted => {
                return Err(Refusal::new(ErrorCode::TxnConflict, format!("transaction {txn} was aborted")));
            }
            TxnState::Prepared => {}
        }
        for host in &record.hosts {
            let dir = self.root.join(host);
            let staged = dir.join(staged_name(txn));
            // A staged file already gone was renamed by a commit that crashed
            // before marking the record; repeating the rename is not needed.
            if staged.exists() {
                rtt_durable::rename(&staged, &dir.join(PLACEMENTS_FILE)).map_err(internal)?;
            }
            self.faults.point("commit.renamed");
        }
        record.state = TxnState::Committed;
        self.write_record(txn, &record)?;
        self.faults.point("commit.recorded");
        Ok(Empty {})
    }

    fn abort(&mut self, epoch: u64, txn: &str) -> Result<Empty, Refusal> {
        self.session_for_tx(epoch)?;
        check_name("txn", txn)?;
        let record = match self.record(txn)? {
            Some(record) => record,
            None => {
                // Never voted yes: drop whatever a crashed prepare staged, and
                // remember the abort so a late commit is refused.
                let hosts = self.hosts_with_staged(txn)?;
                TxnRecord { state: TxnState::Prepared, plan: String::new(), hosts }
            }
        };
        match record.state {
            TxnState::Aborted => return Ok(Empty {}),
            TxnState::Committed => {
                return Err(Refusal::new(ErrorCode::TxnConflict, format!("transaction {txn} was committed")));
            }
            TxnState::Prepared => {}
        }
        for host in &record.hosts {
            let dir = self.root.join(host);
            match fs::remove_file(dir.join(staged_name(txn))) {
                Ok(()) => rtt_durable::sync_dir(&dir).map_err(internal)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(internal(e)),
            }
            self.faults.point("abort.removed");
        }
        self.write_record(txn, &TxnRecord { state: TxnState::Aborted, ..record })?;
        self.faults.point("abort.recorded");
        Ok(Empty {})
    }

    fn rx(&self, hosts: &[String]) -> Result<RxResult, Refusal> {
        let mut out = BTreeMap::new();
        for host in hosts {
            check_name("host", host)?;
            if let Some(session) = &self.session
                && !session.hosts.contains(host)
            {
                return Err(Refusal::new(ErrorCode::CapabilityDenied, format!("host `{host}` was not granted")));
            }
            let placements = DirStore::read_host(&self.root, host)
                .map_err(|m| Refusal::new(ErrorCode::Internal, m))?
                .map(|f| f.placements)
                .unwrap_or_default();
            out.insert(host.clone(), placements);
        }
        Ok(RxResult { hosts: out })
    }

    fn record(&self, txn: &str) -> Result<Option<TxnRecord>, Refusal> {
        let path = self.record_path(txn);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Refusal::new(ErrorCode::Internal, format!("corrupt {}: {e}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(internal(e)),
        }
    }

    fn write_record(&self, txn: &str, record: &TxnRecord) -> Result<(), Refusal> {
        let bytes = serde_json::to_vec(record).map_err(internal)?;
        rtt_durable::write_atomic(&self.record_path(txn), &bytes, rtt_durable::READ_WRITE).map_err(internal)
    }

    fn record_path(&self, txn: &str) -> PathBuf {
        self.root.join(META_DIR).join("txns").join(format!("{txn}.json"))
    }

    fn hosts_with_staged(&self, txn: &str) -> Result<Vec<String>, Refusal> {
        let mut hosts = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(internal)? {
            let entry = entry.map_err(internal)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && entry.path().join(staged_name(txn)).exists() {
                hosts.push(name);
            }
        }
        hosts.sort();
        Ok(hosts)
    }
}

impl Handler for DirStore {
    fn handle(&mut self, method: Method, params: serde_json::Value) -> Result<serde_json::Value, Refusal> {
        let result = match method {
            Method::Probe => to_value(&self.probe()),
            Method::Open => {
                let params: OpenParams = parse(params)?;
                return self
                    .guarded("open", params.epoch, None, |s| to_value(&s.open_session(params)?).map_err(internal));
            }
            Method::Tx => {
                return match parse::<TxParams>(params)? {
                    TxParams::Prepare { epoch, txn, hosts } => self.guarded("prepare", epoch, Some(&txn), |s| {
                        to_value(&s.prepare(epoch, &txn, &hosts)?).map_err(internal)
                    }),
                    TxParams::Commit { epoch, txn } => self
                        .guarded("commit", epoch, Some(&txn), |s| to_value(&s.commit(epoch, &txn)?).map_err(internal)),
                    TxParams::Abort { epoch, txn } => {
                        self.guarded("abort", epoch, Some(&txn), |s| to_value(&s.abort(epoch, &txn)?).map_err(internal))
                    }
                };
            }
            Method::Rx => to_value(&self.rx(&parse::<RxParams>(params)?.hosts)?),
            Method::Health => {
                to_value(&HealthResult { ok: self.root.join(META_DIR).is_dir(), ..HealthResult::default() })
            }
            Method::Close => to_value(&Empty {}),
        };
        result.map_err(internal)
    }
}

fn parse<T: serde::de::DeserializeOwned>(params: serde_json::Value) -> Result<T, Refusal> {
    serde_json::from_value(params).map_err(|e| Refusal::new(ErrorCode::BadRequest, e.to_string()))
}

fn to_value<T: Serialize>(value: &T) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(value)
}

fn internal(error: impl std::fmt::Display) -> Refusal {
    Refusal::new(ErrorCode::Internal, error.to_string())
}

fn staged_name(txn: &str) -> String {
    format!("{PLACEMENTS_FILE}.{txn}")
}

/// Host names and transaction ids become path components: the config's
/// alphabet only, never `.`-led (that is this driver's own namespace).
fn check_name(what: &str, name: &str) -> Result<(), Refusal> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Refusal::new(ErrorCode::BadRequest, format!("{what} {name:?} is not a safe path component")))
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    file.write_all(bytes)?;
    rtt_durable::sync_file(&file)?;
    drop::<File>(file);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(root: &Path) -> DirStore {
        DirStore::open(root, Faults::disabled()).expect("store opens")
    }

    fn call(store: &mut DirStore, method: Method, params: serde_json::Value) -> Result<serde_json::Value, Refusal> {
        store.handle(method, params)
    }

    fn open(store: &mut DirStore, epoch: u64) -> Result<serde_json::Value, Refusal> {
        call(
            store,
            Method::Open,
            serde_json::json!({"plan": "sha256:aa", "epoch": epoch, "capabilities": [CAP_PLACEMENTS_WRITE], "hosts": ["h1", "h2"]}),
        )
    }

    fn prepare(store: &mut DirStore, epoch: u64, txn: &str) -> Result<serde_json::Value, Refusal> {
        call(
            store,
            Method::Tx,
            serde_json::json!({"phase": "prepare", "epoch": epoch, "txn": txn,
                "hosts": {"h1": [{"agent": "a@1", "numa": 0, "replicas": 2}]}}),
        )
    }

    fn finish(store: &mut DirStore, phase: &str, epoch: u64, txn: &str) -> Result<serde_json::Value, Refusal> {
        call(store, Method::Tx, serde_json::json!({"phase": phase, "epoch": epoch, "txn": txn}))
    }

    fn rx_h1(root: &Path) -> Vec<Placement> {
        DirStore::read_host(root, "h1").expect("readable").map(|f| f.placements).unwrap_or_default()
    }

    #[test]
    fn a_prepared_transaction_survives_a_restart_and_commits_after_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut first = store(dir.path());
        open(&mut first, 5).expect("open");
        assert_eq!(prepare(&mut first, 5, "t5").expect("prepare"), serde_json::json!({"vote": "yes"}));
        assert!(rx_h1(dir.path()).is_empty(), "prepare stages, never applies");
        drop(first);
        let mut second = store(dir.path());
        assert_eq!(second.probe().epoch, 5, "the epoch is durable");
        open(&mut second, 6).expect("open");
        finish(&mut second, "commit", 6, "t5").expect("commit after restart");
        finish(&mut second, "commit", 6, "t5").expect("repeated commit is a no-op");
        assert_eq!(rx_h1(dir.path()), vec![Placement { agent: "a@1".into(), numa: 0, replicas: 2 }]);
        let err = finish(&mut second, "abort", 6, "t5").expect_err("abort after commit");
        assert_eq!(err.code, ErrorCode::TxnConflict);
    }

    #[test]
    fn stale_epochs_are_refused_at_open_and_at_tx() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut driver = store(dir.path());
        open(&mut driver, 7).expect("open");
        assert_eq!(open(&mut driver, 6).expect_err("older open").code, ErrorCode::StaleEpoch);
        assert_eq!(prepare(&mut driver, 3, "t3").expect_err("older tx").code, ErrorCode::StaleEpoch);
    }

    #[test]
    fn commit_of_an_unknown_transaction_is_an_error_and_abort_of_one_is_remembered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut driver = store(dir.path());
        open(&mut driver, 1).expect("open");
        assert_eq!(finish(&mut driver, "commit", 1, "nope").expect_err("unknown").code, ErrorCode::UnknownTxn);
        finish(&mut driver, "abort", 1, "gone").expect("presumed abort");
        finish(&mut driver, "abort", 1, "gone").expect("repeated abort is a no-op");
        assert_eq!(finish(&mut driver, "commit", 1, "gone").expect_err("late commit").code, ErrorCode::TxnConflict);
    }

    #[test]
    fn hosts_outside_the_grant_and_missing_capabilities_are_denied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut driver = store(dir.path());
        open(&mut driver, 1).expect("open");
        let outside = call(
            &mut driver,
            Method::Tx,
            serde_json::json!({"phase": "prepare", "epoch": 1, "txn": "t1", "hosts": {"h9": []}}),
        );
        assert_eq!(outside.expect_err("h9 not granted").code, ErrorCode::CapabilityDenied);
        call(
            &mut driver,
            Method::Open,
            serde_json::json!({"plan": "sha256:aa", "epoch": 1, "capabilities": [], "hosts": ["h1"]}),
        )
        .expect("open without capabilities");
        assert_eq!(prepare(&mut driver, 1, "t2").expect_err("no write grant").code, ErrorCode::CapabilityDenied);
        let escape = call(&mut driver, Method::Rx, serde_json::json!({"hosts": ["../etc"]}));
        assert_eq!(escape.expect_err("path escape").code, ErrorCode::BadRequest);
    }

    #[test]
    fn abort_removes_staged_files_and_leaves_placements_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut driver = store(dir.path());
        open(&mut driver, 1).expect("open");
        prepare(&mut driver, 1, "t1").expect("prepare");
        finish(&mut driver, "abort", 1, "t1").expect("abort");
        assert!(!dir.path().join("h1").join(staged_name("t1")).exists());
        assert!(rx_h1(dir.path()).is_empty());
    }
}
