//! The write-ahead log: append-only JSON lines, each record carrying `seq`
//! (1, 2, 3, …), `prev` (the previous record's hash, `null` for the first)
//! and `hash` (sha256 of the record's JCS bytes without `hash`). A record is
//! fsynced before the step it announces.
//!
//! [`check_chain`] is pure: it finds edits (hash), reorders and gaps (`seq`,
//! `prev`) and tells a torn last record — bytes after the last newline, left
//! by a crash inside a write — from tampering. [`Wal`] is the file.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rtt_canonical::{Sha256, canonical_hash};
use rtt_durable::WalLayout;
use serde::{Deserialize, Serialize};

use crate::fault::Faults;

/// One record: chain fields and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Position, from 1, without gaps.
    pub seq: u64,
    /// Hash of the record before (`None` for the first).
    pub prev: Option<Sha256>,
    /// What happened.
    #[serde(flatten)]
    pub entry: Entry,
    /// sha256 of the JCS bytes of this record without `hash`.
    pub hash: Sha256,
}

/// What a record announces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Entry {
    /// A transaction starts: drivers are about to be prepared.
    Begin {
        /// Transaction id.
        txn: String,
        /// Fencing epoch.
        epoch: u64,
        /// Plan in force before (`None`: nothing applied yet).
        from: Option<Sha256>,
        /// Plan being applied.
        to: Sha256,
        /// Its serial.
        serial: u64,
        /// The transaction this one rolls back, after a failed verify.
        rollback_of: Option<String>,
        /// Hosts changed, per driver.
        participants: BTreeMap<String, Vec<String>>,
    },
    /// The outcome is fixed: commit or abort is about to be sent.
    Decision {
        /// Transaction id.
        txn: String,
        /// The outcome.
        outcome: Decision,
        /// Why, for an abort.
        reason: Option<String>,
    },
    /// A recovery takes over the transaction with a newer epoch.
    Recover {
        /// Transaction id.
        txn: String,
        /// The recovering coordinator's epoch.
        epoch: u64,
    },
    /// The transaction is finished everywhere.
    End {
        /// Transaction id.
        txn: String,
        /// How it ended.
        outcome: EndOutcome,
        /// Details (the hosts that failed verify).
        detail: Option<String>,
    },
    /// The SLO gate's verdict on a committed transaction after its soak
    /// (docs/telemetry.md); a breach is followed by a rollback transaction.
    Gate {
        /// The transaction judged (the last one, ended `committed`).
        txn: String,
        /// The verdict.
        outcome: GateOutcome,
        /// The routes that failed, with their readings.
        evidence: Vec<String>,
    },
}

/// The SLO gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateOutcome {
    /// Every route observed enough kept its SLO and budget.
    Pass,
    /// A route breached: roll back.
    Breach,
    /// Too few samples to judge; the plan stays.
    NoEvidence,
}

impl GateOutcome {
    /// The name the WAL record carries.
    pub fn name(self) -> &'static str {
        match self {
            GateOutcome::Pass => "pass",
            GateOutcome::Breach => "breach",
            GateOutcome::NoEvidence => "no_evidence",
        }
    }
}

/// A commit decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Every participant voted yes.
    Commit,
    /// Somebody voted no, failed, or the coordinator gave up.
    Abort,
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndOutcome {
    /// Committed and verified through `Rx`; the applied pointer names `to`.
    Committed,
    /// Aborted everywhere; nothing changed.
    Aborted,
    /// Committed, but `Rx` disagreed; a rollback transaction follows.
    VerifyFailed,
}

impl Entry {
    /// The transaction the entry belongs to.
    pub fn txn(&self) -> &str {
        match self {
            Entry::Begin { txn, .. }
            | Entry::Decision { txn, .. }
            | Entry::Recover { txn, .. }
            | Entry::End { txn, .. }
            | Entry::Gate { txn, .. } => txn,
        }
    }

    /// The record kind, as written.
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Begin { .. } => "begin",
            Entry::Decision { .. } => "decision",
            Entry::Recover { .. } => "recover",
            Entry::End { .. } => "end",
            Entry::Gate { .. } => "gate",
        }
    }
}

