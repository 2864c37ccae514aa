//! `rtt chaos proxy`: stands between the coordinator and a real driver
//! (any language; it is started as the proxy's child) and forwards protocol
//! lines both ways, misbehaving once at one point: the first request at that
//! point is forwarded and answered by the driver (so the driver did the work:
//! a prepare is staged, a commit applied), and then the answer is lost, late
//! or spoiled. One-shot across processes: the fault fires only if the proxy
//! can create its marker file, so the driver restarted by recovery behaves.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use serde_json::Value;

/// What goes wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The proxy (the driver, as the coordinator sees it) exits without answering.
    Crash,
    /// It never answers (the coordinator's deadline kills it).
    Hang,
    /// It answers `delay` late.
    Slow(Duration),
    /// It answers with a line that is not JSON.
    Garbage,
    /// Its `Health` answers report these routes at these latencies, µs.
    Breach(Vec<(String, String, u64)>),
}

/// One proxied driver's misbehaviour.
#[derive(Debug, Clone)]
pub struct Proxy {
    /// The fault.
    pub fault: Fault,
    /// The point: a method (`Probe`, `Open`, `Rx`, `Health`, `Close`) or a
    /// `Tx` phase (`prepare`, `commit`, `abort`).
    pub point: String,
    /// Exists once the fault has fired.
    pub marker: PathBuf,
    /// The driver's command.
    pub command: Vec<String>,
}

fn point_of(request: &Value) -> String {
    let method = request["method"].as_str().unwrap_or("");
    if method == "Tx" { request["params"]["phase"].as_str().unwrap_or("Tx").to_owned() } else { method.to_owned() }
}

/// Runs the proxy until the coordinator closes its input or the fault ends it.
pub fn run(proxy: &Proxy) -> ExitCode {
    let Some((program, args)) = proxy.command.split_first() else {
        eprintln!("rtt chaos proxy: no driver command after --");
        return ExitCode::from(2);
    };
    let mut child = match Command::new(program).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("rtt chaos proxy: cannot start {program}: {e}");
            return ExitCode::from(2);
        }
    };
    let (Some(mut to_driver), Some(from_driver)) = (child.stdin.take(), child.stdout.take()) else {
        return ExitCode::from(2);
    };
    let mut from_driver = BufReader::new(from_driver);
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let request: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if to_driver.write_all(format!("{line}\n").as_bytes()).and_then(|()| to_driver.flush()).is_err() {
            break;
        }
        let mut answer = String::new();
        if from_driver.read_line(&mut answer).unwrap_or(0) == 0 {
            break;
        }
        let fires = point_of(&request) == proxy.point
            && std::fs::OpenOptions::new().write(true).create_new(true).open(&proxy.marker).is_ok();
        if fires {
            eprintln!("rtt chaos proxy: {:?} at {}", proxy.fault, proxy.point);
            match &proxy.fault {
                Fault::Crash => {
                    let _ = child.kill();
                    std::process::exit(137);
                }
                Fault::Hang => loop {
                    std::thread::sleep(Duration::from_secs(3600));
                },
                Fault::Slow(delay) => std::thread::sleep(*delay),
                Fault::Garbage => answer = "}{ this is not json\n".to_owned(),
                Fault::Breach(_) => {}
            }
        }
        // A breach is not one-shot: the telemetry keeps saying so.
        if let (Fault::Breach(routes), "Health") = (&proxy.fault, point_of(&request).as_str()) {
            answer = with_routes(&answer, routes);
        }
        if stdout.write_all(answer.as_bytes()).and_then(|()| stdout.flush()).is_err() {
            break;
        }
        if request["method"] == "Close" {
            break;
        }
    }
    drop(to_driver);
    let _ = child.wait();
    ExitCode::SUCCESS
}

/// A `Health` answer with `routes` reporting 100 samples at each latency.
fn with_routes(answer: &str, routes: &[(String, String, u64)]) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(answer) else { return answer.to_owned() };
    if let Some(result) = value.get_mut("result").and_then(Value::as_object_mut) {
        let reported: Vec<Value> = routes
            .iter()
            .map(|(from, to, us)| serde_json::json!({"from": from, "to": to, "buckets": [{"le_us": us, "count": 100}]}))
            .collect();
        result.insert("routes".into(), reported.into());
    }
    format!("{value}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_methods_or_tx_phases() {
        assert_eq!(point_of(&serde_json::json!({"method": "Tx", "params": {"phase": "prepare"}})), "prepare");
        assert_eq!(point_of(&serde_json::json!({"method": "Rx", "params": {}})), "Rx");
    }

    #[test]
    fn a_breach_adds_routes_to_health() {
        let answer = with_routes(
            "{\"id\":\"3\",\"result\":{\"ok\":true},\"error\":null}\n",
            &[("a".into(), "b".into(), 90_000)],
        );
        let value: Value = serde_json::from_str(&answer).expect("json");
        assert_eq!(value["result"]["routes"][0]["buckets"][0]["le_us"], 90_000);
        assert_eq!(value["id"], "3");
    }
}
