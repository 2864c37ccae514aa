//! Drivers in every language `rtt driver new` writes, measured side by side in
//! one run: start-up (spawn to the first `Probe` answer) and round trips of
//! `Health` (the protocol and the language alone) and of `Tx` prepare and
//! commit (with their fsyncs) on one host, against the built-in dir driver
//! served as a process (`rtt driver dir`) as the baseline. Each generated
//! driver is built first (not timed); drivers run outside the sandbox, so the
//! figures are the language's.
//!
//!     cargo bench --profile dev --bench drivers [-- LANG...]

#[path = "support/timing.rs"]
mod timing;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const STARTS: usize = 11;
const ROUNDS: usize = 200;

struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next: u64,
}

impl Session {
    fn start(command: &[String], dir: &Path, root: &Path) -> Session {
        let mut child = Command::new(&command[0])
            .args(&command[1..])
            .current_dir(dir)
            .env("RTT_DRIVER_ROOT", root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the driver starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Session { child, stdin, stdout, next: 0 }
    }

    /// One request and its answer; panics on an error answer.
    fn call(&mut self, method: &str, params: serde_json::Value) -> Duration {
        self.next += 1;
        let line = serde_json::json!({"id": self.next.to_string(), "method": method, "params": params}).to_string();
        let start = Instant::now();
        self.stdin.write_all(format!("{line}\n").as_bytes()).expect("writes");
        self.stdin.flush().expect("flushes");
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).expect("reads");
        let took = start.elapsed();
        let answer: serde_json::Value = serde_json::from_str(&answer).expect("a JSON answer");
        assert!(answer["error"].is_null(), "{method}: {answer}");
        took
    }

    fn close(mut self) {
        self.call("Close", serde_json::json!({}));
        drop(self.stdin);
        self.child.wait().expect("exits");
    }
}

fn percentile(times: &mut [Duration], p: f64) -> f64 {
    times.sort();
    let at = ((times.len() - 1) as f64 * p).round() as usize;
    times[at].as_secs_f64() * 1e6
}

struct Figures {
    start_ms: f64,
    health: (f64, f64),
    prepare: (f64, f64),
    commit: (f64, f64),
}

fn measure(command: &[String], dir: &Path) -> Figures {
    let start = timing::median_measured(STARTS, || {
        let root = tempfile::tempdir().expect("tempdir");
        let began = Instant::now();
        let mut session = Session::start(command, dir, root.path());
        session.call("Probe", serde_json::json!({}));
        let took = began.elapsed();
        session.close();
        took
    });
    let root = tempfile::tempdir().expect("tempdir");
    let mut session = Session::start(command, dir, root.path());
    session.call(
        "Open",
        serde_json::json!({"plan": "sha256:00", "epoch": 1, "capabilities": ["placements.write"], "hosts": ["h1"]}),
    );
    let (mut health, mut prepare, mut commit) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        health.push(session.call("Health", serde_json::json!({})));
        let txn = format!("t{round}");
        let rows = [{ serde_json::json!({"agent": "a@1", "numa": round % 2, "replicas": 1 + round % 3}) }];
        prepare.push(
            session.call("Tx", serde_json::json!({"phase": "prepare", "epoch": 1, "txn": txn, "hosts": {"h1": rows}})),
        );
        commit.push(session.call("Tx", serde_json::json!({"phase": "commit", "epoch": 1, "txn": txn})));
    }
    session.close();
    Figures {
        start_ms: start.as_secs_f64() * 1e3,
        health: (percentile(&mut health, 0.5), percentile(&mut health, 0.99)),
        prepare: (percentile(&mut prepare, 0.5), percentile(&mut prepare, 0.99)),
        commit: (percentile(&mut commit, 0.5), percentile(&mut commit, 0.99)),
    }
}

fn main() {
    let rtt = PathBuf::from(env!("CARGO_BIN_EXE_rtt"));
    let work = tempfile::tempdir().expect("tempdir");
    let wanted: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let help = Command::new(&rtt).args(["driver", "new", "--help"]).output().expect("rtt runs");
    let help = String::from_utf8_lossy(&help.stdout).replace('\n', " ");
    let languages: Vec<String> = help
        .split("possible values: ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("--lang lists its values")
        .split(',')
        .map(|w| w.trim().to_owned())
        .filter(|l| wanted.is_empty() || wanted.contains(l))
        .collect();
    let baseline_dir = work.path().to_owned();
    let baseline = measure(
        &[
            rtt.display().to_string(),
            "driver".into(),
            "dir".into(),
            "--root".into(),
            work.path().join("dir").display().to_string(),
        ],
        &baseline_dir,
    );
    println!(
        "| driver | start-up (ms) | Health p50 / p99 (µs) | Tx prepare p50 / p99 (µs) | Tx commit p50 / p99 (µs) | prepare p50 ÷ baseline |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let row = |name: &str, f: &Figures| {
        println!(
            "| {name} | {:.1} | {:.0} / {:.0} | {:.0} / {:.0} | {:.0} / {:.0} | {:.2}× |",
            f.start_ms,
            f.health.0,
            f.health.1,
            f.prepare.0,
            f.prepare.1,
            f.commit.0,
            f.commit.1,
            f.prepare.0 / baseline.prepare.0
        );
    };
    row("built-in dir (`rtt driver dir`, baseline)", &baseline);
    for lang in languages {
        let name = format!("bench-{lang}");
        let made = Command::new(&rtt).args(["driver", "new", "--lang", &lang, &name]).current_dir(work.path()).output();
        assert!(made.expect("rtt runs").status.success(), "{lang}: driver new failed");
        let dir = work.path().join(&name);
        if dir.join("build").exists() {
            let built = Command::new(dir.join("build")).current_dir(&dir).output().expect("build runs");
            assert!(built.status.success(), "{lang}: {}", String::from_utf8_lossy(&built.stderr));
        }
        row(&lang, &measure(&[dir.join("driver").display().to_string()], &dir));
    }
    println!("(median start-up of {STARTS}; {ROUNDS} rounds of Health, prepare and commit on one host per driver)");
}
