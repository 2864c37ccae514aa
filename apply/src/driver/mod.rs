//! A driver as the coordinator sees it: typed calls over an [`Endpoint`] (a
//! child process, or the built-in `dir` driver in this process), every
//! answer checked, every failure a [`DriverError`] naming the driver; and,
//! below it, everything protocol 1 is made of.

pub mod client;
pub mod conformance;
pub mod dir;
pub mod sandbox;

// Protocol 1 itself (envelopes, framing, the serve loop) is the driver SDK's,
// so the coordinator and every Rust driver speak it through one definition.
pub use rtt_driver::{framing, protocol, serve};

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::driver::protocol::{
    Empty, ErrorCode, HealthResult, HostPlacements, Method, OpenParams, PROTOCOL_VERSION, ProbeResult, RxParams,
    RxResult, TxParams, Vote,
};
use crate::driver::serve::{Handler, respond};
use crate::flight::{EXCERPT, Recorder, What, excerpt};

/// Carries requests to a driver and brings back raw results.
pub trait Endpoint {
    /// One call: the result object, or why there is none.
    fn call(&mut self, method: Method, params: serde_json::Value) -> Result<serde_json::Value, Failure>;
    /// Stops the driver (if it runs) so that the next call starts it afresh.
    fn restart(&mut self);
}

/// Why a call brought no result, before the driver's name is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The driver answered with an error.
    Refused {
        /// Its code.
        code: ErrorCode,
        /// Its message.
        message: String,
    },
    /// No answer within the timeout (the driver was killed).
    Timeout(Duration),
    /// The driver exited or closed stdout.
    Exited(String),
    /// A line that is not a response to this request.
    Garbage(String),
    /// A line over the 1 MiB cap (the driver was killed).
    Oversized,
    /// The driver could not be started.
    Spawn(String),
    /// No connection to a socket driver (none listening, or the wrong user).
    Connect(String),
}

/// A driver call that failed; every variant names the driver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum DriverError {
    /// The driver refused.
    #[error("driver `{driver}` refused {method}: {} ({message})", code.as_str())]
    #[diagnostic(code(rtt::apply::driver_refused))]
    Refused {
        /// Driver name.
        driver: String,
        /// Method called.
        method: Method,
        /// Error code.
        code: ErrorCode,
        /// Driver's message.
        message: String,
    },
    /// No answer in time.
    #[error("driver `{driver}` did not answer {method} within {} ms; it was killed", timeout.as_millis())]
    #[diagnostic(
        code(rtt::apply::driver_timeout),
        help("raise `timeout_ms` in the driver's config if it is slow, not stuck")
    )]
    Timeout {
        /// Driver name.
        driver: String,
        /// Method called.
        method: Method,
        /// The timeout.
        timeout: Duration,
    },
    /// The process ended.
    #[error("driver `{driver}` exited during {method}: {detail}")]
    #[diagnostic(code(rtt::apply::driver_exited), help("the driver's stderr is in .rtt/logs/<driver>.log"))]
    Exited {
        /// Driver name.
        driver: String,
        /// Method called.
        method: Method,
        /// Exit status or how stdout ended.
        detail: String,
    },
    /// Not a protocol-1 answer.
    #[error("driver `{driver}` answered {method} with garbage: {detail}")]
    #[diagnostic(code(rtt::apply::driver_garbage), help("stdout carries protocol lines only; logs go to stderr"))]
    Garbage {
        /// Driver name.
        driver: String,
        /// Method called.
        method: Method,
        /// What was wrong.
        detail: String,
    },
    /// A line over the cap.
    #[error("driver `{driver}` sent a line over 1 MiB during {method}; it was killed")]
    #[diagnostic(code(rtt::apply::driver_oversized))]
    Oversized {
        /// Driver name.
        driver: String,
        /// Method called.
        method: Method,
    },
    /// Could not start.
    #[error("failed to start driver `{driver}`: {detail}")]
    #[diagnostic(code(rtt::apply::driver_spawn), help("check the driver's `command` in the config"))]
    Spawn {
        /// Driver name.
        driver: String,
        /// The OS error.
        detail: String,
    },
    /// No connection to a driver that listens on a socket.
    #[error("cannot reach driver `{driver}`: {detail}")]
    #[diagnostic(
        code(rtt::apply::driver_connect),
        help(
            "start the driver so that it listens on its `socket`, as the user its `uid` names (default: the user rtt runs as)"
        )
    )]
    Connect {
        /// Driver name.
        driver: String,
        /// Why.
        detail: String,
    },
    /// The driver wants or did more than it was granted.
    #[error("driver `{driver}` acted beyond its grant: {detail}")]
    #[diagnostic(
        code(rtt::apply::capability_breach),
        help("grant capabilities in the driver's config, or fix the driver")
    )]
    CapabilityBreach {
        /// Driver name.
        driver: String,
        /// What it did.
        detail: String,
    },
}

