//! End-to-end tests of `rtt mount` and `rtt materialize` through the binary:
//! real FUSE mounts (CI runs as root with /dev/fuse), every view equal to
//! `rtt view`, refusal of unverified or tampered plans, kill -9 then
//! `--cleanup`, and every materialize mode.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{project, rtt_in, signed_plan_with_views, stderr, stdout, write};

/// The views of the signed plan, as `rtt view` prints them: (path under the mount, bytes).
fn expected_views(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (provider, dir, ids) in
        [("claude", ".claude/agents", &["gateway@1", "search@1"][..]), ("codex", ".codex/agents", &["search@1"][..])]
    {
        for id in ids {
            let view = rtt_in(root, &["view", id, "--provider", provider, "--env", "prod"]);
            assert!(view.status.success(), "{}", stderr(&view));
            out.push((format!("{provider}/{dir}/{id}.json"), stdout(&view)));
        }
    }
    out
}

fn is_mounted(path: &Path) -> bool {
    let absolute = std::path::absolute(path).expect("absolute");
    fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(absolute.to_str().expect("utf-8")))
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn mount_serves_exactly_what_rtt_view_prints_and_unmounts_on_sigterm() {
    let dir = project();
    let root = dir.path();
    signed_plan_with_views(root);
    let expected = expected_views(root);
    let mnt = root.join("mnt");
    fs::create_dir(&mnt).expect("mkdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtt"))
        .args(["mount", "mnt", "--plan", "plan.json", "--foreground"])
        .current_dir(root)
        .stderr(Stdio::piped())
        .spawn()
        .expect("rtt mount");
    wait_until("the mount", || is_mounted(&mnt));
    for (path, bytes) in &expected {
        assert_eq!(&fs::read_to_string(mnt.join(path)).expect("read a view"), bytes, "{path}");
    }
    let names: Vec<String> = fs::read_dir(mnt.join("claude/.claude/agents"))
        .expect("list")
        .map(|e| e.expect("e").file_name().to_string_lossy().into())
        .collect();
    assert_eq!(names.len(), 2);
    let err = fs::write(mnt.join("claude/.claude/agents/gateway@1.json"), "x").expect_err("read-only");
    assert_eq!(err.raw_os_error(), Some(30), "EROFS: {err}");

    // SIGTERM: a clean unmount and exit 0.
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "{exit}");
    assert!(!is_mounted(&mnt), "SIGTERM leaves nothing mounted");
    assert!(mount_status(root).is_empty(), "a clean unmount withdraws the record");
}