/// A record after `prev` with this entry: its hash computed.
pub fn seal(seq: u64, prev: Option<Sha256>, entry: Entry) -> Result<Record, WalError> {
    let body = serde_json::json!({"seq": seq, "prev": prev, "entry": &entry});
    let mut value = body;
    // Flatten `entry` the way the serialised record does, then hash without `hash`.
    if let Some(object) = value.as_object_mut()
        && let Some(serde_json::Value::Object(fields)) = object.remove("entry")
    {
        object.extend(fields);
    }
    let hash = canonical_hash(&value).map_err(|e| WalError::Encode(e.to_string()))?;
    Ok(Record { seq, prev, entry, hash })
}

/// What [`check_chain`] found in a log that is intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Every complete record, in order.
    pub records: Vec<Record>,
    /// A torn last record: its byte offset and length.
    pub torn: Option<(usize, usize)>,
}

/// A log that was tampered with or corrupted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum ChainError {
    /// A line that is not a record.
    #[error("WAL line {line} is not a record: {reason}")]
    #[diagnostic(code(rtt::wal::malformed))]
    Malformed {
        /// 1-based line.
        line: usize,
        /// Parser message.
        reason: String,
    },
    /// The record's content does not match its hash: it was edited.
    #[error("WAL line {line} (seq {seq}) was edited: its hash does not match its content")]
    #[diagnostic(code(rtt::wal::edited))]
    Edited {
        /// 1-based line.
        line: usize,
        /// Its seq.
        seq: u64,
    },
    /// A record out of sequence: records were dropped or reordered.
    #[error("WAL line {line} has seq {found} where {expected} was due: records were dropped or reordered")]
    #[diagnostic(code(rtt::wal::gap))]
    Gap {
        /// 1-based line.
        line: usize,
        /// The seq due.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// `prev` does not name the record before.
    #[error("WAL line {line} (seq {seq}) does not link to the record before it")]
    #[diagnostic(code(rtt::wal::broken_link))]
    BrokenLink {
        /// 1-based line.
        line: usize,
        /// Its seq.
        seq: u64,
    },
    /// Records the anchor saw are gone: the log was truncated.
    #[error("WAL ends at seq {last} but seq {anchor} was written and anchored: the log was truncated")]
    #[diagnostic(code(rtt::wal::truncated), help("restore .rtt/wal/ from a backup; never edit the log by hand"))]
    Truncated {
        /// Last seq present.
        last: u64,
        /// Seq in the anchor.
        anchor: u64,
    },
    /// The anchored record is not the one in the log.
    #[error("WAL record seq {seq} differs from the anchored one: the log was rewritten")]
    #[diagnostic(code(rtt::wal::rewritten))]
    Rewritten {
        /// The anchored seq.
        seq: u64,
    },
}

/// Checks every record of a log's bytes. Pure.
pub fn check_chain(bytes: &[u8]) -> Result<Chain, ChainError> {
    let complete_len = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |at| at + 1);
    let torn = (complete_len < bytes.len()).then(|| (complete_len, bytes.len() - complete_len));
    let mut records: Vec<Record> = Vec::new();
    // Without its final newline, so that splitting yields exactly the lines.
    let complete = &bytes[..complete_len.saturating_sub(1)];
    let lines = if complete_len == 0 { None } else { Some(complete.split(|b| *b == b'\n')) };
    for (index, line) in lines.into_iter().flatten().enumerate() {
        let line_no = index + 1;
        let record = parse_record(line).map_err(|reason| ChainError::Malformed { line: line_no, reason })?;
        let expected = records.last().map_or(1, |r| r.seq + 1);
        if record.seq != expected {
            return Err(ChainError::Gap { line: line_no, expected, found: record.seq });
        }
        if record.prev != records.last().map(|r| r.hash) {
            return Err(ChainError::BrokenLink { line: line_no, seq: record.seq });
        }
        let resealed = seal(record.seq, record.prev, record.entry.clone())
            .map_err(|e| ChainError::Malformed { line: line_no, reason: e.to_string() })?;
        if resealed.hash != record.hash {
            return Err(ChainError::Edited { line: line_no, seq: record.seq });
        }
        records.push(record);
    }
    Ok(Chain { records, torn })
}

