//! Fault injection for the crash matrix: named points in the coordinator and
//! in drivers where the process can SIGKILL itself, switched by environment
//! variables. Off unless `RTT_FAULT` or `RTT_FAULT_TRACE` is set, and then
//! only a counter comparison per point.
//!
//! - `RTT_FAULT=<scope>@<n>` kills the process at the `n`-th point (1-based)
//!   reached in `<scope>`: `coordinator` or `driver:<name>`.
//! - `RTT_FAULT_ONCE=<file>` makes the kill one-shot across processes: it
//!   fires only if it can create `<file>` (which then holds the point's label),
//!   so a driver restarted by recovery does not die again.
//! - `RTT_FAULT_TRACE=<file>` appends `<scope> <label>` for every point
//!   reached, which is how the crash matrix enumerates the steps of a run.
//!
//! Counting points instead of naming them means a new step in the code is in
//! the matrix without anyone listing it.

use std::cell::Cell;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

/// Environment variable arming a kill.
pub const FAULT_ENV: &str = "RTT_FAULT";
/// Environment variable making the kill one-shot.
pub const FAULT_ONCE_ENV: &str = "RTT_FAULT_ONCE";
/// Environment variable listing the points reached.
pub const FAULT_TRACE_ENV: &str = "RTT_FAULT_TRACE";

/// The fault points of one scope in this process.
#[derive(Debug, Default)]
pub struct Faults {
    scope: String,
    kill_at: Option<u64>,
    once: Option<PathBuf>,
    trace: Option<PathBuf>,
    reached: Cell<u64>,
}

impl Faults {
    /// Points that never fire (library users, benchmarks).
    pub fn disabled() -> Faults {
        Faults::default()
    }

    /// The points of `scope`, armed from the environment.
    pub fn from_env(scope: &str) -> Faults {
        let kill_at = std::env::var(FAULT_ENV).ok().and_then(|spec| {
            let (target, n) = spec.rsplit_once('@')?;
            (target == scope).then(|| n.parse::<u64>().ok()).flatten()
        });
        Faults {
            scope: scope.to_owned(),
            kill_at,
            once: std::env::var_os(FAULT_ONCE_ENV).map(PathBuf::from),
            trace: std::env::var_os(FAULT_TRACE_ENV).map(PathBuf::from),
            reached: Cell::new(0),
        }
    }

    /// Whether any point can fire or is traced (the WAL then splits its
    /// writes so that a kill can leave a torn record).
    pub fn active(&self) -> bool {
        self.kill_at.is_some() || self.trace.is_some()
    }

    /// A point named `label` is reached: trace it, and die here if armed.
    pub fn point(&self, label: &str) {
        if !self.active() {
            return;
        }
        let n = self.reached.get() + 1;
        self.reached.set(n);
        if let Some(trace) = &self.trace
            && let Ok(mut file) = OpenOptions::new().create(true).append(true).open(trace)
        {
            // Best effort: a trace that cannot be written only shortens the matrix.
            let _ = writeln!(file, "{} {label}", self.scope);
        }
        if self.kill_at != Some(n) {
            return;
        }
        if let Some(once) = &self.once {
            // The first process to reach the point takes the marker and dies;
            // the others find it taken and carry on.
            let marker = format!("{} {label}\n", self.scope);
            if rtt_durable::create_new(once, marker.as_bytes(), rtt_durable::READ_WRITE).is_err() {
                return;
            }
        }
        die();
    }
}

/// SIGKILL to ourselves: no destructors, no flushing, like a power cut for
/// this process (the kernel keeps what was written).
fn die() -> ! {
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    std::process::abort()
}
