//! Resident drivers on a Unix socket (issue 18, the control channel): a
//! config's `socket:` driver is reached, not started; `rtt apply` speaks
//! protocol 1 to it with the same framing and deadlines, reconnects after the
//! driver restarts, and refuses a listener running as another user. The
//! driver is one `rtt driver new --lang python` wrote, listening by its SDK.

mod apply_workspace;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apply_workspace::{Drivers, ok, run, template};

/// A generated Python driver, listening on `socket` with state in `root`.
struct Listener {
    child: Child,
}

impl Listener {
    fn start(driver: &Path, socket: &Path, root: &Path) -> Listener {
        let child = Command::new(support::python())
            .arg(driver)
            .env("RTT_DRIVER_SOCKET", socket)
            .env("RTT_DRIVER_ROOT", root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("the driver starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "the driver never listened on {}", socket.display());
            std::thread::sleep(Duration::from_millis(10));
        }
        Listener { child }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The apply workspace with d1 (hosts h1, h2) a socket driver; and the driver's program.
fn workspace(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let (dir, _) = template(Drivers::BuiltIn, 0);
    let made = support::rtt_in(dir.path(), &["driver", "new", "--lang", "python", "fleet"]);
    assert!(made.status.success(), "{}", support::stderr(&made));
    let config = std::fs::read_to_string(dir.path().join("rtt.yaml")).expect("config");
    let d1 = format!("  d1: {{socket: ./fleet.sock, capabilities: [placements.write], timeout_ms: 5000{extra}}}");
    let config: Vec<String> =
        config.lines().map(|l| if l.starts_with("  d1:") { d1.clone() } else { l.to_owned() }).collect();
    std::fs::write(dir.path().join("rtt.yaml"), config.join("\n") + "\n").expect("config");
    let driver = dir.path().join("fleet/driver");
    (dir, driver)
}

fn placements(root: &Path, host: &str) -> serde_json::Value {
    let bytes = std::fs::read(root.join(host).join("placements.json")).expect("placements written");
    serde_json::from_slice::<serde_json::Value>(&bytes).expect("json")["placements"].clone()
}

#[test]
fn apply_reaches_a_socket_driver_and_reconnects_after_it_restarts() {
    let (dir, driver) = workspace("");
    let root = dir.path();
    let (socket, state) = (root.join("fleet.sock"), root.join("fleet-state"));
    let listener = Listener::start(&driver, &socket, &state);
    ok(root, &["apply", "p1.json"]);
    assert_eq!(placements(&state, "h1"), serde_json::json!([{"agent": "a@1", "numa": 0, "replicas": 1}]));
    // The driver restarts (a new process on the same socket and state): the next apply reconnects.
    drop(listener);
    let _listener = Listener::start(&driver, &socket, &state);
    ok(root, &["apply", "p2.json"]);
    assert_eq!(placements(&state, "h2"), serde_json::json!([{"agent": "b@1", "numa": 0, "replicas": 2}]));
    let status = ok(root, &["status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["applied"]["serial"], 2, "{status}");
    ok(root, &["wal", "verify"]);
}

#[test]
fn apply_refuses_a_listener_of_another_user_and_touches_nothing() {
    // Files this process creates are owned by the user it runs as.
    let me = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(support::project().path()).expect("stat"));
    let uid = me + 4242;
    let (dir, driver) = workspace(&format!(", uid: {uid}"));
    let root = dir.path();
    let state = root.join("fleet-state");
    let _listener = Listener::start(&driver, &root.join("fleet.sock"), &state);
    let before = support::snapshot(root);
    let output = run(root, &["apply", "p1.json"], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", support::stderr(&output));
    let stderr = support::stderr(&output);
    assert!(stderr.contains("nothing was changed") && stderr.contains("cannot reach driver `d1`"), "{stderr}");
    assert!(stderr.contains("the listening process runs as uid") && stderr.contains(&format!("uid {uid}")), "{stderr}");
    assert!(!state.join("h1").exists(), "the driver was never asked to stage");
    // Nothing was applied: no applied plan, and the log shows an aborted transaction at most.
    let after = support::snapshot(root);
    assert!(!after.keys().any(|p| p.ends_with("state/applied.json")), "nothing applied");
    assert!(before.keys().all(|p| after.contains_key(p)));
    ok(root, &["wal", "verify"]);
}

#[test]
fn apply_says_so_when_no_driver_listens() {
    let (dir, _) = workspace("");
    let config = std::fs::read_to_string(dir.path().join("rtt.yaml")).expect("config");
    std::fs::write(dir.path().join("rtt.yaml"), config.replace("timeout_ms: 5000", "timeout_ms: 300")).expect("config");
    let output = run(dir.path(), &["apply", "p1.json"], &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = support::stderr(&output);
    assert!(stderr.contains("cannot reach driver `d1`") && stderr.contains("fleet.sock"), "{stderr}");
}

#[test]
fn a_socket_driver_takes_no_settings_of_a_started_one() {
    let (dir, _) = workspace(", sandbox: off, root: ./x, env: {A: b}, capabilities: [placements.write, exec]");
    let config = std::fs::read_to_string(dir.path().join("rtt.yaml")).expect("config");
    // The workspace line now sets capabilities twice; keep the second.
    let config = config.replace("capabilities: [placements.write], timeout_ms: 5000, ", "timeout_ms: 5000, ");
    std::fs::write(dir.path().join("rtt.yaml"), config).expect("config");
    let output = support::rtt_in(dir.path(), &["validate", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let messages: Vec<&str> =
        report["errors"].as_array().expect("errors").iter().filter_map(|e| e["message"].as_str()).collect();
    for needle in ["takes no `root`", "takes no `env`", "takes no `sandbox`", "`exec` is a sandbox grant"] {
        assert!(messages.iter().any(|m| m.contains(needle)), "{needle}: {messages:?}");
    }
    let both = support::rtt_in(dir.path(), &["validate"]);
    assert_eq!(both.status.code(), Some(1));
}

#[test]
fn generated_drivers_whose_sdk_listens_pass_the_harness_on_a_socket() {
    let work = tempfile::tempdir().expect("tempdir");
    for lang in ["python", "rust", "go", "node"] {
        let made = support::rtt_in(work.path(), &["driver", "new", "--lang", lang, lang]);
        assert!(made.status.success(), "{}", support::stderr(&made));
        let dir = work.path().join(lang);
        if dir.join("build").exists() {
            let built = Command::new(dir.join("build")).output().expect("build runs");
            assert!(built.status.success(), "{}", support::stderr(&built));
        }
        let tested = support::rtt_in(&dir, &["driver", "test", "--socket", "root", "--", "./driver"]);
        let out = support::stdout(&tested);
        assert!(tested.status.success(), "{lang} on a socket:\n{out}{}", support::stderr(&tested));
        assert!(out.contains("14 checks passed"), "{out}");
    }
}
