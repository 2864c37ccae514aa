//! The flight recorder: the last events of a coordinator run — WAL steps,
//! driver requests and responses with their timings, breaker transitions,
//! gate readings — in a bounded ring, written through to
//! `.rtt/flight/live.jsonl` as they happen (no fsync: the kernel keeps what
//! a killed process wrote, and a flight record is evidence, not state).
//! A record is flushed to `.rtt/flight/<id>.json` when a transaction aborts,
//! rolls back, fails its gate, when recovery finishes what a crash left, and
//! on demand; a crashed run's live segments become a record of their own
//! when the next coordinator opens.

use rtt_telemetry::now_ms;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Events a ring holds (and a live segment, before it rotates).
pub const CAPACITY: usize = 4096;
/// Flight records kept; older ones are removed.
pub const KEEP_RECORDS: usize = 64;
/// Bytes of a request or response kept in an event.
pub const EXCERPT: usize = 512;

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Wall clock, ms since the Unix epoch.
    pub at_ms: u64,
    /// Since the recorder started, µs (monotonic).
    pub t_us: u64,
    /// The coordinator's process.
    pub pid: u32,
    /// What happened.
    pub what: What,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum What {
    /// A coordinator started.
    Start {
        /// The command (`apply`, `recover`, `rollback`).
        command: String,
    },
    /// A WAL record was appended (and fsynced).
    Wal {
        /// Its kind.
        kind: String,
        /// Its transaction.
        txn: String,
        /// Its seq.
        seq: u64,
    },
    /// A driver call.
    Call {
        /// The driver.
        driver: String,
        /// The phase (probe, open, prepare, commit, abort, rx, health, close).
        phase: String,
        /// How long it took, µs.
        micros: u64,
        /// Whether it succeeded.
        ok: bool,
        /// The request's params, cut at [`EXCERPT`] bytes.
        request: String,
        /// The result or the error, cut at [`EXCERPT`] bytes.
        response: String,
    },
    /// A breaker moved.
    Breaker {
        /// The driver.
        driver: String,
        /// Position before.
        from: String,
        /// Position after.
        to: String,
    },
    /// A soak reading.
    Reading {
        /// Samples read.
        samples: u64,
        /// Routes with samples so far.
        routes: usize,
    },
    /// The SLO gate's verdict.
    Verdict {
        /// `pass`, `breach` or `no_evidence`.
        outcome: String,
        /// The failing routes.
        evidence: Vec<String>,
    },
    /// Anything else worth a line.
    Note {
        /// The text.
        text: String,
    },
}

/// A flushed record (`.rtt/flight/<id>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlightRecord {
    /// `rtt.flight`.
    pub kind: String,
    /// 1.
    pub version: u32,
    /// Its id (the file's stem).
    pub id: String,
    /// Why it was flushed: `abort`, `rollback`, `gate`, `crash`, `recovery`, `requested`.
    pub reason: String,
    /// The events, oldest first.
    pub events: Vec<Event>,
}

struct Inner {
    dir: PathBuf,
    ring: VecDeque<Event>,
    live: Option<File>,
    in_segment: usize,
    started: Instant,
    pid: u32,
}

/// The recorder: a cheap handle shared by the coordinator and its drivers.
/// A disabled one (libraries, benchmarks) records nothing.
#[derive(Clone, Default)]
pub struct Recorder(Option<Arc<Mutex<Inner>>>);

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Recorder").field(&self.0.is_some()).finish()
    }
}

impl Recorder {
    /// A recorder that records nothing.
    pub fn disabled() -> Recorder {
        Recorder(None)
    }

