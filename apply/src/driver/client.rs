//! A resident driver (no process per call): a process rtt starts and speaks
//! to over stdin/stdout, its stderr appended to a log file; or a process
//! someone else started that listens on a Unix socket, whose user is checked
//! on every connection (SO_PEERCRED) and to which rtt reconnects with backoff.
//! Every call has a deadline; a driver that misses it, floods a line past the
//! cap, writes garbage or dies is killed (its whole process group) or, on a
//! socket, disconnected, and the call fails.
//!
//! Reading and writing happen on two helper threads so that a driver that
//! stops reading cannot block the coordinator past the deadline.

use std::fs::OpenOptions;
use std::io::{BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::driver::framing::{FrameError, encode_line, read_line, write_line};
use crate::driver::protocol::{ErrorCode, Method, Request, Response};
use crate::driver::sandbox::{Mode, Policy};
use crate::driver::{Endpoint, Failure};

/// How to start a driver process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Working directory (the config's directory).
    pub cwd: PathBuf,
    /// Deadline of each call.
    pub timeout: Duration,
    /// Where stderr goes; `None` passes it through.
    pub stderr_log: Option<PathBuf>,
    /// The sandbox to start it in; `None` starts it as it is (tests of the
    /// protocol that need no sandbox).
    pub sandbox: Option<Sandboxed>,
}

/// How to reach a driver that listens on a Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSpec {
    /// The socket (absolute).
    pub path: PathBuf,
    /// The user the listening process must run as.
    pub uid: u32,
    /// Deadline of each call; connecting retries with backoff within it.
    pub timeout: Duration,
}

/// Where a resident driver is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    /// A process rtt starts.
    Spawn(Box<ProcessSpec>),
    /// A process listening on a socket.
    Socket(SocketSpec),
}

impl Link {
    fn timeout(&self) -> Duration {
        match self {
            Link::Spawn(spec) => spec.timeout,
            Link::Socket(spec) => spec.timeout,
        }
    }
}

/// A whole environment, as the driver gets it.
type Environment = Vec<(String, String)>;

/// A driver's sandbox: the policy, and the launcher that enforces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandboxed {
    /// The `rtt-sandbox` binary; `None`: not installed (drivers do not start unless `sandbox: off`).
    pub launcher: Option<PathBuf>,
    /// What the driver may do.
    pub policy: Policy,
}

impl Sandboxed {
    /// The command that starts `argv` in this sandbox, and its environment
    /// (`None`: inherit the coordinator's).
    fn command(&self, argv: &[String]) -> Result<(Vec<String>, Option<Environment>), Failure> {
        match (&self.launcher, self.policy.mode) {
            (_, Mode::Off) => {
                let ours: Vec<(String, String)> =
                    self.policy.env.iter().filter(|(k, _)| k.starts_with("RTT_DRIVER_")).cloned().collect();
                // Off: the coordinator's environment, as before sandboxing, and the root (and socket).
                Ok((
                    argv.to_vec(),
                    Some(std::env::vars().filter(|(k, _)| !k.starts_with("RTT_DRIVER_")).chain(ours).collect()),
                ))
            }
            // No launcher is an installation fault, not a kernel without a layer: fail closed.
            (None, _) => Err(Failure::Spawn(
                "the sandbox launcher `rtt-sandbox` is not beside `rtt`: reinstall rtt, or set `sandbox: off` on the driver to run it unsandboxed".into(),
            )),
            (Some(launcher), _) => {
                let policy = serde_json::to_string(&self.policy).map_err(|e| Failure::Spawn(e.to_string()))?;
                let mut command = vec![launcher.display().to_string(), "--policy".into(), policy, "--".into()];
                command.extend(argv.iter().cloned());
                Ok((command, None))
            }
        }
    }
}

/// A resident driver: a process rtt started, or a connection to one listening on a socket.
pub struct ProcessEndpoint {
    link: Link,
    running: Option<Running>,
    next_id: u64,
    exited_after_close: Option<bool>,
}

struct Running {
    /// The process, when rtt started it.
    child: Option<Child>,
    /// The connection, when the driver listens on a socket.
    stream: Option<UnixStream>,
    requests: Sender<Vec<u8>>,
    lines: Receiver<Result<String, FrameError>>,
}

