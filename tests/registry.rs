//! End-to-end tests of `rtt registry` and `rtt view`: one fixture per
//! attack, each asserting the rejection and that no state changed.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use support::{
    SEARCH, config_with_providers, flip, hash_of, loose_path, project, rtt_in, sha256_hex, signed_plan_with_views,
    snapshot, stderr, stdout, write,
};

#[test]
fn add_get_ls_view_round_trip() {
    let dir = project();
    let root = dir.path();
    let get = rtt_in(root, &["registry", "get", "gateway@1"]);
    assert_eq!(stdout(&get), r#"{"env":{"LOG":"info"},"id":"gateway@1","image":"gw:1"}"#);
    let hash = hash_of(root, "gateway@1");
    assert_eq!(stdout(&rtt_in(root, &["registry", "get", &hash])), stdout(&get));
    let index = fs::read_to_string(root.join(".rtt/registry/index.json")).expect("index");
    assert!(index.starts_with(r#"{"agents":{"gateway@1":"sha256:"#), "{index}");
    let mode = fs::metadata(loose_path(root, &hash)).expect("object").permissions().mode() & 0o777;
    assert_eq!(mode, 0o444, "objects are read-only on disk");

    let view = rtt_in(root, &["view", "gateway@1", "--provider", "claude", "--env", "prod"]);
    assert!(view.status.success(), "{}", stderr(&view));
    assert_eq!(stdout(&view), r#"{"env":{"LOG":"warn","PROVIDER":"claude"},"id":"gateway@1","image":"gw:1"}"#);
    // env > provider > base: search has no env entry, so only the provider's merge shows.
    let view = rtt_in(root, &["view", "search@1", "--provider", "claude", "--env", "prod"]);
    assert_eq!(stdout(&view), r#"{"env":{"PROVIDER":"claude"},"id":"search@1","image":"search:4"}"#);
}

#[test]
fn pack_serves_the_same_bytes_and_batch_reads_many() {
    let dir = project();
    let root = dir.path();
    let before = stdout(&rtt_in(root, &["registry", "get", "gateway@1"]));
    let view_before = stdout(&rtt_in(root, &["view", "gateway@1", "--provider", "claude", "--env", "prod"]));
    let pack = rtt_in(root, &["registry", "pack"]);
    assert!(pack.status.success(), "{}", stderr(&pack));
    assert!(root.join(".rtt/registry/pack/agents.pack").is_file());
    assert!(
        !root
            .join(".rtt/registry/cas/sha256")
            .read_dir()
            .expect("cas")
            .flatten()
            .any(|b| { b.path().read_dir().is_ok_and(|mut files| files.next().is_some()) })
    );
    assert_eq!(stdout(&rtt_in(root, &["registry", "get", "gateway@1"])), before);
    assert_eq!(stdout(&rtt_in(root, &["view", "gateway@1", "--provider", "claude", "--env", "prod"])), view_before);

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rtt"))
        .args(["registry", "get", "--batch"])
        .current_dir(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(b"gateway@1\nnobody@1\nsearch@1\n")?;
            drop(stdin);
            child.wait_with_output()
        })
        .expect("batch runs");
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].ends_with(&format!(" {}", before.len())), "{text}");
    assert_eq!(lines[1], before);
    assert_eq!(lines[2], "nobody@1 missing");
    assert_eq!(lines[4], r#"{"id":"search@1","image":"search:4"}"#);
}

#[test]
fn verify_is_clean_then_lists_corrupt_and_missing() {
    let dir = project();
    let root = dir.path();
    let ok = rtt_in(root, &["registry", "verify"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));

    let hash = hash_of(root, "search@1");
    fs::remove_file(loose_path(root, &hash)).expect("remove");
    let missing = rtt_in(root, &["registry", "verify"]);
    // SPEC §9: a failed check is 1, whatever failed; 2 and 3 mean other things.
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("missing: search@1"), "{}", stderr(&missing));

    flip(&loose_path(root, &hash_of(root, "gateway@1")), 5);
    let both = rtt_in(root, &["registry", "verify", "--format", "json"]);
    assert_eq!(both.status.code(), Some(1), "{}", stderr(&both));
    let report: serde_json::Value = serde_json::from_slice(&both.stdout).expect("one JSON document");
    assert_eq!(report["kind"], "rtt.registry.verify");
    assert_eq!(report["ok"], false);
    assert_eq!(report["missing"].as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(report["corrupt"].as_array().map(Vec::len), Some(1), "{report}");
}

#[test]
fn flipped_byte_in_a_loose_object_is_never_served() {
    let dir = project();
    let root = dir.path();
    flip(&loose_path(root, &hash_of(root, "gateway@1")), 10);
    let state = snapshot(root);
    for args in
        [&["registry", "get", "gateway@1"][..], &["view", "gateway@1", "--provider", "claude", "--env", "prod"][..]]
    {
        let out = rtt_in(root, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stdout(&out).is_empty(), "corrupt bytes must not reach stdout: {}", stdout(&out));
        assert!(stderr(&out).contains("corrupt object"), "{}", stderr(&out));
    }
    assert_eq!(rtt_in(root, &["registry", "verify"]).status.code(), Some(1));
    assert_eq!(snapshot(root), state, "a refused read changes nothing");
}

/// Packs the project, then damages the pack or lut with `damage` and checks
/// that reads fail closed and nothing changes.
fn packed_attack(damage: impl FnOnce(&Path)) {
    let dir = project();
    let root = dir.path();
    assert!(rtt_in(root, &["registry", "pack"]).status.success());
    damage(&root.join(".rtt/registry/pack"));
    let state = snapshot(root);
    let get = rtt_in(root, &["registry", "get", "gateway@1"]);
    let verify = rtt_in(root, &["registry", "verify"]);
    assert_eq!(verify.status.code(), Some(1), "verify must report corruption: {}", stdout(&verify));
    assert!(stderr(&verify).contains("corrupt"), "{}", stderr(&verify));
    if get.status.success() {
        // Only a read of an intact object may succeed, with the right bytes.
        assert_eq!(stdout(&get), r#"{"env":{"LOG":"info"},"id":"gateway@1","image":"gw:1"}"#);
    }
    assert_eq!(snapshot(root), state, "a refused read changes nothing");
}

#[test]
fn flipped_byte_in_the_pack_objects() {
    packed_attack(|pack| flip(&pack.join("agents.pack"), 20));
}

#[test]
fn flipped_byte_in_the_pack_checksum() {
    packed_attack(|pack| {
        let len = fs::metadata(pack.join("agents.pack")).expect("pack").len() as usize;
        flip(&pack.join("agents.pack"), len - 3);
    });
}

#[test]
fn flipped_byte_in_a_lut_entry() {
    packed_attack(|pack| flip(&pack.join("index.lut"), 64 + 2048 + 5));
}

#[test]
fn flipped_byte_in_the_lut_checksum() {
    packed_attack(|pack| {
        let len = fs::metadata(pack.join("index.lut")).expect("lut").len() as usize;
        flip(&pack.join("index.lut"), len - 1);
    });
}

#[test]
fn truncated_pack() {
    packed_attack(|pack| {
        let path = pack.join("agents.pack");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let bytes = fs::read(&path).expect("read");
        fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
    });
}

#[test]
fn interrupted_pack_is_refused_then_repaired() {
    let dir = project();
    let root = dir.path();
    assert!(rtt_in(root, &["registry", "pack"]).status.success());
    let old_lut = fs::read(root.join(".rtt/registry/pack/index.lut")).expect("lut");
    fs::write(root.join("cache.json"), r#"{"id": "cache@2"}"#).expect("write");
    assert!(rtt_in(root, &["registry", "add", "cache.json"]).status.success());
    assert!(rtt_in(root, &["registry", "pack"]).status.success());
    // A crash between renaming the new pack and the new lut leaves the old lut.
    let lut = root.join(".rtt/registry/pack/index.lut");
    fs::set_permissions(&lut, fs::Permissions::from_mode(0o644)).expect("chmod");
    fs::write(&lut, old_lut).expect("old lut back");
    let get = rtt_in(root, &["registry", "get", "cache@2"]);
    assert_eq!(get.status.code(), Some(1));
    assert!(stderr(&get).contains("index.lut was written for"), "{}", stderr(&get));
    let repair = rtt_in(root, &["registry", "pack"]);
    assert!(repair.status.success(), "{}", stderr(&repair));
    assert!(stdout(&repair).contains("rebuilt a lut"), "{}", stdout(&repair));
    assert_eq!(stdout(&rtt_in(root, &["registry", "get", "cache@2"])), r#"{"id":"cache@2"}"#);
    assert_eq!(rtt_in(root, &["registry", "verify"]).status.code(), Some(0));
}

#[test]
fn bad_manifests_leave_the_registry_unchanged() {
    let dir = project();
    let root = dir.path();
    let state = snapshot(root);
    for (name, text, expect) in [
        ("dup.json", "{\"id\": \"x@1\",\n \"id\": \"y@1\"}", "dup.json:2:"),
        ("escape.json", r#"{"id": "../../etc@1"}"#, "not a valid"),
        ("noid.json", r#"{"image": "x"}"#, "\"id\""),
        ("notjson.json", "{id: x}", "notjson.json:1:2"),
    ] {
        fs::write(root.join(name), text).expect("write");
        // The good file comes first: nothing of it may be stored either.
        let out = rtt_in(root, &["registry", "add", "gateway.json", name]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let message = stderr(&out);
        assert!(message.contains(expect) || message.contains("name@version"), "{name}: {message}");
        assert_eq!(snapshot(root), state, "{name} changed the registry");
    }
}

#[test]
fn hostile_ids_and_names_are_refused() {
    let dir = project();
    let root = dir.path();
    for args in [
        &["registry", "get", "../gateway@1"][..],
        &["view", "../../x@1", "--provider", "claude"][..],
        &["view", "gateway@1", "--provider", "../claude"][..],
        &["view", "gateway@1", "--provider", "claude", "--env", "../prod"][..],
    ] {
        let out = rtt_in(root, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stdout(&out));
    }
    write(root, ".rtt/overlays/provider/evil.json", r#"{"agents": {"../x@1": {"merge": {}}}}"#);
    let out = rtt_in(root, &["view", "gateway@1", "--provider", "evil"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not an agent id"), "{}", stderr(&out));
}

#[test]
fn failing_patch_names_the_overlay_and_operation() {
    let dir = project();
    let root = dir.path();
    write(
        root,
        ".rtt/overlays/env/staging.json",
        r#"{"agents": {"gateway@1": {"patch": [{"op": "test", "path": "/image", "value": "gw:2"}]}}}"#,
    );
    let out = rtt_in(root, &["view", "gateway@1", "--provider", "claude", "--env", "staging"]);
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(
        message.contains("staging.json") && message.contains("operation 0") && message.contains("\"test\""),
        "{message}"
    );
}

#[test]
fn gc_keeps_indexed_and_retained_objects_only() {
    let dir = project();
    let root = dir.path();
    // A view result is in the CAS but referenced by nothing yet.
    assert!(rtt_in(root, &["view", "gateway@1", "--provider", "claude"]).status.success());
    let gc = rtt_in(root, &["registry", "gc"]);
    assert!(gc.status.success(), "{}", stderr(&gc));
    assert!(stdout(&gc).contains("kept 2 objects"), "{}", stdout(&gc));
    assert_eq!(stdout(&rtt_in(root, &["registry", "get", "search@1"])), r#"{"id":"search@1","image":"search:4"}"#);
    assert_eq!(rtt_in(root, &["registry", "verify"]).status.code(), Some(0));
    // Packed objects are collected too.
    assert!(rtt_in(root, &["view", "gateway@1", "--provider", "claude"]).status.success());
    assert!(rtt_in(root, &["registry", "pack"]).status.success());
    let gc = rtt_in(root, &["registry", "gc"]);
    assert!(stdout(&gc).contains("kept 2 objects"), "{}", stdout(&gc));
}

/// Writers take turns: with the writer lock held elsewhere, `gc` says it is
/// waiting and does nothing until the lock is released, then runs.
#[test]
fn a_writer_waits_for_the_registry_lock() {
    let dir = project();
    let root = dir.path();
    let lock =
        fs::OpenOptions::new().write(true).open(root.join(".rtt/registry/lock")).expect("add made the lock file");
    lock.lock().expect("lock");
    let mut gc = std::process::Command::new(env!("CARGO_BIN_EXE_rtt"))
        .args(["registry", "gc"])
        .current_dir(root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn rtt");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(gc.try_wait().expect("poll").is_none(), "gc ran while another writer held the lock");
    drop(lock);
    let out = gc.wait_with_output().expect("gc");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("waiting for another process writing"), "{}", stderr(&out));
    assert!(stdout(&out).contains("kept 2 objects"), "{}", stdout(&out));
}

#[test]
fn plans_carry_views_built_from_the_registry() {
    let dir = project();
    let root = dir.path();
    config_with_providers(root);
    let out = rtt_in(root, &["plan", "rtt.yaml", "-o", "plan.json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("plan.json")).expect("plan")).expect("json");
    let index = fs::read(root.join(".rtt/registry/index.json")).expect("index");
    let index_hash = format!("sha256:{}", sha256_hex(&index));
    assert_eq!(plan["inputs"]["registry"], serde_json::json!(index_hash));
    let claude = plan["views"]["claude"].as_array().expect("claude views");
    assert_eq!(claude.len(), 2);
    assert_eq!(claude[0]["id"], "gateway@1");
    assert_eq!(claude[0]["path"], ".claude/agents/gateway@1.json");
    assert_eq!(claude[0]["base"], serde_json::json!(hash_of(root, "gateway@1")));
    assert_eq!(claude[0]["overlays"][0]["layer"], "provider");
    assert_eq!(claude[0]["overlays"][1]["name"], "prod");
    // The result is the view `rtt view` prints, stored in the CAS.
    let view = stdout(&rtt_in(root, &["view", "gateway@1", "--provider", "claude", "--env", "prod"]));
    let result = claude[0]["result"].as_str().expect("result hash");
    assert_eq!(result, format!("sha256:{}", sha256_hex(view.as_bytes())));
    assert_eq!(stdout(&rtt_in(root, &["registry", "get", result])), view);
    assert_eq!(plan["views"]["codex"].as_array().map(Vec::len), Some(1));

    // Same inputs, same bytes.
    let again = rtt_in(root, &["plan", "rtt.yaml", "-o", "again.json"]);
    assert!(again.status.success());
    assert_eq!(fs::read(root.join("plan.json")).ok(), fs::read(root.join("again.json")).ok());
}

#[test]
fn a_provider_agent_without_manifest_fails_before_solving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    fs::write(root.join("search.json"), SEARCH).expect("write");
    assert!(rtt_in(root, &["registry", "add", "search.json"]).status.success());
    write(root, ".rtt/overlays/env/prod.json", r#"{"agents": {}}"#);
    config_with_providers(root);
    let out = rtt_in(root, &["plan", "rtt.yaml", "-o", "plan.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("gateway@1, which has no manifest"), "{}", stderr(&out));
    assert!(!root.join("plan.json").exists());
}

/// Runs `damage`, then checks `rtt verify` rejects the plan for the registry
/// with `reason`, and changes nothing.
fn mix_and_match(damage: impl FnOnce(&Path), reason: &str) {
    let dir = project();
    let root = dir.path();
    signed_plan_with_views(root);
    damage(root);
    let state = snapshot(root);
    let plan_before = fs::read(root.join("plan.json")).expect("plan");
    let verify = rtt_in(root, &["verify", "plan.json"]);
    assert_eq!(verify.status.code(), Some(1), "{}", stdout(&verify));
    assert!(stderr(&verify).contains(reason), "expected {reason:?} in: {}", stderr(&verify));
    assert_eq!(snapshot(root), state, "a rejected plan changes nothing");
    assert_eq!(fs::read(root.join("plan.json")).expect("plan"), plan_before);
}

#[test]
fn verify_rejects_a_swapped_env_overlay() {
    mix_and_match(
        |root| {
            write(root, ".rtt/overlays/env/prod.json", r#"{"agents": {"gateway@1": {"merge": {"image": "evil:1"}}}}"#)
        },
        "the env overlay `prod` is",
    );
}

#[test]
fn verify_rejects_a_swapped_provider_overlay() {
    mix_and_match(
        |root| write(root, ".rtt/overlays/provider/claude.json", r#"{"agents": {}}"#),
        "provider overlay `claude`",
    );
}

#[test]
fn verify_rejects_a_swapped_base_object() {
    mix_and_match(
        |root| {
            let path = loose_path(root, &hash_of(root, "gateway@1"));
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
            fs::write(&path, r#"{"env":{"LOG":"info"},"id":"gateway@1","image":"evil:1"}"#).expect("swap");
        },
        "corrupt object",
    );
}

#[test]
fn verify_rejects_a_repointed_index() {
    mix_and_match(
        |root| {
            fs::write(root.join("gateway2.json"), r#"{"id": "gateway@1", "image": "gw:2"}"#).expect("write");
            assert!(rtt_in(root, &["registry", "add", "gateway2.json"]).status.success());
        },
        "the registry index is",
    );
}

#[test]
fn readers_racing_add_pack_and_gc_always_get_the_right_bytes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = project();
    let root = dir.path().to_owned();
    let registry_dir = root.join(".rtt/registry");
    let wanted: Vec<(rtt_canonical::Sha256, Vec<u8>)> = ["gateway@1", "search@1"]
        .iter()
        .map(|id| {
            let bytes = rtt_in(&root, &["registry", "get", id]).stdout;
            (rtt_canonical::Sha256::of(&bytes), bytes)
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    // Readers as a mount has them: a registry opened once and read for a
    // long time, and ones opened afresh for every read.
    let readers: Vec<_> = [false, true]
        .into_iter()
        .map(|fresh_each_time| {
            let (stop, dir, wanted) = (Arc::clone(&stop), registry_dir.clone(), wanted.clone());
            std::thread::spawn(move || {
                let mut reads = 0usize;
                let mut held = rtt_registry::Registry::open(&dir);
                while !stop.load(Ordering::Relaxed) {
                    if fresh_each_time {
                        held = rtt_registry::Registry::open(&dir);
                    }
                    for (hash, bytes) in &wanted {
                        let got = held.get(hash).unwrap_or_else(|e| panic!("read {reads}: {e}"));
                        assert_eq!(&*got, &bytes[..], "read {reads}: wrong bytes");
                        reads += 1;
                    }
                }
                reads
            })
        })
        .collect();
    for round in 0..12 {
        let name = format!("extra{round}.json");
        fs::write(root.join(&name), format!(r#"{{"id": "extra{round}@1", "image": "x:{round}"}}"#)).expect("write");
        for args in [&["registry", "add", name.as_str()][..], &["registry", "pack"], &["registry", "gc"]] {
            let out = rtt_in(&root, args);
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        assert!(reader.join().expect("a reader failed") > 0);
    }
}