fn parse_record(line: &[u8]) -> Result<Record, String> {
    let text = std::str::from_utf8(line).map_err(|e| e.to_string())?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let object = value.as_object().ok_or("not an object")?;
    for key in object.keys() {
        if !matches!(key.as_str(), "seq" | "prev" | "hash" | "kind") && !ENTRY_FIELDS.contains(&key.as_str()) {
            return Err(format!("unknown field `{key}`"));
        }
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// Fields entries may carry (flattened records cannot deny unknown fields
/// through serde, so the check is here).
const ENTRY_FIELDS: [&str; 12] = [
    "txn",
    "epoch",
    "from",
    "to",
    "serial",
    "rollback_of",
    "participants",
    "outcome",
    "reason",
    "detail",
    "evidence",
    "kind",
];

/// The last record's position, kept outside the log after each transaction
/// so that cutting whole records off the end is detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// Seq of the anchored record.
    pub seq: u64,
    /// Its hash.
    pub hash: Sha256,
}

/// Checks that the anchored record is still in the log. Pure.
pub fn check_anchor(records: &[Record], anchor: &Anchor) -> Result<(), ChainError> {
    let last = records.last().map_or(0, |r| r.seq);
    match records.iter().find(|r| r.seq == anchor.seq) {
        None => Err(ChainError::Truncated { last, anchor: anchor.seq }),
        Some(record) if record.hash != anchor.hash => Err(ChainError::Rewritten { seq: anchor.seq }),
        Some(_) => Ok(()),
    }
}

/// The WAL could not be read or written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WalError {
    /// Tampering or corruption.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Chain(#[from] ChainError),
    /// The OS failed.
    #[error("failed to {action} {}: {source}", .path.display())]
    #[diagnostic(code(rtt::wal::io))]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A record that cannot be encoded.
    #[error("failed to encode a WAL record: {0}")]
    #[diagnostic(code(rtt::wal::encode))]
    Encode(String),
}

/// The open log: verified on open, appended to with fsync.
pub struct Wal {
    path: PathBuf,
    file: File,
    records: Vec<Record>,
    /// The torn tail found (and set aside) when the log was opened.
    pub torn_on_open: Option<(usize, usize)>,
}