    /// Starts recording into `dir` (`.rtt/flight/`). The events a crashed
    /// run left in the live segments are returned, to be flushed as its
    /// record; the segments are then started again.
    pub fn open(dir: &Path) -> io::Result<(Recorder, Vec<Event>)> {
        fs::create_dir_all(dir)?;
        let mut left = Vec::new();
        for segment in [dir.join("live.old.jsonl"), dir.join("live.jsonl")] {
            match File::open(&segment) {
                Ok(file) => {
                    // A torn last line (killed mid-write) is skipped.
                    for line in io::BufReader::new(file).lines() {
                        if let Ok(event) = serde_json::from_str::<Event>(&line?) {
                            left.push(event);
                        }
                    }
                    fs::remove_file(&segment)?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if left.len() > CAPACITY {
            left.drain(..left.len() - CAPACITY);
        }
        let live = OpenOptions::new().create(true).append(true).open(dir.join("live.jsonl"))?;
        let inner = Inner {
            dir: dir.to_owned(),
            ring: VecDeque::with_capacity(CAPACITY),
            live: Some(live),
            in_segment: 0,
            started: Instant::now(),
            pid: std::process::id(),
        };
        Ok((Recorder(Some(Arc::new(Mutex::new(inner)))), left))
    }

    /// Whether events are kept.
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    fn inner(&self) -> Option<MutexGuard<'_, Inner>> {
        // A poisoned lock only means a panic elsewhere; the ring is still whole.
        self.0.as_ref().map(|m| m.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Records `what`. Recording never fails a run: a write error drops the
    /// live segment and keeps the ring.
    pub fn record(&self, what: What) {
        let Some(mut inner) = self.inner() else { return };
        let event = Event {
            at_ms: now_ms(),
            t_us: u64::try_from(inner.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            pid: inner.pid,
            what,
        };
        if inner.in_segment >= CAPACITY {
            // Rotate: live.jsonl becomes live.old.jsonl, so the two hold at
            // least the last CAPACITY events.
            let (live, old) = (inner.dir.join("live.jsonl"), inner.dir.join("live.old.jsonl"));
            inner.live = rtt_durable::rename(&live, &old)
                .and_then(|()| OpenOptions::new().create(true).append(true).open(&live))
                .ok();
            inner.in_segment = 0;
        }
        if let Some(file) = inner.live.as_mut() {
            let mut line = serde_json::to_vec(&event).unwrap_or_default();
            line.push(b'\n');
            if file.write_all(&line).is_err() {
                inner.live = None;
            }
        }
        inner.in_segment += 1;
        if inner.ring.len() == CAPACITY {
            inner.ring.pop_front();
        }
        inner.ring.push_back(event);
    }

    /// Writes the ring (after `before`, a crashed run's events) as a record;
    /// returns its path.
    pub fn flush(&self, reason: &str, label: &str, before: &[Event]) -> io::Result<Option<PathBuf>> {
        let Some(inner) = self.inner() else { return Ok(None) };
        let mut events: Vec<Event> = before.to_vec();
        events.extend(inner.ring.iter().cloned());
        let stamp = events.last().map_or_else(now_ms, |e| e.at_ms);
        let id = format!("{}-{}-{reason}", stamp_id(stamp), sanitize(label));
        let record =
            FlightRecord { kind: "rtt.flight".into(), version: 1, id: id.clone(), reason: reason.into(), events };
        let bytes = serde_json::to_vec(&record).map_err(io::Error::other)?;
        let path = inner.dir.join(format!("{id}.json"));
        rtt_durable::write_atomic(&path, &bytes, rtt_durable::READ_WRITE)?;
        prune(&inner.dir, &path)?;
        Ok(Some(path))
    }

    /// A clean end: the live segments are removed (nothing crashed).
    pub fn close(&self) {
        if let Some(mut inner) = self.inner() {
            inner.live = None;
            for name in ["live.jsonl", "live.old.jsonl"] {
                let _ = fs::remove_file(inner.dir.join(name));
            }
        }
    }
}

/// `s` cut at `max` bytes on a character boundary, with `…` when cut.
pub fn excerpt(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Reads a record.
pub fn read(path: &Path) -> io::Result<FlightRecord> {
    let bytes = fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The records under `dir`, oldest first (ids sort by time).
pub fn list(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut records = Vec::new();
    match fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let path = entry?.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.ends_with(".json") && !name.starts_with("live") {
                    records.push(path);
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    records.sort();
    Ok(records)
}

fn prune(dir: &Path, keep: &Path) -> io::Result<()> {
    let records = list(dir)?;
    if records.len() <= KEEP_RECORDS {
        return Ok(());
    }
    for path in records.iter().take(records.len() - KEEP_RECORDS).filter(|p| p.as_path() != keep) {
        fs::remove_file(path)?;
    }
    Ok(())
}

fn sanitize(label: &str) -> String {
    label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

/// `YYYYMMDDTHHMMSS.mmmZ` of a Unix time in ms (UTC), so ids sort by time:
/// RFC 3339 without its separators, which file names do without.
fn stamp_id(ms: u64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_millis(time).to_string().replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(text: &str) -> What {
        What::Note { text: text.into() }
    }

    #[test]
    fn a_crashed_runs_events_are_found_by_the_next_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first, left) = Recorder::open(dir.path()).expect("open");
        assert!(left.is_empty());
        first.record(note("one"));
        first.record(note("two"));
        // No close: the process "died". The next run finds its events.
        drop(first);
        let (second, left) = Recorder::open(dir.path()).expect("open");
        assert_eq!(left.iter().map(|e| e.what.clone()).collect::<Vec<_>>(), vec![note("one"), note("two")]);
        second.record(note("three"));
        let path = second.flush("crash", "t7", &left).expect("flush").expect("enabled");
        let record = read(&path).expect("reads");
        assert_eq!(record.events.len(), 3);
        assert!(record.id.ends_with("-t7-crash"), "{}", record.id);
        second.close();
        let (_, left) = Recorder::open(dir.path()).expect("open");
        assert!(left.is_empty(), "a clean close leaves nothing behind");
    }

    #[test]
    fn the_ring_and_the_segments_are_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (recorder, _) = Recorder::open(dir.path()).expect("open");
        for n in 0..CAPACITY * 2 + 10 {
            recorder.record(note(&n.to_string()));
        }
        let path = recorder.flush("requested", "x", &[]).expect("flush").expect("enabled");
        let record = read(&path).expect("reads");
        assert_eq!(record.events.len(), CAPACITY);
        assert_eq!(record.events.last().map(|e| e.what.clone()), Some(note(&(CAPACITY * 2 + 9).to_string())));
        drop(recorder);
        let (_, left) = Recorder::open(dir.path()).expect("open");
        assert!(left.len() >= CAPACITY && left.len() <= 2 * CAPACITY, "{}", left.len());
    }

    #[test]
    fn ids_are_utc_stamps_and_excerpts_cut_on_characters() {
        assert_eq!(stamp_id(0), "19700101T000000.000Z");
        assert_eq!(stamp_id(1_796_608_000_123), "20261207T014640.123Z");
        assert_eq!(excerpt("héllo", 2), "h…");
        assert_eq!(excerpt("hi", 5), "hi");
        assert!(!Recorder::disabled().enabled());
        assert_eq!(Recorder::disabled().flush("abort", "t", &[]).expect("nothing"), None);
    }
}
