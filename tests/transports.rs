//! `rtt tune` and per-route transports (issue 18) through the binary: a
//! profile named by the machine's fingerprint, signed or not; a config whose
//! hosts name their machine gets each route's transport in the plan, derived
//! from its placement and the hosts' profiles, and explained; a profile that
//! is another machine's, edited, or signed by a key that does not verify
//! stops the plan; a machine without a profile gets the defaults and a
//! warning.

mod support;

use std::fs;
use std::path::Path;

use support::{rtt_in, stderr, stdout};

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = rtt_in(dir, args);
    assert!(out.status.success(), "rtt {args:?}: {}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// The quickstart with transports on and host h01 on `fingerprint`.
fn workspace(fingerprint: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = fs::read_to_string(support::repo().join("examples/quickstart/rtt.yaml")).expect("quickstart");
    let config = config.replacen("- {name: h01,", &format!("- {{name: h01, fingerprint: {fingerprint},"), 1);
    fs::write(dir.path().join("rtt.yaml"), config + "\ntransports: {message_bytes: 512}\n").expect("config");
    dir
}

fn tune(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["tune", "--quick", "--format", "json"];
    args.extend(extra);
    serde_json::from_str(&ok(dir, &args)).expect("a profile")
}

fn plan(dir: &Path) -> serde_json::Value {
    ok(dir, &["plan", "rtt.yaml", "-o", "plan.json"]);
    serde_json::from_slice(&fs::read(dir.join("plan.json")).expect("plan")).expect("json")
}

#[test]
fn tune_names_its_profile_by_a_fingerprint_that_does_not_change_between_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = tune(dir.path(), &[]);
    let second = tune(dir.path(), &[]);
    assert_eq!(first["kind"], "rtt.profile");
    assert_eq!(first["fingerprint"], second["fingerprint"]);
    assert_eq!(first["machine"], second["machine"]);
    let fingerprint = first["fingerprint"].as_str().expect("fingerprint");
    assert!(fingerprint.len() == 16 && fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
    let written = dir.path().join(format!(".rtt/profiles/{fingerprint}.json"));
    let bytes = fs::read(&written).expect("the profile file");
    assert!(rtt_canonical::check_canonical(bytes.strip_suffix(b"\n").expect("newline")).is_ok());
    // 16 cells of the grid, each measured; the chosen one is among them.
    let grid = first["measured"]["grid"].as_array().expect("grid");
    assert_eq!(grid.len(), 16);
    let chosen = &first["chosen"];
    assert!(grid.iter().any(|c| c["ring_bytes"] == chosen["ring_bytes"] && c["spin"] == chosen["spin"]));
    assert!(first["measured"]["pipe"]["messages_per_s"].as_u64().expect("rate") > 0);
}

#[test]
fn routes_get_transports_from_placement_and_profile_and_explain_says_why() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let profile = tune(scratch.path(), &[]);
    let fingerprint = profile["fingerprint"].as_str().expect("fingerprint");
    let dir = workspace(fingerprint);
    fs::create_dir_all(dir.path().join(".rtt/profiles")).expect("mkdir");
    let name = format!(".rtt/profiles/{fingerprint}.json");
    fs::copy(scratch.path().join(&name), dir.path().join(&name)).expect("copy the profile");
    let plan = plan(dir.path());
    let host_of: Vec<(String, String)> = plan["placements"]
        .as_array()
        .expect("placements")
        .iter()
        .map(|p| (p["agent"].as_str().unwrap().to_owned(), p["host"].as_str().unwrap().to_owned()))
        .collect();
    for route in plan["routes"].as_array().expect("routes") {
        let transport = &route["transport"];
        let host_local = route["locality"]["host"].as_f64().expect("locality") >= 0.99;
        assert_eq!(transport["kind"], if host_local { "shm" } else { "tcp" }, "{route}");
        assert_eq!(transport["message_bytes"], 512);
        if host_local {
            let ring = transport["ring_bytes"].as_u64().expect("ring");
            assert!(ring.is_power_of_two() && ring >= profile["chosen"]["ring_bytes"].as_u64().unwrap_or(0).min(ring));
            let on_h01 = host_of.iter().any(|(a, h)| a == route["from"].as_str().unwrap() && h == "h01");
            assert_eq!(transport["profiles"].as_array().is_some_and(|p| p.len() == 1), on_h01, "{route}");
        }
        // The batch window is a quarter of the slack, or 100 µs without an SLO.
        let batch = transport["batch_us"].as_u64().expect("batch");
        match route["slo_p99_us"].as_f64() {
            Some(slo) => assert_eq!(batch, ((slo - route["p99_us"].as_f64().unwrap()) / 4.0).max(0.0).floor() as u64),
            None => assert_eq!(batch, 100),
        }
    }
    let explained = ok(dir.path(), &["explain", "plan.json", "--config", "rtt.yaml"]);
    assert!(explained.contains("transport shm: its traffic stays on its hosts"), "{explained}");
    assert!(explained.contains("transport tcp:"), "{explained}");
    // Same inputs, same bytes.
    let again = fs::read(dir.path().join("plan.json")).expect("plan");
    ok(dir.path(), &["plan", "rtt.yaml", "-o", "plan2.json"]);
    assert_eq!(again, fs::read(dir.path().join("plan2.json")).expect("plan"));
}

