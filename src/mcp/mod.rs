//! `rtt mcp`: the Model Context Protocol over stdio (JSON-RPC 2.0, one
//! message per line). Resources are the provider views of a verified plan,
//! exactly the bytes `rtt mount` serves (the same [`verified_views`] gate, every
//! read re-hashed by the registry); following the applied plan, a switch
//! notifies clients. Tools run rtt's read-only commands as child processes of
//! this binary, so they behave exactly as on the command line. The protocol
//! itself is [`protocol`], pure.

pub mod protocol;

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rtt_registry::Registry;
use serde_json::{Map, Value};

use crate::cli::McpArgs;
use crate::exit::Failure;
use crate::views::{MountFailed, applied_plan_hash, verified_views};
use protocol::{Catalog, Host, Resource, Server, ToolOutput};

/// How often a server following the applied plan looks for a new one.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// The longest request line read (the views are read, not sent, so requests are small).
const MAX_LINE: u64 = 4 << 20;

pub fn run(args: &McpArgs, dir: Option<&std::path::Path>) -> Result<ExitCode, Failure> {
    let checks = &args.checks;
    // A pinned plan must verify before anything is served; a followed one may
    // come later (nothing is listed until one verifies).
    let catalog = match (&args.plan, applied_plan_hash(&checks.state)?) {
        (Some(plan), _) => {
            let (_, hash, views) = verified_views(Some(plan), checks, args.provider.as_deref())?;
            Catalog::of(hash, &views)
        }
        (None, None) => Catalog::default(),
        (None, Some(_)) => match verified_views(None, checks, args.provider.as_deref()) {
            Ok((_, hash, views)) => Catalog::of(hash, &views),
            Err(failure) => {
                eprintln!("rtt mcp: serving nothing until a plan verifies: {}", failure.report);
                Catalog::default()
            }
        },
    };
    let mut server = Server::new(catalog);
    let mut host = Local {
        registry: Registry::open(checks.layout.registry().root()),
        exe: std::env::current_exe().map_err(|e| MountFailed { reason: e.to_string() })?,
        dir: dir.map(PathBuf::from),
    };
    let (lines, incoming) = mpsc::channel::<std::io::Result<String>>();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = String::new();
            let read = (&mut stdin).take(MAX_LINE).read_line(&mut line);
            let done = matches!(read, Ok(0) | Err(_));
            if lines.send(read.map(|_| line)).is_err() || done {
                return;
            }
        }
    });
    let mut stdout = std::io::stdout().lock();
    let mut send = |message: &Value| -> Result<(), Failure> {
        let mut bytes = serde_json::to_vec(message).map_err(|e| MountFailed { reason: e.to_string() })?;
        bytes.push(b'\n');
        stdout.write_all(&bytes).and_then(|()| stdout.flush()).map_err(|e| MountFailed { reason: e.to_string() }.into())
    };
    loop {
        match incoming.recv_timeout(FOLLOW_EVERY) {
            Ok(Ok(line)) if line.is_empty() => return Ok(ExitCode::SUCCESS),
            Ok(Ok(line)) => {
                if !line.ends_with('\n') && line.len() as u64 >= MAX_LINE {
                    return Err(
                        MountFailed { reason: format!("a request line is longer than {MAX_LINE} bytes") }.into()
                    );
                }
                if line.trim().is_empty() {
                    continue;
                }
                if let Some(response) = server.handle_line(line.trim_end(), &mut host) {
                    send(&response)?;
                }
            }
            Ok(Err(e)) => return Err(MountFailed { reason: format!("reading stdin: {e}") }.into()),
            Err(RecvTimeoutError::Disconnected) => return Ok(ExitCode::SUCCESS),
            Err(RecvTimeoutError::Timeout) => {}
        }
        if args.plan.is_none() {
            for note in follow(&mut server, args)? {
                send(&note)?;
            }
        }
    }
}

/// Switches to the applied plan when it changed and verifies; a plan that
/// does not verify is not served (the previous one stays).
fn follow(server: &mut Server, args: &McpArgs) -> Result<Vec<Value>, Failure> {
    let applied = match applied_plan_hash(&args.checks.state) {
        Ok(applied) => applied,
        Err(failure) => {
            eprintln!("rtt mcp: cannot read the applied state: {}", failure.report);
            return Ok(Vec::new());
        }
    };
    let Some(hash) = applied.filter(|hash| server.catalog().plan != Some(*hash)) else { return Ok(Vec::new()) };
    match verified_views(None, &args.checks, args.provider.as_deref()) {
        Ok((path, next, views)) => {
            eprintln!("rtt mcp: switched to plan {next} from {}", path.display());
            Ok(server.switch(Catalog::of(next, &views)))
        }
        Err(failure) => {
            eprintln!("rtt mcp: not switching to plan {hash}: {}", failure.report);
            Ok(Vec::new())
        }
    }
}

/// Bytes from the registry; tools as child processes of this binary.
struct Local {
    registry: Registry,
    exe: PathBuf,
    dir: Option<PathBuf>,
}

impl Host for Local {
    fn read(&mut self, resource: &Resource) -> Result<Vec<u8>, String> {
        self.registry.get(&resource.result).map(|bytes| bytes.to_vec()).map_err(|e| e.to_string())
    }

    fn call(&mut self, tool: &str, arguments: &Map<String, Value>) -> ToolOutput {
        let text = |key: &str| arguments.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let mut argv: Vec<String> = Vec::new();
        if let Some(dir) = &self.dir {
            argv.extend(["--dir".to_owned(), dir.display().to_string()]);
        }
        match tool {
            "plan" => {
                argv.extend(["plan".into(), text("config"), "-o".into(), "-".into()]);
                if arguments.contains_key("previous") {
                    argv.extend(["--previous".into(), text("previous")]);
                }
                if arguments.contains_key("time_limit") {
                    argv.extend(["--time-limit".into(), text("time_limit")]);
                }
            }
            "explain" => {
                argv.extend(["explain".into(), text("plan"), "--config".into(), text("config")]);
                argv.extend(["--format".into(), "json".into()]);
                for change in arguments.get("what_if").and_then(Value::as_array).into_iter().flatten() {
                    argv.extend(["--what-if".into(), change.as_str().unwrap_or_default().to_owned()]);
                }
            }
            "diff" => argv.extend(["diff".into(), text("old"), text("new"), "--format".into(), "json".into()]),
            _ => argv.extend(["verify".into(), text("plan"), "--format".into(), "json".into()]),
        }
        let output = Command::new(&self.exe)
            .args(&argv)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output();
        match output {
            Ok(output) => {
                let stdout = String::from_utf8_lossy(&output.stdout);
                let stderr = String::from_utf8_lossy(&output.stderr);
                let text = match (stdout.trim().is_empty(), stderr.trim().is_empty()) {
                    (false, true) => stdout.into_owned(),
                    (true, _) => stderr.into_owned(),
                    (false, false) => format!("{stdout}\n{stderr}"),
                };
                ToolOutput { text, failed: !output.status.success() }
            }
            Err(e) => ToolOutput { text: format!("cannot run rtt {tool}: {e}"), failed: true },
        }
    }
}
