//! The driver sandbox (issue 22), through the binary: a hostile driver
//! tries each attack through `rtt apply` and `rtt driver test`; each is
//! contained — the command fails with a typed error, the driver never
//! marks a breach, and nothing outside its root changes (the signing key,
//! the trust store, the WAL, the config's directory).

mod apply_workspace;
mod support;

use std::path::{Path, PathBuf};

use apply_workspace::{Drivers, template};

fn hostile() -> String {
    support::repo().join("apply/tests/drivers/hostile").display().to_string()
}

/// The example driver the hostile one serves with, readable by grant.
fn example_grant() -> String {
    format!("fs.read:{}", support::repo().join("examples/drivers/python").display())
}

/// The apply workspace with driver d1 (hosts h1, h2) replaced by the
/// hostile driver running the attack `attack` names for the workspace.
fn workspace(attack: impl Fn(&Path) -> Vec<String>) -> tempfile::TempDir {
    let (dir, _) = template(Drivers::BuiltIn, 0);
    let config = std::fs::read_to_string(dir.path().join("rtt.yaml")).expect("config");
    let mut command = vec![support::python(), hostile()];
    command.extend(attack(dir.path()));
    let quoted: Vec<String> = command.iter().map(|c| format!("\"{c}\"")).collect();
    let d1 = format!(
        "  d1: {{command: [{}], root: ./hostile-root, capabilities: [placements.write, \"{}\"], timeout_ms: 5000}}",
        quoted.join(", "),
        example_grant()
    );
    let config: Vec<String> =
        config.lines().map(|l| if l.starts_with("  d1:") { d1.clone() } else { l.to_owned() }).collect();
    std::fs::write(dir.path().join("rtt.yaml"), config.join("\n") + "\n").expect("config");
    dir
}

/// Everything outside the driver's root that an attack could touch.
fn protected(root: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut files = vec![root.join("k.key"), root.join("k.pub"), root.join("rtt.yaml"), root.join("outside")];
    let trust = root.join(".rtt/registry/trust");
    files.extend([trust.join("keys/k.pub"), trust.join("policy.json")]);
    files.into_iter().map(|f| (f.clone(), std::fs::read(&f).ok())).collect()
}

fn assert_contained(root: &Path, attack: &str, out: &std::process::Output, before: &[(PathBuf, Option<Vec<u8>>)]) {
    let text = format!("{}{}", support::stdout(out), support::stderr(out));
    assert!(!out.status.success(), "{attack}: the command went ahead:\n{text}");
    assert!(!text.contains("panicked"), "{attack}: {text}");
    let breached = [root.join("hostile-root/BREACHED"), root.join("scratch-root/BREACHED")];
    assert!(breached.iter().all(|b| !b.exists()), "{attack}: the attack worked:\n{text}");
    assert_eq!(protected(root), before, "{attack}: a file outside the driver's root changed");
}

/// Every attack that needs no listener, with what it is aimed at.
fn attacks(root: &Path) -> Vec<Vec<String>> {
    let at = |p: &str| root.join(p).display().to_string();
    vec![
        vec!["read".into(), at("k.key")],
        vec!["read".into(), at(".rtt/registry/trust/keys/k.pub")],
        vec!["write".into(), at(".rtt/wal/wal.jsonl")],
        vec!["write".into(), at("outside")],
        vec!["fork".into()],
        vec!["memory".into()],
        vec!["stdout".into()],
        vec!["ptrace".into()],
        vec!["remount".into()],
    ]
}

#[test]
fn a_connection_through_rtt_apply_needs_a_net_grant() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port().to_string();
    let dir = workspace(|_| vec!["connect".into(), port.clone()]);
    let root = dir.path();
    let before = protected(root);
    let out = apply_workspace::run(root, &["apply", "p1.json"], &[]);
    assert_contained(root, "connect", &out, &before);
    let log = std::fs::read_to_string(root.join(".rtt/logs/d1.log")).unwrap_or_default();
    assert!(log.contains("hostile: connect contained"), "{log}");
}