#[test]
fn a_profile_of_another_machine_an_edited_one_or_a_bad_signature_stops_the_plan() {
    let dir = workspace("00000000000000aa");
    let profiles = dir.path().join(".rtt/profiles");
    // No profile: the defaults, and a warning naming the machine and its hosts.
    let out = rtt_in(dir.path(), &["plan", "rtt.yaml", "-o", "plan.json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("no profile of machine 00000000000000aa (hosts h01)"), "{}", stderr(&out));
    // This machine's profile under another machine's name.
    ok(dir.path(), &["keygen", "--out", "ops"]);
    let profile = tune(dir.path(), &["--sign-key", "ops.key"]);
    let mine = profile["fingerprint"].as_str().expect("fingerprint").to_owned();
    assert_eq!(profile["signatures"].as_array().map(Vec::len), Some(1));
    fs::copy(profiles.join(format!("{mine}.json")), profiles.join("00000000000000aa.json")).expect("copy");
    let out = rtt_in(dir.path(), &["plan", "rtt.yaml", "-o", "plan.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("it is the profile of machine {mine}")), "{}", stderr(&out));
    // The right name, signed by a key the trust store does not know: refused.
    let fixed = fs::read_to_string(dir.path().join("rtt.yaml")).expect("config").replace("00000000000000aa", &mine);
    fs::write(dir.path().join("rtt.yaml"), fixed).expect("config");
    fs::create_dir_all(dir.path().join(".rtt/registry/trust/keys")).expect("trust");
    fs::write(dir.path().join(".rtt/registry/trust/policy.json"), r#"{"threshold": 1}"#).expect("policy");
    let out = rtt_in(dir.path(), &["plan", "rtt.yaml", "-o", "plan.json"]);
    assert_eq!(out.status.code(), Some(1), "an untrusted signature must not pass");
    assert!(stderr(&out).contains("it is signed, and the trust store cannot check it"), "{}", stderr(&out));
    // Trusted, it passes; edited afterwards (a measured figure), refused again.
    fs::copy(dir.path().join("ops.pub"), dir.path().join(".rtt/registry/trust/keys/ops.pub")).expect("trust key");
    ok(dir.path(), &["plan", "rtt.yaml", "-o", "plan.json"]);
    let path = profiles.join(format!("{mine}.json"));
    let mut edited: serde_json::Value = serde_json::from_slice(&fs::read(&path).expect("profile")).expect("json");
    edited["chosen"]["spin"] = serde_json::json!(7);
    let mut bytes = rtt_canonical::to_canonical_vec(&edited).expect("canonical");
    bytes.push(b'\n');
    fs::write(&path, bytes).expect("write");
    let out = rtt_in(dir.path(), &["plan", "rtt.yaml", "-o", "plan.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("signatures do not verify"), "{}", stderr(&out));
}

#[test]
fn a_fingerprint_that_is_not_one_is_a_config_error() {
    let dir = workspace("not-a-print");
    let out = rtt_in(dir.path(), &["validate", "rtt.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not a machine fingerprint"), "{}", stderr(&out));
}

#[test]
fn apply_refuses_a_plan_whose_profile_was_swapped_before_touching_anything() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let fingerprint = tune(scratch.path(), &[])["fingerprint"].as_str().expect("fingerprint").to_owned();
    let dir = workspace(&fingerprint);
    let root = dir.path();
    fs::create_dir_all(root.join(".rtt/profiles")).expect("mkdir");
    let name = format!(".rtt/profiles/{fingerprint}.json");
    fs::copy(scratch.path().join(&name), root.join(&name)).expect("copy the profile");
    ok(root, &["keygen", "--out", "ops"]);
    fs::create_dir_all(root.join(".rtt/registry/trust/keys")).expect("trust");
    fs::copy(root.join("ops.pub"), root.join(".rtt/registry/trust/keys/ops.pub")).expect("trust key");
    fs::write(root.join(".rtt/registry/trust/policy.json"), r#"{"threshold": 1}"#).expect("policy");
    ok(root, &["plan", "rtt.yaml", "-o", "plan.json", "--sign-key", "ops.key"]);
    // The profile now claims another machine's facts: not this fingerprint's.
    let mut swapped: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join(&name)).expect("profile")).expect("json");
    swapped["machine"]["kernel"] = serde_json::json!("0.0.0-elsewhere");
    let mut bytes = rtt_canonical::to_canonical_vec(&swapped).expect("canonical");
    bytes.push(b'\n');
    fs::write(root.join(&name), bytes).expect("write");
    let out = rtt_in(root, &["apply", "plan.json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("do not hash to its fingerprint"), "{}", stderr(&out));
    assert!(!root.join(".rtt/wal").exists() && !root.join(".rtt/state/applied.json").exists(), "nothing was touched");
    // Restored, the same plan applies.
    fs::copy(scratch.path().join(&name), root.join(&name)).expect("restore");
    ok(root, &["apply", "plan.json"]);
}