impl Wal {
    /// Opens (or creates) the log in `dir` and checks its chain and anchor.
    /// A torn last record is moved to `torn-<offset>.bin` and cut off, so the
    /// next record starts on its own line; the step it announced never ran.
    pub fn open(layout: &WalLayout, anchor: Option<&Anchor>) -> Result<Wal, WalError> {
        let dir = layout.dir();
        fs::create_dir_all(dir).map_err(|source| WalError::Io { action: "create", path: dir.to_owned(), source })?;
        let path = layout.log();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(WalError::Io { action: "read", path, source }),
        };
        let chain = check_chain(&bytes)?;
        if let Some(anchor) = anchor {
            check_anchor(&chain.records, anchor)?;
        }
        let io = |action, path: &Path| {
            let path = path.to_owned();
            move |source| WalError::Io { action, path, source }
        };
        let file = OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(io("open", &path))?;
        if let Some((offset, len)) = chain.torn {
            let aside = layout.torn(offset);
            rtt_durable::write_atomic(&aside, &bytes[offset..offset + len], rtt_durable::READ_WRITE)
                .map_err(io("keep the torn record in", &aside))?;
            file.set_len(offset as u64).map_err(io("cut the torn record from", &path))?;
            rtt_durable::sync_file(&file).map_err(io("sync", &path))?;
        }
        Ok(Wal { path, file, records: chain.records, torn_on_open: chain.torn })
    }

    /// Every record.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The last record's position, for the anchor.
    pub fn anchor(&self) -> Option<Anchor> {
        self.records.last().map(|r| Anchor { seq: r.seq, hash: r.hash })
    }

    /// Appends a record and fsyncs it; the caller may then take the step.
    /// With faults armed the line is written in two halves with a fault point
    /// between, so the crash matrix also leaves torn records.
    pub fn append(&mut self, entry: Entry, faults: &Faults) -> Result<Record, WalError> {
        let last = self.records.last();
        let record = seal(last.map_or(1, |r| r.seq + 1), last.map(|r| r.hash), entry)?;
        let mut line = serde_json::to_vec(&record).map_err(|e| WalError::Encode(e.to_string()))?;
        line.push(b'\n');
        let io = |action| {
            let path = self.path.clone();
            move |source| WalError::Io { action, path, source }
        };
        if faults.active() {
            let half = line.len() / 2;
            self.file.write_all(&line[..half]).map_err(io("append to"))?;
            faults.point(&format!("wal.{}.torn", record.entry.kind()));
            self.file.write_all(&line[half..]).map_err(io("append to"))?;
        } else {
            self.file.write_all(&line).map_err(io("append to"))?;
        }
        rtt_durable::sync_file(&self.file).map_err(io("sync"))?;
        faults.point(&format!("wal.{}", record.entry.kind()));
        self.records.push(record.clone());
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut records = Vec::new();
        let mut prev = None;
        let entries = [
            Entry::Begin {
                txn: "t1".into(),
                epoch: 1,
                from: None,
                to: Sha256::of(b"plan"),
                serial: 1,
                rollback_of: None,
                participants: BTreeMap::from([("dir".to_owned(), vec!["h1".to_owned()])]),
            },
            Entry::Decision { txn: "t1".into(), outcome: Decision::Commit, reason: None },
            Entry::End { txn: "t1".into(), outcome: EndOutcome::Committed, detail: None },
        ];
        for (i, entry) in entries.into_iter().enumerate() {
            let record = seal(i as u64 + 1, prev, entry).expect("seals");
            prev = Some(record.hash);
            records.push(record);
        }
        let mut bytes = Vec::new();
        for record in &records {
            bytes.extend(serde_json::to_vec(record).expect("encodes"));
            bytes.push(b'\n');
        }
        bytes
    }

    fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
        bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| l.to_vec()).collect()
    }

    fn join(lines: &[Vec<u8>]) -> Vec<u8> {
        lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect()
    }

    #[test]
    fn an_intact_log_checks_and_an_empty_one_too() {
        assert_eq!(check_chain(&sample()).expect("intact").records.len(), 3);
        assert_eq!(check_chain(b"").expect("empty").records.len(), 0);
    }

    #[test]
    fn an_edit_a_drop_and_a_reorder_are_each_detected() {
        let original = lines(&sample());
        let mut edited = original.clone();
        edited[1] = String::from_utf8(edited[1].clone()).expect("utf8").replace("commit", "abort").into_bytes();
        assert!(matches!(check_chain(&join(&edited)), Err(ChainError::Edited { line: 2, seq: 2 })));
        let dropped = vec![original[0].clone(), original[2].clone()];
        assert!(matches!(check_chain(&join(&dropped)), Err(ChainError::Gap { line: 2, expected: 2, found: 3 })));
        let reordered = vec![original[1].clone(), original[0].clone(), original[2].clone()];
        assert!(matches!(check_chain(&join(&reordered)), Err(ChainError::Gap { line: 1, .. })));
    }

    #[test]
    fn a_torn_last_record_is_tolerated_and_reported() {
        let bytes = sample();
        let cut = &bytes[..bytes.len() - 10];
        let chain = check_chain(cut).expect("torn tail tolerated");
        assert_eq!(chain.records.len(), 2);
        assert!(chain.torn.is_some());
    }

    #[test]
    fn whole_records_cut_from_the_end_are_caught_by_the_anchor() {
        let bytes = sample();
        let full = check_chain(&bytes).expect("intact");
        let anchor = Anchor { seq: 3, hash: full.records[2].hash };
        let shorter = join(&lines(&bytes)[..2]);
        let chain = check_chain(&shorter).expect("chain alone cannot tell");
        assert!(matches!(check_anchor(&chain.records, &anchor), Err(ChainError::Truncated { last: 2, anchor: 3 })));
    }
}