#[test]
fn every_attack_through_rtt_apply_is_contained_and_changes_nothing_outside_the_root() {
    for index in 0..attacks(Path::new("/")).len() {
        let dir = workspace(|root| attacks(root)[index].clone());
        let root = dir.path();
        let attack = attacks(root)[index][0].clone();
        let before = protected(root);
        let out = apply_workspace::run(root, &["apply", "p1.json"], &[]);
        assert_contained(root, &attack, &out, &before);
        let text = support::stderr(&out);
        assert!(text.contains("d1"), "{attack}: the error names the driver: {text}");
        // The driver itself saw the attack fail (the framing cap, not the
        // driver, ends the flood of stdout).
        let log = std::fs::read_to_string(root.join(".rtt/logs/d1.log")).unwrap_or_default();
        if attack == "stdout" {
            assert!(text.contains("1 MiB"), "{attack}: the framing cap: {text}");
        } else {
            assert!(log.contains(&format!("hostile: {attack} contained")), "{attack}: {log}");
        }
        eprintln!(
            "{attack}: {}",
            log.lines().find(|l| l.contains("contained")).unwrap_or("cut off by the framing cap")
        );
        let wal = apply_workspace::run(root, &["wal", "verify"], &[]);
        assert!(wal.status.success(), "{attack}: the WAL is intact: {}", support::stderr(&wal));
    }
}

#[test]
fn every_attack_through_rtt_driver_test_is_contained() {
    let dir = workspace(|_| vec!["unused".into()]);
    let root = dir.path();
    for aimed in attacks(root) {
        let before = protected(root);
        let scratch = root.join("scratch-root").display().to_string();
        let grant = example_grant();
        let python = support::python();
        let hostile = hostile();
        let mut args = vec![
            "driver",
            "test",
            "--timeout-ms",
            "3000",
            "--root",
            &scratch,
            "--grant",
            &grant,
            "--",
            &python,
            &hostile,
        ];
        args.extend(aimed.iter().map(String::as_str));
        let out = apply_workspace::run(root, &args, &[]);
        assert_contained(root, &aimed[0], &out, &before);
        assert!(support::stdout(&out).contains("FAIL"), "{}: a failed check", aimed[0]);
    }
}

#[test]
fn a_connection_needs_a_net_grant() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port().to_string();
    let dir = workspace(|_| vec!["unused".into()]);
    let root = dir.path();
    let scratch = root.join("scratch-root").display().to_string();
    let (grant, python, hostile) = (example_grant(), support::python(), hostile());
    let base = ["driver", "test", "--timeout-ms", "3000", "--root", &scratch, "--grant", &grant];
    let before = protected(root);
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["--", &python, &hostile, "connect", &port]);
    let out = apply_workspace::run(root, &args, &[]);
    assert_contained(root, "connect", &out, &before);
    // With the port granted the same driver connects (and says so).
    let allowed = format!("net:127.0.0.1:{port}");
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["--grant", &allowed, "--", &python, &hostile, "connect", &port]);
    let out = apply_workspace::run(root, &args, &[]);
    assert!(out.status.success(), "granted: {}{}", support::stdout(&out), support::stderr(&out));
    assert!(root.join("scratch-root/BREACHED").exists(), "the granted connection was made");
}

#[test]
fn the_probe_reports_every_layer() {
    let launcher = std::path::Path::new(env!("CARGO_BIN_EXE_rtt-sandbox"));
    let out = std::process::Command::new(launcher).arg("--probe").output().expect("rtt-sandbox runs");
    assert!(out.status.success(), "{}", support::stderr(&out));
    let layers: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for key in ["no_new_privs", "rlimits", "mount_namespace", "network_namespace", "seccomp"] {
        assert_eq!(layers[key], true, "{key}: {layers}");
    }
    assert_eq!(layers["landlock"], "full", "{layers}");
}

