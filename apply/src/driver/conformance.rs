//! `rtt driver test -- COMMAND...`: the conformance harness any driver author
//! can run. It starts the driver as apply would (resident, stdio, deadlines)
//! and checks framing, every method, idempotent commit and abort, epoch
//! fencing, and durability across a SIGKILL, during and after prepare.
//!
//! Hosts and transaction ids carry a prefix unique to the run, so the
//! harness can run against a driver's real state without colliding with it,
//! and epochs start above whatever the driver has seen.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde_json::json;

use crate::driver::Failure;
use crate::driver::client::{ProcessEndpoint, ProcessSpec, SocketSpec};
use crate::driver::protocol::{
    CAP_PLACEMENTS_WRITE, Empty, ErrorCode, HealthResult, HostPlacements, PROTOCOL_VERSION, Placement, ProbeResult,
    RxResult, Vote,
};

/// One check and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What is checked.
    pub name: &'static str,
    /// `Ok`, or what was wrong.
    pub outcome: Result<(), String>,
}

/// Checks in order; after the first failure the rest are reported as not run.
pub const CHECKS: [&str; 14] = [
    "Probe answers protocol 1 with a name, capabilities and an epoch",
    "an unknown method is an error response with the request's id, and the driver lives on",
    "Health answers ok",
    "Open with a newer epoch succeeds",
    "Open with an older epoch is refused with stale_epoch",
    "prepare votes yes and stages without applying (Rx unchanged)",
    "commit applies the staged placements; a repeated commit is a no-op",
    "abort drops staged placements; a repeated abort is a no-op",
    "commit of a transaction never prepared is an error",
    "a host outside the grant is refused with capability_denied",
    "Tx with an older epoch is refused with stale_epoch",
    "a yes vote survives SIGKILL: commit after restart applies it",
    "SIGKILL during prepare applies nothing; abort after restart cleans up",
    "Close answers and the driver exits (on a socket: hangs up)",
];

/// Runs every check against the driver started by `argv` in `cwd`, in
/// `sandbox` when given (as `rtt apply` would start it). With `socket`, the
/// driver is started to listen there (the caller puts `RTT_DRIVER_SOCKET` in
/// its environment) and every call goes through the socket, as `rtt apply`
/// reaches a socket driver; a restart kills and starts the listener again.
pub fn run(
    argv: &[String],
    cwd: &Path,
    timeout: Duration,
    sandbox: Option<super::client::Sandboxed>,
    socket: Option<&Path>,
) -> Vec<Check> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let prefix = format!("conf{}x{nanos}", std::process::id());
    let spec = ProcessSpec { argv: argv.to_vec(), cwd: cwd.to_owned(), timeout, stderr_log: None, sandbox };
    let (endpoint, server) = match socket {
        Some(path) => {
            let uid = rustix::process::geteuid().as_raw();
            let link = SocketSpec { path: path.to_owned(), uid, timeout };
            (ProcessEndpoint::socket(link), Some(ProcessEndpoint::new(spec)))
        }
        None => (ProcessEndpoint::new(spec), None),
    };
    let mut harness = Harness { endpoint, server, prefix, epoch: 0 };
    if let Some(Err(failure)) = harness.server.as_mut().map(ProcessEndpoint::start) {
        return CHECKS
            .iter()
            .enumerate()
            .map(|(i, name)| Check {
                name,
                outcome: Err(if i == 0 {
                    describe("start", &failure)
                } else {
                    "not run: an earlier check failed".into()
                }),
            })
            .collect();
    }
    let mut checks = Vec::new();
    let mut failed = false;
    for (index, name) in CHECKS.iter().enumerate() {
        let outcome = if failed { Err("not run: an earlier check failed".to_owned()) } else { harness.check(index) };
        failed |= outcome.is_err();
        checks.push(Check { name, outcome });
    }
    harness.endpoint.kill();
    if let Some(server) = &mut harness.server {
        server.kill();
    }
    checks
}

struct Harness {
    /// Where calls go.
    endpoint: ProcessEndpoint,
    /// The listening process of a socket driver.
    server: Option<ProcessEndpoint>,
    prefix: String,
    epoch: u64,
}