impl DriverError {
    /// Whether the driver refused with this code.
    pub fn is_code(&self, wanted: &ErrorCode) -> bool {
        matches!(self, DriverError::Refused { code, .. } if code == wanted)
    }
}

/// How long one call took, for the telemetry log.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// Phase name: probe, open, prepare, commit, abort, rx, health, close.
    pub phase: &'static str,
    /// Wall time.
    pub elapsed: Duration,
    /// Whether it succeeded.
    pub ok: bool,
}

/// A driver with typed calls.
pub struct Driver {
    name: String,
    endpoint: Box<dyn Endpoint>,
    timings: Vec<Timing>,
    recorder: Recorder,
}

impl Driver {
    /// A driver named `name` behind `endpoint`.
    pub fn new(name: impl Into<String>, endpoint: Box<dyn Endpoint>) -> Driver {
        Driver { name: name.into(), endpoint, timings: Vec::new(), recorder: Recorder::disabled() }
    }

    /// The same driver, its calls recorded by `recorder` (the flight recorder).
    pub fn recorded(mut self, recorder: Recorder) -> Driver {
        self.recorder = recorder;
        self
    }

    /// The driver's config name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Timings of the calls so far, drained.
    pub fn take_timings(&mut self) -> Vec<Timing> {
        std::mem::take(&mut self.timings)
    }

    /// Stops the driver; the next call starts it again (its durable state survives).
    pub fn restart(&mut self) {
        self.endpoint.restart();
    }

    /// `Probe`: checks the protocol version.
    pub fn probe(&mut self) -> Result<ProbeResult, DriverError> {
        let probe: ProbeResult = self.call("probe", Method::Probe, serde_json::json!({}))?;
        if probe.protocol != PROTOCOL_VERSION {
            return Err(self.garbage(Method::Probe, format!("protocol {} (rtt speaks 1)", probe.protocol)));
        }
        Ok(probe)
    }

    /// `Open`.
    pub fn open(&mut self, params: &OpenParams) -> Result<(), DriverError> {
        let _: Empty = self.call("open", Method::Open, to_value(params))?;
        Ok(())
    }

    /// `Tx` prepare: the driver's vote.
    pub fn prepare(&mut self, epoch: u64, txn: &str, hosts: &HostPlacements) -> Result<Vote, DriverError> {
        let params = TxParams::Prepare { epoch, txn: txn.to_owned(), hosts: hosts.clone() };
        self.call("prepare", Method::Tx, to_value(&params))
    }

    /// `Tx` commit.
    pub fn commit(&mut self, epoch: u64, txn: &str) -> Result<(), DriverError> {
        let params = TxParams::Commit { epoch, txn: txn.to_owned() };
        let _: Empty = self.call("commit", Method::Tx, to_value(&params))?;
        Ok(())
    }

    /// `Tx` abort.
    pub fn abort(&mut self, epoch: u64, txn: &str) -> Result<(), DriverError> {
        let params = TxParams::Abort { epoch, txn: txn.to_owned() };
        let _: Empty = self.call("abort", Method::Tx, to_value(&params))?;
        Ok(())
    }

    /// `Rx`: the placements in force. Hosts that were not asked for are a breach.
    pub fn rx(&mut self, hosts: &[String]) -> Result<HostPlacements, DriverError> {
        let params = RxParams { hosts: hosts.to_vec() };
        let result: RxResult = self.call("rx", Method::Rx, to_value(&params))?;
        if let Some(extra) = result.hosts.keys().find(|h| !hosts.contains(h)) {
            return Err(DriverError::CapabilityBreach {
                driver: self.name.clone(),
                detail: format!("Rx reported host `{extra}`, which was not asked for"),
            });
        }
        Ok(result.hosts)
    }

