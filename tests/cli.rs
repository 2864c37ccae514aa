//! The command line end to end: help, init, schema, completions, exit codes.

mod support;

use support::{repo, rtt, rtt_in, stderr, stdout};

#[test]
fn every_command_has_help() {
    for command in [
        &["--help"][..],
        &["init", "--help"],
        &["validate", "--help"],
        &["plan", "--help"],
        &["explain", "--help"],
        &["diff", "--help"],
        &["keygen", "--help"],
        &["sign", "--help"],
        &["verify", "--help"],
        &["registry", "--help"],
        &["registry", "add", "--help"],
        &["registry", "get", "--help"],
        &["registry", "ls", "--help"],
        &["registry", "pack", "--help"],
        &["registry", "verify", "--help"],
        &["registry", "gc", "--help"],
        &["view", "--help"],
        &["mount", "--help"],
        &["materialize", "--help"],
        &["schema", "--help"],
        &["completions", "--help"],
    ] {
        let output = rtt(command);
        assert!(output.status.success(), "{command:?}: {}", stderr(&output));
        assert!(stdout(&output).contains("Usage: rtt"), "{command:?}");
    }
}

#[test]
fn top_level_help_matches_its_snapshot() {
    let output = rtt(&["--help"]);
    support::check_snapshot(&repo().join("tests/data/cli/help.stdout"), &stdout(&output)).unwrap();
}