impl Running {
    fn stop(&mut self) {
        if let Some(child) = &mut self.child {
            kill_group(child);
        }
        if let Some(stream) = &self.stream {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl ProcessEndpoint {
    /// An endpoint that starts `spec` on the first call.
    pub fn new(spec: ProcessSpec) -> Self {
        ProcessEndpoint { link: Link::Spawn(Box::new(spec)), running: None, next_id: 0, exited_after_close: None }
    }

    /// An endpoint that connects to a driver listening on a socket on the first call.
    pub fn socket(spec: SocketSpec) -> Self {
        ProcessEndpoint { link: Link::Socket(spec), running: None, next_id: 0, exited_after_close: None }
    }

    /// The process id, while a process rtt started runs (the conformance harness kills it to test durability).
    pub fn pid(&self) -> Option<u32> {
        self.running.as_ref().and_then(|r| r.child.as_ref()).map(Child::id)
    }

    /// Sends a request without waiting for the answer.
    pub fn send_only(&mut self, method: &str, params: serde_json::Value) -> Result<(), Failure> {
        self.next_id += 1;
        let request = Request { id: self.next_id.to_string(), method: method.to_owned(), params };
        let line = encode_line(&request).map_err(|e| Failure::Garbage(e.to_string()))?;
        let running = self.ensure_running()?;
        running.requests.send(line).map_err(|_| Failure::Exited("stdin closed".into()))
    }

    /// SIGKILL to the driver's process group, then reap it; on a socket, hang up.
    pub fn kill(&mut self) {
        if let Some(mut running) = self.running.take() {
            running.stop();
        }
    }

    /// Starts the driver (or connects) now rather than on the first call.
    pub fn start(&mut self) -> Result<(), Failure> {
        self.ensure_running().map(|_| ())
    }

    fn ensure_running(&mut self) -> Result<&mut Running, Failure> {
        if self.running.is_none() {
            self.running = Some(match &self.link {
                Link::Spawn(spec) => spawn(spec)?,
                Link::Socket(spec) => connect(spec)?,
            });
        }
        self.running.as_mut().ok_or_else(|| Failure::Spawn("driver did not start".into()))
    }
}

/// Connects to a listening driver, retrying with backoff (10 ms doubling to
/// 500 ms) within one call's deadline, and checks who listens.
fn connect(spec: &SocketSpec) -> Result<Running, Failure> {
    let deadline = Instant::now() + spec.timeout;
    let mut pause = Duration::from_millis(10);
    let stream = loop {
        match UnixStream::connect(&spec.path) {
            Ok(stream) => break stream,
            Err(e) if Instant::now() + pause >= deadline => {
                return Err(Failure::Connect(format!("{}: {e}", spec.path.display())));
            }
            Err(_) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(500));
            }
        }
    };
    let peer = rustix::net::sockopt::socket_peercred(&stream)
        .map_err(|e| Failure::Connect(format!("{}: no peer credentials: {e}", spec.path.display())))?;
    if peer.uid.as_raw() != spec.uid {
        let _ = stream.shutdown(Shutdown::Both);
        return Err(Failure::Connect(format!(
            "{}: the listening process runs as uid {}, not the configured uid {}",
            spec.path.display(),
            peer.uid.as_raw(),
            spec.uid
        )));
    }
    let writer = stream.try_clone().map_err(|e| Failure::Connect(e.to_string()))?;
    let reader = stream.try_clone().map_err(|e| Failure::Connect(e.to_string()))?;
    let (requests, lines) = pump(writer, reader);
    Ok(Running { child: None, stream: Some(stream), requests, lines })
}

/// The two helper threads: one writes request lines, one reads response lines.
fn pump(
    mut writer: impl Write + Send + 'static,
    reader: impl Read + Send + 'static,
) -> (Sender<Vec<u8>>, Receiver<Result<String, FrameError>>) {
    let (request_tx, request_rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        for line in request_rx {
            if write_line(&mut writer, &line).is_err() {
                break;
            }
        }
    });
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        loop {
            match read_line(&mut reader) {
                Ok(Some(line)) => {
                    if line_tx.send(Ok(line)).is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = line_tx.send(Err(e));
                    break;
                }
            }
        }
    });
    (request_tx, line_rx)
}