#[test]
fn sandbox_off_is_loud_and_required_runs_where_every_layer_exists() {
    let (dir, _) = template(Drivers::Mixed, 0);
    let root = dir.path();
    let config = std::fs::read_to_string(root.join("rtt.yaml")).expect("config");
    let config = config
        .lines()
        .map(|l| match l {
            l if l.starts_with("  d2:") => l.replacen("timeout_ms: 10000", "timeout_ms: 10000, sandbox: off", 1),
            l if l.starts_with("  d3:") => l.replacen("timeout_ms: 10000", "timeout_ms: 10000, sandbox: required", 1),
            l => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(root.join("rtt.yaml"), config + "\n").expect("config");
    let out = apply_workspace::run(root, &["apply", "p1.json"], &[]);
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert!(support::stderr(&out).contains("SANDBOX OFF for driver `d2`"), "{}", support::stderr(&out));
    let status = apply_workspace::run(root, &["status"], &[]);
    let text = support::stdout(&status);
    assert!(text.contains("sandbox: every layer"), "{text}");
    assert!(text.contains("driver d2: SANDBOX OFF") && text.contains("driver d3: sandboxed (required)"), "{text}");
    let json = apply_workspace::run(root, &["status", "--format", "json"], &[]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(value["sandbox"]["drivers"]["d2"], "off");
    assert_eq!(value["sandbox"]["missing"], serde_json::json!([]));
}

#[test]
fn a_missing_layer_is_reported_and_required_refuses_to_start_the_driver() {
    let (dir, _) = template(Drivers::Mixed, 0);
    let root = dir.path();
    let pretend = [("RTT_SANDBOX_PRETEND_MISSING", "landlock".to_owned())];
    // Default: the driver starts, and its log says what it runs without.
    let out = apply_workspace::run(root, &["apply", "p1.json"], &pretend);
    assert!(out.status.success(), "{}", support::stderr(&out));
    let log = std::fs::read_to_string(root.join(".rtt/logs/d2.log")).unwrap_or_default();
    assert!(log.contains("rtt sandbox: running without landlock"), "{log}");
    // Required: it does not start, the apply fails naming the driver, and nothing moved.
    let config = std::fs::read_to_string(root.join("rtt.yaml")).expect("config");
    let config: Vec<String> = config
        .lines()
        .map(|l| {
            if l.starts_with("  d2:") {
                l.replacen("timeout_ms: 10000", "timeout_ms: 10000, sandbox: required", 1)
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(root.join("rtt.yaml"), config.join("\n") + "\n").expect("config");
    let before = std::fs::read(root.join(".rtt/state/applied.json")).expect("applied");
    let out = apply_workspace::run(root, &["apply", "p2.json"], &pretend);
    assert!(!out.status.success(), "required went ahead: {}", support::stdout(&out));
    assert!(support::stderr(&out).contains("d2"), "{}", support::stderr(&out));
    let log = std::fs::read_to_string(root.join(".rtt/logs/d2.log")).unwrap_or_default();
    assert!(log.contains("sandbox required but not available: landlock"), "{log}");
    assert_eq!(std::fs::read(root.join(".rtt/state/applied.json")).expect("applied"), before, "p1 stays in force");
}

#[test]
fn with_exec_granted_a_fork_bomb_meets_the_pids_cgroup() {
    // Root is exempt from RLIMIT_NPROC, so with `exec` the cap is a pids cgroup.
    let dir = workspace(|_| vec!["unused".into()]);
    let root = dir.path();
    let scratch = root.join("scratch-root").display().to_string();
    let (grant, python, hostile) = (example_grant(), support::python(), hostile());
    let before = protected(root);
    let args =
        ["driver", "test", "--timeout-ms", "5000", "--root", &scratch, "--grant", &grant, "--grant", "exec", "--"];
    let mut args: Vec<&str> = args.to_vec();
    args.extend([python.as_str(), hostile.as_str(), "fork"]);
    let out = apply_workspace::run(root, &args, &[]);
    assert_contained(root, "fork with exec", &out, &before);
    let err = support::stderr(&out);
    assert!(err.contains("hostile: fork contained") && err.contains("Resource temporarily unavailable"), "{err}");
}
