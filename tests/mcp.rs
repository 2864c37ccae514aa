//! `rtt mcp` with a real MCP client: the official Python SDK (installed by
//! scripts/setup into a virtual environment) lists and reads every view of
//! the examples/views plan, calls the tools, and sees the switch when the
//! next plan is applied.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod support;

use support::{rtt_in, stderr, stdout, write};

/// The Python with the `mcp` package: `RTT_MCP_PYTHON`, else the virtual
/// environment scripts/setup makes.
fn mcp_python() -> PathBuf {
    if let Some(python) = std::env::var_os("RTT_MCP_PYTHON") {
        return PathBuf::from(python);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map_or_else(|| Path::new(&std::env::var_os("HOME").expect("HOME")).join(".cache"), PathBuf::from);
    let python = cache.join("rtt/mcp-venv/bin/python");
    assert!(python.is_file(), "{} is missing: run scripts/setup", python.display());
    python
}

fn run(root: &Path, args: &[&str]) -> String {
    let out = rtt_in(root, args);
    assert!(out.status.success(), "rtt {args:?}: {}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// examples/views, its manifests added, a trusted key, plan.json signed and applied.
fn applied_views_example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let from = support::repo().join("examples/views");
    for relative in ["rtt.yaml", ".rtt/overlays/provider/claude.json", ".rtt/overlays/env/prod.json"] {
        write(root, relative, &fs::read_to_string(from.join(relative)).expect("example file"));
    }
    for manifest in ["batch", "cache", "gateway", "ranker", "search"] {
        let text = fs::read_to_string(from.join(format!("manifests/{manifest}.json"))).expect("manifest");
        write(root, &format!("manifests/{manifest}.json"), &text);
        run(root, &["registry", "add", &format!("manifests/{manifest}.json")]);
    }
    run(root, &["keygen", "--out", "ops"]);
    write(root, ".rtt/registry/trust/policy.json", r#"{"threshold": 1}"#);
    write(root, ".rtt/registry/trust/keys/ops.pub", &fs::read_to_string(root.join("ops.pub")).expect("public key"));
    run(root, &["plan", "rtt.yaml", "-o", "plan.json", "--sign-key", "ops.key"]);
    run(root, &["apply", "plan.json"]);
    dir
}

/// What `rtt view` prints for a resource URI `rtt://PROVIDER/ID`.
fn view_of(root: &Path, uri: &str) -> String {
    let (provider, id) = uri.strip_prefix("rtt://").and_then(|rest| rest.split_once('/')).expect("rtt://P/ID");
    run(root, &["view", id, "--provider", provider, "--env", "prod"])
}

#[test]
fn an_mcp_client_lists_and_reads_every_view_calls_the_tools_and_sees_a_switch() {
    let dir = applied_views_example();
    let root = dir.path();
    let rtt = env!("CARGO_BIN_EXE_rtt");
    // What the plan's views are before the switch: every agent for claude, two for codex.
    let agents = ["batch@1", "cache@2", "gateway@1", "ranker@1", "search@1"];
    let uris = agents
        .iter()
        .map(|a| format!("rtt://claude/{a}"))
        .chain(["rtt://codex/gateway@1".into(), "rtt://codex/search@1".into()]);
    let expected: std::collections::BTreeMap<String, String> =
        uris.map(|uri| (uri.clone(), view_of(root, &uri))).collect();
    // The switch: gateway's env overlay changes, the next plan is signed and applied.
    write(
        root,
        "switch.sh",
        &format!(
            "set -e\n\
             cat > .rtt/overlays/env/prod.json <<'JSON'\n\
             {{\"agents\": {{\"*\": {{\"merge\": {{\"env\": {{\"LOG_LEVEL\": \"warn\"}}}}}},\n  \
             \"gateway@1\": {{\"merge\": {{\"env\": {{\"RATE_LIMIT_RPS\": \"9000\"}}}}}}}}}}\n\
             JSON\n\
             '{rtt}' plan rtt.yaml --previous plan.json -o next.json --sign-key ops.key\n\
             '{rtt}' apply next.json\n"
        ),
    );
    let output = Command::new(mcp_python())
        .arg(support::repo().join("tests/data/mcp/client.py"))
        .args([rtt, &root.display().to_string()])
        .env("RTT_CUE", support::cue_tool())
        .output()
        .expect("the MCP client runs");
    assert!(output.status.success(), "the MCP client failed:\n{}{}", stdout(&output), stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON report");

    assert_eq!(report["protocolVersion"], "2025-11-25");
    assert_eq!(report["capabilities"]["resources"]["subscribe"], true);
    // Every view of the plan (5 agents for claude, 2 for codex), byte for byte `rtt view`.
    let before = report["before"].as_object().expect("resources");
    assert_eq!(before.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (uri, resource) in before {
        assert_eq!(resource["mimeType"], "application/json");
        assert_eq!(resource["text"], expected[uri].as_str(), "{uri} differs from rtt view");
    }
    // The switch notified the subscriber of exactly the views that changed.
    let mut updated: Vec<&str> = report["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .filter(|n| n["method"] == "notifications/resources/updated")
        .map(|n| n["uri"].as_str().expect("uri"))
        .collect();
    updated.sort_unstable();
    assert_eq!(updated, ["rtt://claude/gateway@1", "rtt://codex/gateway@1"], "{}", report["notifications"]);
    let after = report["after"].as_object().expect("resources");
    assert_eq!(after.len(), 7);
    for (uri, resource) in after {
        assert_eq!(resource["text"], view_of(root, uri).as_str(), "{uri} after the switch");
        let changed = resource["text"] != before[uri]["text"];
        assert_eq!(changed, uri.ends_with("/gateway@1"), "{uri}");
    }
    assert!(after["rtt://codex/gateway@1"]["text"].as_str().expect("text").contains("9000"));
    // Tools: read-only ones only, and they run rtt itself.
    assert_eq!(report["tools"], serde_json::json!(["diff", "explain", "plan", "verify"]));
    // plan.json is applied, so verify refuses it as a replay, as on the command line.
    assert_eq!(report["verify"]["isError"], true, "{}", report["verify"]);
    let verdict: serde_json::Value =
        serde_json::from_str(report["verify"]["text"].as_str().expect("text")).expect("verify's JSON");
    assert_eq!((&verdict["accepted"], &verdict["check"]), (&serde_json::json!(false), &serde_json::json!("serial")));
    assert!(report["missing"].as_str().expect("an error").contains("no resource"), "{}", report["missing"]);
}

#[test]
fn rtt_mcp_refuses_a_pinned_plan_that_does_not_verify() {
    let dir = applied_views_example();
    let root = dir.path();
    let mut plan: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("plan.json")).expect("plan")).expect("json");
    plan["serial"] = serde_json::json!(99);
    fs::write(root.join("edited.json"), serde_json::to_vec(&plan).expect("json")).expect("write");
    let out = rtt_in(root, &["mcp", "--plan", "edited.json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "nothing is served: {}", stdout(&out));
}