fn spawn(spec: &ProcessSpec) -> Result<Running, Failure> {
    let (argv, env) = match &spec.sandbox {
        Some(sandbox) => sandbox.command(&spec.argv)?,
        None => (spec.argv.clone(), None),
    };
    let (program, args) = argv.split_first().ok_or_else(|| Failure::Spawn("empty command".into()))?;
    let stderr = match &spec.stderr_log {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Failure::Spawn(format!("{}: {e}", dir.display())))?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Failure::Spawn(format!("{}: {e}", path.display())))?;
            Stdio::from(file)
        }
        None => Stdio::inherit(),
    };
    let mut command = Command::new(program);
    if let Some(env) = env {
        command.env_clear().envs(env);
    }
    let mut child = command
        .args(args)
        .current_dir(&spec.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        // Its own process group, so a kill reaches what a script started too.
        .process_group(0)
        .spawn()
        .map_err(|e| Failure::Spawn(format!("{program}: {e}")))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        kill_group(&mut child);
        return Err(Failure::Spawn("no pipes to the driver".into()));
    };
    let (requests, lines) = pump(stdin, stdout);
    Ok(Running { child: Some(child), stream: None, requests, lines })
}

impl ProcessEndpoint {
    /// What a driver that is gone says about itself: its exit status if it
    /// exits soon, else that stdout (or the connection) closed.
    fn exit_detail(&mut self) -> String {
        let Some(mut running) = self.running.take() else { return "not running".into() };
        let Some(child) = &mut running.child else { return "closed the connection".into() };
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return format!("exited with {status}"),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                _ => {
                    kill_group(child);
                    return "closed stdout".into();
                }
            }
        }
    }
}

impl ProcessEndpoint {
    /// One call by method name (the conformance harness also sends names
    /// that are not methods).
    pub fn call_named(&mut self, method: &str, params: serde_json::Value) -> Result<serde_json::Value, Failure> {
        self.send_only(method, params)?;
        let id = self.next_id.to_string();
        let timeout = self.link.timeout();
        let received = match &self.running {
            Some(running) => running.lines.recv_timeout(timeout),
            None => return Err(Failure::Exited("not running".into())),
        };
        let line = match received {
            Ok(Ok(line)) => line,
            Ok(Err(FrameError::Oversized)) => {
                self.kill();
                return Err(Failure::Oversized);
            }
            Ok(Err(e)) => {
                self.kill();
                return Err(Failure::Garbage(e.to_string()));
            }
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                return Err(Failure::Timeout(timeout));
            }
            Err(RecvTimeoutError::Disconnected) => return Err(Failure::Exited(self.exit_detail())),
        };
        let response: Response = match serde_json::from_str(&line) {
            Ok(response) => response,
            Err(e) => {
                self.kill();
                return Err(Failure::Garbage(format!("{e}: {}", excerpt(&line))));
            }
        };
        if response.id != id {
            self.kill();
            return Err(Failure::Garbage(format!("response id {:?} to request {id:?}", response.id)));
        }
        let outcome = match (response.result, response.error) {
            (None, Some(error)) => {
                Err(Failure::Refused { code: ErrorCode::parse(&error.code), message: error.message })
            }
            (Some(result), None) => Ok(result),
            _ => {
                self.kill();
                Err(Failure::Garbage("a response needs exactly one of result and error".into()))
            }
        };
        if method == Method::Close.as_str() && outcome.is_ok() {
            // The driver exits after Close (on a socket: hangs up); give it
            // the deadline, then make sure.
            if let Some(mut running) = self.running.take() {
                let deadline = Instant::now() + timeout;
                let ended = match &mut running.child {
                    Some(child) => loop {
                        if let Ok(Some(_)) = child.try_wait() {
                            break true;
                        }
                        if Instant::now() >= deadline {
                            break false;
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    },
                    None => {
                        matches!(running.lines.recv_timeout(timeout), Err(RecvTimeoutError::Disconnected) | Ok(Err(_)))
                    }
                };
                self.exited_after_close = Some(ended);
                running.stop();
            }
        }
        outcome
    }

    /// After a successful `Close`: whether the driver exited by itself in time.
    pub fn exited_after_close(&self) -> Option<bool> {
        self.exited_after_close
    }
}

impl Endpoint for ProcessEndpoint {
    fn call(&mut self, method: Method, params: serde_json::Value) -> Result<serde_json::Value, Failure> {
        self.call_named(method.as_str(), params)
    }

    fn restart(&mut self) {
        self.kill();
    }
}

impl Drop for ProcessEndpoint {
    fn drop(&mut self) {
        self.kill();
    }
}

fn kill_group(child: &mut Child) {
    if let Some(pid) = i32::try_from(child.id()).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn excerpt(line: &str) -> String {
    let mut end = line.len().min(80);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}{}", &line[..end], if end < line.len() { "…" } else { "" })
}