#[test]
fn init_writes_a_starter_config_that_validates_and_never_overwrites() {
    let dir = tempdir();
    let output = rtt_in(&dir, &["init"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let validate = rtt_in(&dir, &["validate"]);
    assert!(validate.status.success(), "{}", stderr(&validate));
    assert!(stdout(&validate).contains("rtt.yaml: valid"));

    let again = rtt_in(&dir, &["init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("--force"));
    let forced = rtt_in(&dir, &["init", "--force"]);
    assert!(forced.status.success());
}

#[test]
fn validate_without_a_config_says_how_to_get_one() {
    let dir = tempdir();
    let output = rtt_in(&dir, &["validate"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("rtt init"), "{}", stderr(&output));
}

#[test]
fn checked_in_json_schema_is_up_to_date() {
    let output = rtt(&["schema"]);
    assert!(output.status.success());
    let checked_in = std::fs::read_to_string(repo().join("schema/rtt.schema.json")).unwrap();
    assert!(
        checked_in == stdout(&output),
        "schema/rtt.schema.json is stale: run `cargo run -q -- schema > schema/rtt.schema.json`"
    );
}

#[test]
fn completions_are_generated_for_common_shells() {
    for shell in ["bash", "zsh", "fish"] {
        let output = rtt(&["completions", shell]);
        assert!(output.status.success(), "{shell}");
        assert!(stdout(&output).contains("validate"), "{shell}");
    }
}

#[test]
fn validate_json_lists_every_error_with_its_position() {
    let output = rtt(&["validate", "--format", "json", "tests/data/config/err/many-errors.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["ok"], false);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 4);
    for error in errors {
        assert!(error["line"].as_u64().unwrap() > 0);
        assert!(error["column"].as_u64().unwrap() > 0);
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
}

#[test]
fn a_missing_cue_tool_is_a_clear_error() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rtt"))
        .args(["validate", "examples/quickstart/rtt.cue"])
        .current_dir(repo())
        .env_remove("RTT_CUE")
        .env("PATH", "")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("failed to find the `cue` tool"), "{text}");
    assert!(text.contains("scripts/setup"), "{text}");
}

/// `rtt ARGS` in `dir` with `input` on stdin.
fn rtt_with_stdin(dir: &std::path::Path, args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rtt"))
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn dash_is_stdin_for_configs_and_plans_and_stdout_for_output() {
    let dir = tempdir();
    let config = std::fs::read(repo().join("examples/quickstart/rtt.yaml")).unwrap();
    let from_file =
        rtt_in(&dir, &["plan", repo().join("examples/quickstart/rtt.yaml").to_str().unwrap(), "-o", "p.json"]);
    assert!(from_file.status.success(), "{}", stderr(&from_file));
    // rtt plan - -o -: the plan alone on stdout, the summary on stderr.
    let piped = rtt_with_stdin(&dir, &["plan", "-", "-o", "-"], &config);
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(piped.stdout, std::fs::read(dir.join("p.json")).unwrap());
    assert!(stderr(&piped).contains("written to (standard output)"), "{}", stderr(&piped));
    // JSON configs on stdin too.
    let json = stdout(&rtt(&["validate", "--format", "json", "examples/quickstart/rtt.yaml"]));
    assert!(json.contains("\"ok\": true"));
    let normalized = rtt_with_stdin(&dir, &["validate", "-"], b"{\"version\": 1}");
    assert_eq!(normalized.status.code(), Some(1));
    assert!(stderr(&normalized).contains("(standard input)"), "{}", stderr(&normalized));
    // rtt sign - -o -, then explain and diff reading a plan from stdin.
    assert!(rtt_in(&dir, &["keygen", "--out", "k"]).status.success());
    let signed = rtt_with_stdin(&dir, &["sign", "-", "--key", "k.key", "-o", "-"], &piped.stdout);
    assert!(signed.status.success(), "{}", stderr(&signed));
    assert!(String::from_utf8_lossy(&signed.stdout).contains("\"signatures\""));
    let diff = rtt_with_stdin(&dir, &["diff", "p.json", "-", "--exit-code"], &piped.stdout);
    assert_eq!(diff.status.code(), Some(0), "{}", stderr(&diff));
}

#[test]
fn an_infeasible_plan_as_json_is_the_conflict_on_stdout_with_exit_3() {
    let output = rtt(&["plan", "--format", "json", "tests/data/plan/infeasible/colocate-and-avoid.yaml"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    support::check_snapshot(&repo().join("tests/data/cli/infeasible.json"), &stdout(&output)).unwrap();
}

#[test]
fn keygen_registry_and_sign_report_as_json() {
    let dir = tempdir();
    let json = |args: &[&str]| -> serde_json::Value {
        let output = rtt_in(&dir, args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{args:?}: one JSON document: {e}"))
    };
    let key = json(&["keygen", "--out", "k", "--format", "json"]);
    assert_eq!(key["kind"], "rtt.keygen");
    assert!(key["key_id"].is_string() && key["secret"] == "k.key", "{key}");
    std::fs::write(dir.join("m.json"), r#"{"id": "search@1", "image": "x"}"#).unwrap();
    let added = json(&["registry", "add", "m.json", "--format", "json"]);
    assert_eq!(added["agents"][0]["id"], "search@1", "{added}");
    assert!(added["agents"][0]["previous"].is_null(), "{added}");
    assert_eq!(json(&["registry", "pack", "--format", "json"])["objects"], 1);
    assert_eq!(json(&["registry", "verify", "--format", "json"])["ok"], true);
    assert_eq!(json(&["registry", "gc", "--format", "json"])["kind"], "rtt.registry.gc");
    let plan = rtt_in(&dir, &["plan", repo().join("examples/quickstart/rtt.yaml").to_str().unwrap(), "-o", "p.json"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let signed = json(&["sign", "p.json", "--key", "k.key", "--format", "json"]);
    assert_eq!((signed["kind"].as_str(), signed["output"].as_str()), (Some("rtt.sign"), Some("p.json")), "{signed}");
}

#[test]
fn one_rule_finds_the_rtt_directory_and_dash_c_moves_it() {
    let dir = tempdir();
    std::fs::create_dir_all(dir.join("proj")).unwrap();
    std::fs::copy(repo().join("examples/quickstart/rtt.yaml"), dir.join("proj/rtt.yaml")).unwrap();
    std::fs::write(dir.join("m.json"), r#"{"id": "search@1"}"#).unwrap();
    // -C proj: the registry is proj/.rtt/registry.
    let added = rtt_in(&dir, &["-C", "proj", "registry", "add", "../m.json"]);
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(dir.join("proj/.rtt/registry/index.json").is_file());
    // --dir wins, for every command that uses it; -v says which one was used.
    let elsewhere = rtt_in(&dir, &["--dir", "other", "-v", "registry", "ls"]);
    assert!(elsewhere.status.success(), "{}", stderr(&elsewhere));
    assert!(stderr(&elsewhere).contains("registry other/registry"), "{}", stderr(&elsewhere));
    assert_eq!(stdout(&elsewhere), "");
    // plan and status find .rtt beside the config they are given.
    let plan = rtt_in(&dir, &["-v", "plan", "proj/rtt.yaml", "-o", "p.json"]);
    assert!(stderr(&plan).contains("rtt directory proj/.rtt"), "{}", stderr(&plan));
    let status = rtt_in(&dir, &["-v", "status", "--config", "proj/rtt.yaml"]);
    assert!(stderr(&status).contains("rtt directory proj/.rtt"), "{}", stderr(&status));
    let status = rtt_in(&dir, &["-v", "--dir", "x", "status", "--config", "proj/rtt.yaml"]);
    assert!(stderr(&status).contains("rtt directory x;"), "{}", stderr(&status));
    // -q: no solve statistics.
    let quiet = rtt_in(&dir, &["-q", "plan", "proj/rtt.yaml", "-o", "q.json"]);
    assert!(quiet.status.success());
    assert_eq!(stderr(&quiet), "");
    assert!(stderr(&rtt_in(&dir, &["plan", "proj/rtt.yaml", "-o", "q.json"])).contains("objective"));
    // A -C that does not exist is a clear error.
    let missing = rtt_in(&dir, &["-C", "nowhere", "validate"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("cannot change to nowhere (-C)"), "{}", stderr(&missing));
}

#[test]
fn long_commands_tick_on_a_terminal_and_stay_quiet_when_piped() {
    let explain = "tests/data/diff/fleet-old.json --config examples/fleet/rtt.yaml";
    // util-linux `script` gives rtt a terminal.
    let on_terminal = std::process::Command::new("script")
        .args(["-qec", &format!("{} explain {explain}", env!("CARGO_BIN_EXE_rtt")), "/dev/null"])
        .current_dir(repo())
        .output()
        .expect("script (util-linux) runs");
    let screen = String::from_utf8_lossy(&on_terminal.stdout);
    assert!(screen.contains("\rrtt: explain: route tests"), "{screen}");
    let piped = rtt(&["explain", "tests/data/diff/fleet-old.json", "--config", "examples/fleet/rtt.yaml"]);
    assert!(piped.status.success());
    assert!(!stderr(&piped).contains("explain: route tests") && !stdout(&piped).contains('\r'));
}

#[test]
fn man_pages_are_written_for_every_command() {
    let dir = tempdir();
    let output = rtt(&["man", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    for page in ["rtt.1", "rtt-plan.1", "rtt-apply.1", "rtt-registry.1", "rtt-man.1"] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
    }
    let plan = std::fs::read_to_string(dir.join("rtt-plan.1")).unwrap();
    assert!(plan.contains("rtt\\-plan \\- Place every replica"), "{plan}");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    // The reader is gone before rtt writes: `rtt schema | head -0`.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rtt"))
        .args(["schema"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(141), "128 + SIGPIPE, as a shell reports it");
    assert_eq!(stderr(&output), "");
}

#[test]
fn color_follows_the_flag_then_no_color() {
    let run = |args: &[&str], no_color: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rtt"));
        command.args(args).current_dir(repo());
        if no_color {
            command.env("NO_COLOR", "1");
        } else {
            command.env_remove("NO_COLOR");
        }
        stderr(&command.output().unwrap())
    };
    let bad = "tests/data/config/err/bad-qos.yaml";
    assert!(run(&["validate", "--color", "always", bad], true).contains("\u{1b}["));
    assert!(!run(&["validate", "--color", "never", bad], false).contains("\u{1b}["));
    // auto: stderr is a pipe here, so no colour either way.
    assert!(!run(&["validate", bad], false).contains("\u{1b}["));
}

/// A config with `n` agents whose `qos` is wrong: `n` errors.
fn config_with_errors(n: usize) -> std::path::PathBuf {
    let dir = tempdir();
    let mut text = String::from(
        "version: 1\ntopology:\n  latency_us: {numa: 1.5, host: 4, rack: 25, zone: 120, region: 900}\n  hosts:\n    - {name: h01, zone: z1, rack: r1, numa: [{cores: 16, memory_mib: 65536}]}\nagents:\n",
    );
    for i in 0..n {
        text.push_str(&format!("  - {{id: a{i}@1, replicas: 1, cpu: 1, memory_mib: 1, qos: fast, service_us: 1}}\n"));
    }
    std::fs::write(dir.join("rtt.yaml"), text).unwrap();
    dir.join("rtt.yaml")
}

#[test]
fn only_the_first_50_errors_are_shown_unless_all_are_asked_for() {
    let file = config_with_errors(60);
    let file = file.to_str().unwrap();
    let count = |text: &str| text.matches("must be one of").count();
    let default = rtt(&["validate", file]);
    assert_eq!(default.status.code(), Some(1));
    let text = stderr(&default);
    assert!(text.contains("60 errors in the config (the first 50 are shown;"), "{text}");
    assert_eq!(count(&text), 50);
    let all = stderr(&rtt(&["validate", "--all-errors", file]));
    assert!(all.contains("60 errors in the config\n") || all.contains("60 errors in the config\r\n"), "{all}");
    assert_eq!(count(&all), 60);
    // The same rule for every command that reads a config, and for JSON.
    assert_eq!(count(&stderr(&rtt(&["plan", file]))), 50);
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&rtt(&["validate", "--format", "json", file]))).unwrap();
    assert_eq!((report["total"].as_u64(), report["errors"].as_array().unwrap().len()), (Some(60), 50));
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&rtt(&["validate", "--all-errors", "--format", "json", file]))).unwrap();
    assert_eq!(report["errors"].as_array().unwrap().len(), 60);
}

#[test]
fn a_broken_cue_tool_is_a_clear_error_not_its_stack_trace() {
    let dir = tempdir();
    let tool = dir.join("cue");
    std::fs::write(&tool, "#!/bin/sh\necho 'panic: runtime error' >&2\necho 'goroutine 1 [running]:' >&2\nexit 2\n")
        .unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rtt"))
        .args(["validate", "examples/quickstart/rtt.cue"])
        .current_dir(repo())
        .env("RTT_CUE", &tool)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("is broken: exit status 2 (panic: runtime error)"), "{text}");
    assert!(!text.contains("goroutine"), "{text}");
    assert!(text.contains("scripts/setup"), "{text}");
}

#[test]
fn cue_errors_point_at_the_cue_file_as_json_too() {
    let output = rtt(&["validate", "--format", "json", "tests/data/config/err/mixed-errors.cue"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let places: Vec<(String, u64, u64)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["file"].as_str().unwrap().to_owned(), e["line"].as_u64().unwrap(), e["column"].as_u64().unwrap()))
        .collect();
    let file = "tests/data/config/err/mixed-errors.cue".to_owned();
    // cpu: "two", colour: "red", to: "serach@1" — as written in the .cue file.
    assert_eq!(places, vec![(file.clone(), 15, 15), (file.clone(), 27, 3), (file, 30, 34)]);
}

#[test]
fn cue_errors_pass_through_with_their_positions() {
    let dir = tempdir();
    std::fs::write(dir.join("rtt.cue"), "version: 1\nversion: 2\n").unwrap();
    let output = rtt_in(&dir, &["validate", "rtt.cue"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("conflicting values"), "{text}");
    assert!(text.contains("rtt.cue:1:"), "{text}");
}

#[test]
fn unknown_file_kinds_are_refused() {
    let output = rtt(&["validate", "Cargo.toml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("rtt.yaml, rtt.yml, rtt.json or rtt.cue"));
}

fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir =
        std::env::temp_dir().join(format!("rtt-cli-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