impl Harness {
    fn host(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    fn txn(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    fn placements(agent: &str, replicas: u32) -> Vec<Placement> {
        vec![Placement { agent: agent.to_owned(), numa: 0, replicas }]
    }

    fn call<T: DeserializeOwned>(&mut self, method: &str, params: serde_json::Value) -> Result<T, String> {
        let raw = self.endpoint.call_named(method, params).map_err(|f| describe(method, &f))?;
        serde_json::from_value(raw).map_err(|e| format!("{method} result does not match the protocol: {e}"))
    }

    fn refused(&mut self, method: &str, params: serde_json::Value) -> Result<ErrorCode, String> {
        match self.endpoint.call_named(method, params) {
            Err(Failure::Refused { code, .. }) => Ok(code),
            Err(other) => Err(describe(method, &other)),
            Ok(result) => Err(format!("{method} succeeded ({result}) where an error was due")),
        }
    }

    fn expect_code(&mut self, method: &str, params: serde_json::Value, want: ErrorCode) -> Result<(), String> {
        let code = self.refused(method, params)?;
        if code == want { Ok(()) } else { Err(format!("error code {} where {} was due", code.as_str(), want.as_str())) }
    }

    fn open(&mut self, epoch: u64) -> Result<(), String> {
        let hosts = vec![self.host("a"), self.host("b")];
        let _: Empty = self.call(
            "Open",
            json!({"plan": format!("sha256:{}", "0".repeat(64)), "epoch": epoch, "capabilities": [CAP_PLACEMENTS_WRITE], "hosts": hosts}),
        )?;
        Ok(())
    }

    fn prepare(&mut self, epoch: u64, txn: &str, hosts: &HostPlacements) -> Result<Vote, String> {
        self.call("Tx", json!({"phase": "prepare", "epoch": epoch, "txn": txn, "hosts": hosts}))
    }

    fn finish(&mut self, phase: &str, epoch: u64, txn: &str) -> Result<(), String> {
        let _: Empty = self.call("Tx", json!({"phase": phase, "epoch": epoch, "txn": txn}))?;
        Ok(())
    }

    fn rx(&mut self, host: &str) -> Result<Vec<Placement>, String> {
        let result: RxResult = self.call("Rx", json!({"hosts": [host]}))?;
        let mut placements = result.hosts.get(host).cloned().ok_or_else(|| format!("Rx left out host {host}"))?;
        placements.sort();
        Ok(placements)
    }

    fn expect_rx(&mut self, host: &str, want: &[Placement], when: &str) -> Result<(), String> {
        let have = self.rx(host)?;
        if have == want { Ok(()) } else { Err(format!("{when}: Rx shows {have:?}, expected {want:?}")) }
    }

    fn restart(&mut self) -> Result<ProbeResult, String> {
        self.endpoint.kill();
        if let Some(server) = &mut self.server {
            server.kill();
            server.start().map_err(|f| describe("restart", &f))?;
        }
        let probe: ProbeResult = self.call("Probe", json!({}))?;
        if probe.epoch < self.epoch {
            return Err(format!(
                "after a restart Probe reports epoch {} below {} it had seen",
                probe.epoch, self.epoch
            ));
        }
        Ok(probe)
    }

    fn one(&self, host: &str, placements: Vec<Placement>) -> HostPlacements {
        HostPlacements::from([(self.host(host), placements)])
    }

    fn check(&mut self, index: usize) -> Result<(), String> {
        match index {
            0 => {
                let probe: ProbeResult = self.call("Probe", json!({}))?;
                if probe.protocol != PROTOCOL_VERSION {
                    return Err(format!("protocol {}, expected {PROTOCOL_VERSION}", probe.protocol));
                }
                if probe.name.is_empty() {
                    return Err("empty name".into());
                }
                self.epoch = probe.epoch;
                Ok(())
            }
            1 => {
                self.refused("NoSuchMethod", json!({}))?;
                let _: HealthResult = self.call("Health", json!({}))?;
                Ok(())
            }
            2 => {
                let health: HealthResult = self.call("Health", json!({}))?;
                if health.ok { Ok(()) } else { Err("Health says ok: false".into()) }
            }
            3 => {
                self.epoch += 2;
                self.open(self.epoch)
            }
            4 => {
                let hosts = vec![self.host("a")];
                let params = json!({"plan": format!("sha256:{}", "0".repeat(64)), "epoch": self.epoch - 1,
                    "capabilities": [CAP_PLACEMENTS_WRITE], "hosts": hosts});
                self.expect_code("Open", params, ErrorCode::StaleEpoch)?;
                self.open(self.epoch)
            }
            5 => {
                let hosts = self.one("a", Self::placements("conf-x@1", 2));
                let txn = self.txn("t1");
                match self.prepare(self.epoch, &txn, &hosts)? {
                    Vote::Yes => {}
                    Vote::No { reason } => return Err(format!("voted no: {reason}")),
                }
                let host = self.host("a");
                self.expect_rx(&host, &[], "after prepare")
            }
            6 => {
                let txn = self.txn("t1");
                self.finish("commit", self.epoch, &txn)?;
                self.finish("commit", self.epoch, &txn).map_err(|e| format!("repeated commit: {e}"))?;
                let host = self.host("a");
                self.expect_rx(&host, &Self::placements("conf-x@1", 2), "after commit")
            }
            7 => {
                let hosts = self.one("a", Self::placements("conf-y@1", 1));
                let txn = self.txn("t2");
                if self.prepare(self.epoch, &txn, &hosts)? != Vote::Yes {
                    return Err("voted no".into());
                }
                self.finish("abort", self.epoch, &txn)?;
                self.finish("abort", self.epoch, &txn).map_err(|e| format!("repeated abort: {e}"))?;
                let host = self.host("a");
                self.expect_rx(&host, &Self::placements("conf-x@1", 2), "after abort")
            }
            8 => {
                let txn = self.txn("never");
                self.refused("Tx", json!({"phase": "commit", "epoch": self.epoch, "txn": txn})).map(|_| ())
            }
            9 => {
                let hosts = self.one("outside", Self::placements("conf-x@1", 1));
                let txn = self.txn("t3");
                let params = json!({"phase": "prepare", "epoch": self.epoch, "txn": txn, "hosts": hosts});
                self.expect_code("Tx", params, ErrorCode::CapabilityDenied)
            }
            10 => {
                let hosts = self.one("a", Self::placements("conf-x@1", 1));
                let txn = self.txn("t4");
                let params = json!({"phase": "prepare", "epoch": self.epoch - 1, "txn": txn, "hosts": hosts});
                self.expect_code("Tx", params, ErrorCode::StaleEpoch)
            }
            11 => {
                let hosts = self.one("b", Self::placements("conf-z@1", 3));
                let txn = self.txn("t5");
                if self.prepare(self.epoch, &txn, &hosts)? != Vote::Yes {
                    return Err("voted no".into());
                }
                self.restart()?;
                self.epoch += 1;
                self.open(self.epoch)?;
                self.finish("commit", self.epoch, &txn).map_err(|e| format!("commit after restart: {e}"))?;
                let host = self.host("b");
                self.expect_rx(&host, &Self::placements("conf-z@1", 3), "after restart and commit")
            }
            12 => {
                let hosts = self.one("a", Self::placements("conf-w@1", 4));
                let txn = self.txn("t6");
                let params = json!({"phase": "prepare", "epoch": self.epoch, "txn": txn, "hosts": hosts});
                self.endpoint.send_only("Tx", params).map_err(|f| describe("Tx", &f))?;
                self.restart()?;
                self.epoch += 1;
                self.open(self.epoch)?;
                let host = self.host("a");
                self.expect_rx(&host, &Self::placements("conf-x@1", 2), "after a crash during prepare")?;
                self.finish("abort", self.epoch, &txn).map_err(|e| format!("abort after restart: {e}"))?;
                self.expect_rx(&host, &Self::placements("conf-x@1", 2), "after abort")
            }
            13 => {
                let _: Empty = self.call("Close", json!({}))?;
                match self.endpoint.exited_after_close() {
                    Some(true) => Ok(()),
                    _ if self.server.is_some() => {
                        Err("the driver did not close the connection after Close within the timeout".into())
                    }
                    _ => Err("the driver did not exit after Close within the timeout".into()),
                }
            }
            _ => Ok(()),
        }
    }
}

fn describe(method: &str, failure: &Failure) -> String {
    match failure {
        Failure::Refused { code, message } => format!("{method} refused: {} ({message})", code.as_str()),
        Failure::Timeout(t) => format!("{method}: no answer within {} ms", t.as_millis()),
        Failure::Exited(detail) => format!("{method}: the driver {detail}"),
        Failure::Garbage(detail) => format!("{method}: not a protocol-1 response: {detail}"),
        Failure::Oversized => format!("{method}: a line over 1 MiB"),
        Failure::Spawn(detail) => format!("cannot start the driver: {detail}"),
        Failure::Connect(detail) => format!("cannot reach the driver: {detail}"),
    }
}