/// `rtt mount status --format json`'s mounts.
fn mount_status(root: &Path) -> Vec<serde_json::Value> {
    let out = rtt_in(root, &["mount", "status", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(report["kind"], "rtt.mount.status");
    report["mounts"].as_array().expect("mounts").clone()
}

#[test]
fn background_mount_then_kill_9_then_cleanup() {
    let dir = project();
    let root = dir.path();
    signed_plan_with_views(root);
    let mnt = root.join("mnt");
    fs::create_dir(&mnt).expect("mkdir");
    let out = rtt_in(root, &["mount", "mnt", "--plan", "plan.json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(is_mounted(&mnt));
    let pid: String = stdout(&out)
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("the pid is reported")
        .to_owned();
    let listed = mount_status(root);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["state"], "serving");
    assert_eq!(listed[0]["pid"].to_string(), pid);
    assert_eq!(listed[0]["mountpoint"], std::path::absolute(&mnt).expect("absolute").to_str().expect("utf-8"));
    assert_eq!(listed[0]["follows_applied"], false);
    let text = stdout(&rtt_in(root, &["mount", "status"]));
    assert!(text.contains("serving") && text.contains(&format!("pid {pid}")), "{text}");

    assert!(Command::new("kill").args(["-KILL", &pid]).status().expect("kill").success());
    // The dead server leaves the mount point behind (reads fail with ENOTCONN) …
    wait_until("the server to die", || !Path::new(&format!("/proc/{pid}")).exists());
    assert!(is_mounted(&mnt));
    assert_eq!(mount_status(root)[0]["state"], "stale");
    let text = stdout(&rtt_in(root, &["mount", "status"]));
    assert!(text.contains("rtt mount --cleanup"), "{text}");
    // … until cleanup, which also drops the record.
    let cleanup = rtt_in(root, &["mount", "mnt", "--cleanup"]);
    assert!(cleanup.status.success(), "{}", stderr(&cleanup));
    assert!(stdout(&cleanup).contains("unmounted"), "{}", stdout(&cleanup));
    assert!(!is_mounted(&mnt));
    assert!(mount_status(root).is_empty());
    assert!(stdout(&rtt_in(root, &["mount", "status"])).starts_with("no mounts recorded"));
    let again = rtt_in(root, &["mount", "mnt", "--cleanup"]);
    assert!(stdout(&again).contains("not mounted"));
    // The mount point is usable again.
    fs::write(mnt.join("probe"), "ok").expect("plain directory again");
}

#[test]
fn a_mount_unmounted_from_outside_ends_its_process_and_its_record() {
    let dir = project();
    let root = dir.path();
    signed_plan_with_views(root);
    let mnt = root.join("mnt");
    fs::create_dir(&mnt).expect("mkdir");
    let out = rtt_in(root, &["mount", "mnt", "--plan", "plan.json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = mount_status(root)[0]["pid"].to_string();
    assert!(Command::new("umount").arg(&mnt).status().expect("umount(8)").success());
    wait_until("the server to notice and exit", || !Path::new(&format!("/proc/{pid}")).exists());
    assert!(mount_status(root).is_empty(), "the record is withdrawn");
    let log = fs::read_to_string(root.join(".rtt/mount.log")).expect("mount log");
    assert!(log.contains("(from outside)"), "{log}");
}

#[test]
fn unverified_or_tampered_plans_are_not_served() {
    let dir = project();
    let root = dir.path();
    signed_plan_with_views(root);
    fs::create_dir(root.join("mnt")).expect("mkdir");

    // An unsigned plan.
    let unsigned = rtt_in(root, &["plan", "rtt.yaml", "-o", "unsigned.json"]);
    assert!(unsigned.status.success());
    // A signed plan with a changed view (the body no longer matches the signature).
    let text = fs::read_to_string(root.join("plan.json")).expect("plan");
    let tampered = text.replacen("\"id\":\"gateway@1\"", "\"id\":\"gateway@2\"", 1);
    assert_ne!(text, tampered);
    fs::write(root.join("tampered.json"), tampered).expect("write");
    for (plan, reason) in [("unsigned.json", "signature"), ("tampered.json", "signature")] {
        for command in
            [&["mount", "mnt", "--plan", plan, "--foreground"][..], &["materialize", "out", "--plan", plan][..]]
        {
            let out = rtt_in(root, command);
            assert_eq!(out.status.code(), Some(1), "{command:?}");
            assert!(stderr(&out).contains(reason), "{command:?}: {}", stderr(&out));
        }
    }
    // A signed plan whose overlay was swapped afterwards (mix-and-match).
    write(root, ".rtt/overlays/env/prod.json", r#"{"agents": {}}"#);
    let out = rtt_in(root, &["mount", "mnt", "--plan", "plan.json", "--foreground"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not match the registry"), "{}", stderr(&out));
    assert!(!is_mounted(&root.join("mnt")));
    assert!(!root.join("out").exists(), "nothing materialized");
}

#[test]
fn materialize_every_mode_matches_rtt_view() {
    let dir = project();
    let root = dir.path();
    signed_plan_with_views(root);
    let expected = expected_views(root);
    for (mode, reported) in
        [("auto", "hardlink"), ("hardlink", "hardlink"), ("symlink", "symlink"), ("copy", "copy"), ("proxy", "proxy")]
    {
        let target = format!("out-{mode}");
        let out = rtt_in(root, &["materialize", &target, "--plan", "plan.json", "--mode", mode]);
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        assert!(stdout(&out).contains(&format!("(mode {reported})")), "{}", stdout(&out));
        for (path, bytes) in &expected {
            let on_disk = fs::read_to_string(root.join(&target).join(path)).expect("read");
            if mode == "proxy" {
                let hash = rtt_canonical::Sha256::of(bytes.as_bytes());
                assert_eq!(on_disk, format!("{{\"$ref\":\"{hash}\"}}"));
            } else {
                assert_eq!(&on_disk, bytes, "{mode} {path}");
            }
        }
    }
}

/// Records `plan_file` as the applied plan, the way `rtt apply` leaves the state.
fn mark_applied(root: &Path, plan_file: &str) {
    let bytes = fs::read(root.join(plan_file)).expect("plan");
    let plan: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    let serial = plan["serial"].as_u64().expect("serial");
    let verify = rtt_in(root, &["verify", plan_file, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&verify.stdout).expect("verify json");
    let hash = report["plan"].as_str().expect("plan hash").to_owned();
    let plans = root.join(".rtt/state/plans");
    fs::create_dir_all(&plans).expect("mkdir");
    fs::write(plans.join(format!("{}.json", hash.trim_start_matches("sha256:"))), &bytes).expect("keep plan");
    let state = rtt_trust::AppliedState { plan: hash.parse().expect("hash"), serial, highest_serial: serial };
    fs::write(root.join(".rtt/state/applied.json"), state.to_bytes().expect("sealed")).expect("state");
}

#[test]
fn a_following_mount_switches_to_a_newly_applied_plan() {
    let dir = project();
    let root = dir.path();
    signed_plan_with_views(root);
    mark_applied(root, "plan.json");
    let mnt = root.join("mnt");
    fs::create_dir(&mnt).expect("mkdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtt"))
        .args(["mount", "mnt", "--foreground"])
        .current_dir(root)
        .stderr(Stdio::null())
        .spawn()
        .expect("rtt mount");
    wait_until("the mount", || is_mounted(&mnt));
    let gateway = mnt.join("claude/.claude/agents/gateway@1.json");
    let before = fs::read_to_string(&gateway).expect("read");
    assert!(before.contains("\"LOG\":\"warn\""), "{before}");

    // A new env overlay, a new signed plan with serial 2, applied.
    write(root, ".rtt/overlays/env/prod.json", r#"{"agents": {"*": {"merge": {"tier": "gold"}}}}"#);
    let next = rtt_in(root, &["plan", "rtt.yaml", "--previous", "plan.json", "-o", "next.json", "--sign-key", "k.key"]);
    assert!(next.status.success(), "{}", stderr(&next));
    mark_applied(root, "next.json");
    let expected = stdout(&rtt_in(root, &["view", "gateway@1", "--provider", "claude", "--env", "prod"]));
    assert!(expected.contains("\"tier\":\"gold\""), "{expected}");
    wait_until("the switch", || fs::read_to_string(&gateway).is_ok_and(|now| now == expected));
    wait_until("the record of the switch", || mount_status(root).first().is_some_and(|m| m["switches"] == 1));
    let listed = mount_status(root);
    assert_eq!(listed[0]["follows_applied"], true);
    assert!(listed[0]["plan_path"].as_str().expect("path").contains(".rtt/state/plans/"), "{listed:?}");

    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill").success());
    assert!(child.wait().expect("wait").success());
    assert!(!is_mounted(&mnt));
}

/// Copies `examples/views` (config, manifests, overlays) into a fresh directory.
fn views_example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let from = support::repo().join("examples/views");
    for relative in [
        "rtt.yaml",
        "manifests/gateway.json",
        "manifests/search.json",
        "manifests/cache.json",
        "manifests/ranker.json",
        "manifests/batch.json",
        ".rtt/overlays/provider/claude.json",
        ".rtt/overlays/env/prod.json",
    ] {
        let text = fs::read_to_string(from.join(relative)).expect("example file");
        write(dir.path(), relative, &text);
    }
    dir
}

/// The walkthrough of the README on examples/views: add the manifests, look
/// at a view, plan (views included), then sign, verify and materialize. The
/// deterministic part of the transcript is a golden file
/// (tests/data/views/walkthrough.stdout; `RTT_BLESS=1` rewrites it).
#[test]
fn views_example_walkthrough() {
    let dir = views_example();
    let root = dir.path();
    let mut transcript = String::new();
    for args in [
        &["registry", "add", "manifests/batch.json", "manifests/cache.json", "manifests/gateway.json"][..],
        &["registry", "add", "manifests/ranker.json", "manifests/search.json"][..],
        &["registry", "ls"][..],
        &["view", "search@1", "--provider", "claude", "--env", "prod"][..],
        &["plan", "rtt.yaml", "-o", "plan.json"][..],
    ] {
        let out = rtt_in(root, args);
        assert!(out.status.success(), "rtt {args:?}: {}", stderr(&out));
        transcript.push_str(&format!("$ rtt {}\n{}", args.join(" "), stdout(&out)));
        if !transcript.ends_with('\n') {
            transcript.push('\n');
        }
    }
    let plan: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("plan.json")).expect("plan")).expect("json");
    transcript.push_str(&format!("views in the plan:\n{:#}\n", plan["views"]));
    let golden = support::repo().join("tests/data/views/walkthrough.stdout");
    support::check_snapshot(&golden, &transcript).unwrap_or_else(|e| panic!("{e}"));

    // An unsigned plan is not served.
    let refused = rtt_in(root, &["materialize", "views", "--plan", "plan.json"]);
    assert_eq!(refused.status.code(), Some(1));
    // Signed and trusted, it is: every file equals `rtt view`.
    assert!(rtt_in(root, &["keygen", "--out", "ops"]).status.success());
    write(root, ".rtt/registry/trust/policy.json", r#"{"threshold": 1}"#);
    write(root, ".rtt/registry/trust/keys/ops.pub", &fs::read_to_string(root.join("ops.pub")).expect("public key"));
    assert!(rtt_in(root, &["sign", "plan.json", "--key", "ops.key"]).status.success());
    let verify = rtt_in(root, &["verify", "plan.json"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    let out = rtt_in(root, &["materialize", "views", "--plan", "plan.json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("materialized 7 views"), "{}", stdout(&out));
    for (provider, dir, id) in [("claude", ".claude/agents", "batch@1"), ("codex", ".codex/agents", "search@1")] {
        let view = stdout(&rtt_in(root, &["view", id, "--provider", provider, "--env", "prod"]));
        let file =
            fs::read_to_string(root.join("views").join(provider).join(dir).join(format!("{id}.json"))).expect("file");
        assert_eq!(file, view);
    }
}

/// A plan signed by a trusted key but carrying a view path or provider name
/// that would leave the tree is still refused, and nothing is written.
#[test]
fn hostile_view_paths_in_a_signed_plan_are_refused() {
    let dir = project();
    let root = dir.path();
    signed_plan_with_views(root);
    fs::create_dir(root.join("mnt")).expect("mkdir");
    let text = fs::read_to_string(root.join("plan.json")).expect("plan");
    for (name, hostile) in [
        ("dotdot.json", text.replace("\".claude/agents/gateway@1.json\"", "\"../../../escape/gateway@1.json\"")),
        ("absolute.json", text.replace("\".claude/agents/gateway@1.json\"", "\"/tmp/escape/gateway@1.json\"")),
        ("provider.json", text.replace("\"claude\":[", "\"..\":[")),
    ] {
        assert_ne!(hostile, text, "{name}: the fixture must change the plan");
        fs::write(root.join(name), hostile).expect("write");
        let sign = rtt_in(root, &["sign", name, "--key", "k.key"]);
        assert!(sign.status.success(), "{}", stderr(&sign));
        for command in
            [&["mount", "mnt", "--plan", name, "--foreground"][..], &["materialize", "out", "--plan", name][..]]
        {
            let out = rtt_in(root, command);
            assert_eq!(out.status.code(), Some(1), "{name} {command:?}");
            let message = stderr(&out);
            assert!(message.contains("unsafe") || message.contains("not a plain file name"), "{name}: {message}");
        }
    }
    assert!(!is_mounted(&root.join("mnt")));
    assert!(!root.join("out").exists() && !root.join("escape").exists());
}

/// Every file under `dir` (relative path → bytes), the materialize marker aside.
fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        for entry in fs::read_dir(&at).expect("list").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n != ".rtt-materialized.json") {
                let relative = path.strip_prefix(dir).expect("inside").display().to_string();
                out.insert(relative, fs::read(&path).expect("read"));
            }
        }
    }
    out
}

#[test]
fn a_providers_view_plan_serves_the_same_bytes_as_the_fleet_plan() {
    let dir = project();
    let root = dir.path();
    signed_plan_with_views(root);
    let out = rtt_in(root, &["plan", "rtt.yaml", "-o", "plan.json", "--sign-key", "k.key", "--view-plans", "vp"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for provider in ["claude", "codex"] {
        assert!(root.join(format!("vp/provider.{provider}.view.json")).exists(), "{provider}");
    }
    let materialize = |args: &[&str]| {
        let out = rtt_in(root, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    materialize(&["materialize", "--plan", "plan.json", "--provider", "claude", "from-fleet"]);
    materialize(&["materialize", "--plan", "vp/provider.claude.view.json", "from-slice"]);
    let fleet = tree(&root.join("from-fleet"));
    assert!(fleet.len() >= 2 && fleet.keys().all(|k| k.starts_with("claude/")), "{:?}", fleet.keys());
    assert_eq!(tree(&root.join("from-slice")), fleet, "materialize: the same bytes");
    let mnt = root.join("mnt");
    fs::create_dir(&mnt).expect("mkdir");
    let out = rtt_in(root, &["mount", "mnt", "--plan", "vp/provider.claude.view.json", "--provider", "claude"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mounted = tree(&mnt);
    let pid = mount_status(root)[0]["pid"].to_string();
    assert!(Command::new("umount").arg(&mnt).status().expect("umount").success());
    wait_until("the mount to exit", || !Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(mounted, fleet, "mount: the same bytes");
}

#[test]
fn view_plans_used_out_of_place_are_refused_and_change_nothing() {
    let dir = project();
    let root = dir.path();
    signed_plan_with_views(root);
    let out = rtt_in(root, &["plan", "rtt.yaml", "-o", "plan.json", "--sign-key", "k.key", "--view-plans", "vp"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let slice = fs::read_to_string(root.join("vp/provider.claude.view.json")).expect("view plan");
    let refused = |file: &str, extra: &[&str], says: &str| {
        let before = support::snapshot(root);
        let mut args = vec!["materialize", "--plan", file, "out"];
        args.extend(extra);
        let out = rtt_in(root, &args);
        assert!(!out.status.success(), "{file} {extra:?} was accepted");
        let err: String = stderr(&out).split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ");
        assert!(err.contains(says), "{file} {extra:?}: {err}");
        assert!(!root.join("out").exists(), "nothing written");
        assert_eq!(support::snapshot(root), before, "state unchanged");
    };
    // Provider A's plan used for provider B.
    refused("vp/provider.claude.view.json", &["--provider", "codex"], "not \"codex\"");
    // `rtt verify` says what it was given.
    let verify = rtt_in(root, &["verify", "vp/provider.claude.view.json"]);
    assert!(!verify.status.success() && stderr(&verify).contains("view plan"), "{}", stderr(&verify));
    // Edited after signing: another result for an entry.
    let hash = slice.split("\"result\":\"").nth(1).and_then(|r| r.split('"').next()).expect("a result");
    let other = format!("sha256:{}", "0".repeat(64));
    write(root, "edited.json", &slice.replacen(hash, &other, 1));
    refused("edited.json", &[], "valid signature");
    // Unsigned.
    let unsigned = slice.split(",\"signatures\":").next().expect("head").to_owned()
        + ",\"signatures\":[],\"version\""
        + slice.split(",\"version\"").nth(1).expect("tail");
    write(root, "unsigned.json", &unsigned);
    refused("unsigned.json", &[], "valid signature");
    // A fleet plan other than the one in force, and not newer: its slice is stale.
    let state = rtt_trust::AppliedState {
        plan: rtt_canonical::Sha256::of(b"a newer fleet plan"),
        serial: 7,
        highest_serial: 7,
    };
    fs::create_dir_all(root.join(".rtt/state")).expect("mkdir");
    fs::write(root.join(".rtt/state/applied.json"), state.to_bytes().expect("sealed")).expect("state");
    refused("vp/provider.claude.view.json", &[], "not the applied plan");
}