    /// `Health`, with whatever telemetry the driver reports.
    pub fn health(&mut self) -> Result<HealthResult, DriverError> {
        self.call("health", Method::Health, serde_json::json!({}))
    }

    /// `Close`: the driver exits.
    pub fn close(&mut self) -> Result<(), DriverError> {
        let _: Empty = self.call("close", Method::Close, serde_json::json!({}))?;
        Ok(())
    }

    fn call<T: DeserializeOwned>(
        &mut self,
        phase: &'static str,
        method: Method,
        params: serde_json::Value,
    ) -> Result<T, DriverError> {
        let request = self.recorder.enabled().then(|| excerpt(&params.to_string(), EXCERPT));
        let started = Instant::now();
        let raw = self.endpoint.call(method, params).map_err(|failure| self.named(method, failure));
        let elapsed = started.elapsed();
        let response = request.as_ref().map(|_| match &raw {
            Ok(value) => excerpt(&value.to_string(), EXCERPT),
            Err(e) => excerpt(&e.to_string(), EXCERPT),
        });
        let outcome = raw.and_then(|raw| {
            serde_json::from_value::<T>(raw)
                .map_err(|e| self.garbage(method, format!("result does not match {method}: {e}")))
        });
        self.timings.push(Timing { phase, elapsed, ok: outcome.is_ok() });
        if let (Some(request), Some(response)) = (request, response) {
            self.recorder.record(What::Call {
                driver: self.name.clone(),
                phase: phase.to_owned(),
                micros: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                ok: outcome.is_ok(),
                request,
                response,
            });
        }
        outcome
    }

    fn garbage(&self, method: Method, detail: String) -> DriverError {
        DriverError::Garbage { driver: self.name.clone(), method, detail }
    }

    fn named(&self, method: Method, failure: Failure) -> DriverError {
        let driver = self.name.clone();
        match failure {
            Failure::Refused { code, message } => DriverError::Refused { driver, method, code, message },
            Failure::Timeout(timeout) => DriverError::Timeout { driver, method, timeout },
            Failure::Exited(detail) => DriverError::Exited { driver, method, detail },
            Failure::Garbage(detail) => DriverError::Garbage { driver, method, detail },
            Failure::Oversized => DriverError::Oversized { driver, method },
            Failure::Spawn(detail) => DriverError::Spawn { driver, detail },
            Failure::Connect(detail) => DriverError::Connect { driver, detail },
        }
    }
}

/// Protocol params are plain structs; serialising them cannot fail.
fn to_value<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// A driver in this process: requests go through the same [`respond`] as a
/// served driver's, so the built-in driver behaves the same in or out of process.
pub struct InProcess<H: Handler> {
    make: Box<dyn Fn() -> Result<H, String>>,
    handler: Option<H>,
}

impl<H: Handler> InProcess<H> {
    /// An endpoint that builds its handler with `make` (again after a restart).
    pub fn new(make: impl Fn() -> Result<H, String> + 'static) -> Self {
        InProcess { make: Box::new(make), handler: None }
    }
}

impl<H: Handler> Endpoint for InProcess<H> {
    fn call(&mut self, method: Method, params: serde_json::Value) -> Result<serde_json::Value, Failure> {
        let handler = match &mut self.handler {
            Some(handler) => handler,
            None => self.handler.insert((self.make)().map_err(Failure::Spawn)?),
        };
        let line = serde_json::json!({"id": "0", "method": method.as_str(), "params": params}).to_string();
        let (response, done) = respond(handler, &line);
        if done {
            self.handler = None;
        }
        match (response.result, response.error) {
            (_, Some(error)) => Err(Failure::Refused { code: ErrorCode::parse(&error.code), message: error.message }),
            (Some(result), None) => Ok(result),
            (None, None) => Err(Failure::Garbage("response with neither result nor error".into())),
        }
    }

    fn restart(&mut self) {
        self.handler = None;
    }
}
