//! Signed plans end to end through the `rtt` binary: keygen → plan --sign-key
//! → sign → verify, and one fixture per attack. Every attack asserts that
//! `rtt verify` rejects (exit 1) with the reason, and that no file in the
//! scene — plan, trust store, state — changed.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use rtt_canonical::Sha256;
use rtt_trust::{AppliedState, SecretKey};
use support::{repo, rtt_in, stderr, stdout};

/// A directory with a trust store (`trust/`), a state dir (`state/`), secret
/// keys `k<seed>.key` and a plan `plan.json` made by `rtt plan`.
struct Scene {
    dir: PathBuf,
}

impl Scene {
    /// Trusts the keys of `trusted` seeds with `threshold`, and writes an unsigned plan.
    fn new(name: &str, trusted: &[u8], threshold: u32) -> Scene {
        let dir = std::env::temp_dir().join(format!("rtt-trust-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("trust/keys")).unwrap();
        let scene = Scene { dir };
        for seed in trusted {
            scene.trust_key(*seed, &format!("k{seed}.pub"));
        }
        scene.write("trust/policy.json", format!("{{\"threshold\": {threshold}}}\n").as_bytes());
        let config = repo().join("examples/quickstart/rtt.yaml");
        scene.run_ok(&["plan", config.to_str().unwrap(), "-o", "plan.json"]);
        scene
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.path(name), bytes).unwrap();
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_seed(&[seed; 32])
    }

    /// Writes `k<seed>.key` (mode 0600) and returns its name.
    fn secret_key_file(&self, seed: u8) -> String {
        let name = format!("k{seed}.key");
        let path = self.path(&name);
        if !path.exists() {
            std::fs::write(&path, Self::key(seed).to_text().as_bytes()).unwrap();
            #[cfg(unix)]
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        }
        name
    }

    fn trust_key(&self, seed: u8, file_name: &str) {
        self.write(&format!("trust/keys/{file_name}"), Self::key(seed).public_key().to_text().as_bytes());
    }

    fn sign(&self, seed: u8) {
        let key = self.secret_key_file(seed);
        self.run_ok(&["sign", "plan.json", "--key", &key]);
    }

    fn apply_state(&self, serial: u64, highest_serial: u64) {
        let state = AppliedState { plan: Sha256::of(b"some applied plan"), serial, highest_serial };
        rtt_trust::write_applied(&self.path("state"), &state).unwrap();
    }

    fn plan_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.read("plan.json")).unwrap()
    }

    /// Rewrites the plan in canonical form after `edit` (so only the edit differs).
    fn edit_plan(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut plan = self.plan_json();
        edit(&mut plan);
        let mut bytes = rtt_canonical::to_canonical_vec(&plan).unwrap();
        bytes.push(b'\n');
        self.write("plan.json", &bytes);
    }

    fn run(&self, args: &[&str]) -> Output {
        rtt_in(&self.dir, args)
    }

    fn run_ok(&self, args: &[&str]) -> Output {
        let output = rtt_in(&self.dir, args);
        assert!(output.status.success(), "rtt {args:?}: {}", stderr(&output));
        output
    }

    fn verify(&self) -> Output {
        self.run(&["verify", "plan.json", "--trust", "trust", "--state", "state"])
    }

    /// Every file under the scene and its bytes.
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.dir, &mut out);
        out
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The one check of this file: `rtt verify` rejects with every `reasons`
/// fragment in its message, in text and JSON, and changes no file.
fn check_rejected(scene: &Scene, reasons: &[&str]) {
    let before = scene.snapshot();
    let output = scene.verify();
    assert_eq!(output.status.code(), Some(1), "accepted: {}", stdout(&output));
    let message = stderr(&output).split_whitespace().collect::<Vec<_>>().join(" ");
    for reason in reasons {
        assert!(message.contains(reason), "missing {reason:?} in:\n{}", stderr(&output));
    }
    let json = scene.run(&["verify", "plan.json", "--trust", "trust", "--state", "state", "--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(report["accepted"], false);
    assert!(report["reason"].as_str().unwrap().contains(reasons[0]), "{report}");
    assert_eq!(scene.snapshot(), before, "a rejected plan changed files");
}

fn check_accepted(scene: &Scene) -> String {
    let before = scene.snapshot();
    let output = scene.verify();
    assert_eq!(output.status.code(), Some(0), "rejected: {}", stderr(&output));
    assert_eq!(scene.snapshot(), before, "verify changed files");
    stdout(&output)
}

// ---- the happy path ----

#[test]
fn keygen_then_plan_with_sign_key_then_verify_is_accepted() {
    let scene = Scene::new("happy", &[], 1);
    let keygen = scene.run_ok(&["keygen", "--out", "ops"]);
    let key_id = stdout(&keygen).lines().next().unwrap().strip_prefix("key_id ").unwrap().to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(scene.path("ops.key")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "secret key mode {mode:o}");
    }
    std::fs::copy(scene.path("ops.pub"), scene.path("trust/keys/ops.pub")).unwrap();
    let config = repo().join("examples/quickstart/rtt.yaml");
    let planned = scene.run_ok(&["plan", config.to_str().unwrap(), "--sign-key", "ops.key", "-o", "plan.json"]);
    assert!(stdout(&planned).contains(&format!("signed by {key_id}")), "{}", stdout(&planned));
    let accepted = check_accepted(&scene);
    assert!(accepted.contains("plan.json: accepted"), "{accepted}");
    assert!(accepted.contains(&key_id), "{accepted}");

    let json = scene.run(&["verify", "plan.json", "--trust", "trust", "--state", "state", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(report["accepted"], true);
    assert_eq!(report["signed_by"], serde_json::json!([key_id]));
    assert_eq!(report["serial"], 1);
}

#[test]
fn verify_uses_the_default_trust_and_state_directories() {
    let scene = Scene::new("defaults", &[1], 1);
    scene.sign(1);
    std::fs::create_dir_all(scene.path(".rtt/registry")).unwrap();
    std::fs::rename(scene.path("trust"), scene.path(".rtt/registry/trust")).unwrap();
    let output = scene.run(&["verify", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("nothing applied yet (.rtt/state)"), "{}", stdout(&output));
}

#[test]
fn keygen_never_overwrites_a_key() {
    let scene = Scene::new("keygen-twice", &[], 1);
    scene.run_ok(&["keygen", "--out", "ops"]);
    let secret = scene.read("ops.key");
    let again = scene.run(&["keygen", "--out", "ops"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("the file exists"), "{}", stderr(&again));
    assert_eq!(scene.read("ops.key"), secret);
}

#[test]
fn signing_twice_with_one_key_gives_identical_bytes_and_one_signature() {
    let scene = Scene::new("sign-twice", &[1, 2], 2);
    scene.sign(1);
    let once = scene.read("plan.json");
    scene.sign(1);
    assert_eq!(scene.read("plan.json"), once, "re-signing changed the file");
    scene.sign(2);
    let signatures = scene.plan_json()["signatures"].as_array().unwrap().clone();
    assert_eq!(signatures.len(), 2);
    let ids: Vec<&str> = signatures.iter().map(|s| s["key_id"].as_str().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "signatures not sorted by key_id: {ids:?}");
    let accepted = check_accepted(&scene);
    assert!(accepted.contains("2 valid from distinct trusted keys, policy needs 2"), "{accepted}");
}

#[test]
fn sign_with_output_leaves_the_input_alone() {
    let scene = Scene::new("sign-output", &[1], 1);
    let unsigned = scene.read("plan.json");
    let key = scene.secret_key_file(1);
    scene.run_ok(&["sign", "plan.json", "--key", &key, "-o", "signed.json"]);
    assert_eq!(scene.read("plan.json"), unsigned);
    let output = scene.run(&["verify", "signed.json", "--trust", "trust", "--state", "state"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[cfg(unix)]
#[test]
fn a_secret_key_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let scene = Scene::new("shared-key", &[1], 1);
    let key = scene.secret_key_file(1);
    std::fs::set_permissions(scene.path(&key), std::fs::Permissions::from_mode(0o644)).unwrap();
    let unsigned = scene.read("plan.json");
    let output = scene.run(&["sign", "plan.json", "--key", &key]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("chmod 600"), "{}", stderr(&output));
    assert_eq!(scene.read("plan.json"), unsigned);
}

#[test]
fn a_plan_above_the_applied_serial_is_accepted() {
    let scene = Scene::new("fresh", &[1], 1);
    let config = repo().join("examples/quickstart/rtt.yaml");
    let key = scene.secret_key_file(1);
    scene.run_ok(&["plan", config.to_str().unwrap(), "--previous", "plan.json", "--sign-key", &key, "-o", "plan.json"]);
    scene.apply_state(1, 1);
    let accepted = check_accepted(&scene);
    assert!(accepted.contains("2 is above the highest applied serial 1"), "{accepted}");
}

// ---- attacks: one fixture each ----

#[test]
fn a_placement_changed_after_signing_is_rejected() {
    let scene = Scene::new("tampered-placement", &[1], 1);
    scene.sign(1);
    scene.edit_plan(|plan| {
        let replicas = &mut plan["placements"][0]["replicas"];
        *replicas = serde_json::json!(replicas.as_u64().unwrap() + 1);
    });
    check_rejected(&scene, &["0 valid signature(s)", "does not verify"]);
}

#[test]
fn a_serial_raised_after_signing_to_dodge_rollback_is_rejected() {
    let scene = Scene::new("tampered-serial", &[1], 1);
    scene.sign(1);
    scene.apply_state(1, 1);
    scene.edit_plan(|plan| plan["serial"] = serde_json::json!(2));
    check_rejected(&scene, &["0 valid signature(s)", "does not verify"]);
}

#[test]
fn a_signature_by_an_unknown_key_is_rejected() {
    let scene = Scene::new("unknown-key", &[1], 1);
    scene.sign(9);
    check_rejected(&scene, &["0 valid signature(s)", "no trusted key has this id"]);
}

#[test]
fn a_signature_relabelled_with_another_trusted_key_id_is_rejected() {
    let scene = Scene::new("relabelled", &[1, 2], 2);
    scene.sign(1);
    let other = Scene::key(2).public_key().id().to_string();
    scene.edit_plan(|plan| {
        let copy = plan["signatures"][0].clone();
        let mut relabelled = copy.clone();
        relabelled["key_id"] = serde_json::json!(other);
        plan["signatures"] = serde_json::json!([copy, relabelled]);
    });
    check_rejected(&scene, &["1 valid signature(s)", "needs 2", "does not verify"]);
}

#[test]
fn one_key_in_two_pub_files_does_not_pad_a_threshold() {
    let scene = Scene::new("key-listed-twice", &[1, 2], 2);
    scene.trust_key(1, "k1-copy.pub");
    scene.sign(1);
    check_rejected(&scene, &["1 valid signature(s)", "needs 2"]);
}

#[test]
fn one_signature_listed_twice_does_not_pad_a_threshold() {
    let scene = Scene::new("signature-twice", &[1, 2], 2);
    scene.sign(1);
    scene.edit_plan(|plan| {
        let signature = plan["signatures"][0].clone();
        plan["signatures"] = serde_json::json!([signature.clone(), signature]);
    });
    check_rejected(&scene, &["1 valid signature(s)", "needs 2", "already counted"]);
    let json = scene.run(&["verify", "plan.json", "--trust", "trust", "--state", "state", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(report["check"], "signatures");
    assert_eq!(report["signatures"]["signed_by"], serde_json::json!([Scene::key(1).public_key().id().to_string()]));
    assert_eq!(report["signatures"]["not_counted"][0]["reason"]["kind"], "already_counted");
}

#[test]
fn a_threshold_only_duplicate_keys_could_meet_is_refused() {
    let scene = Scene::new("threshold-unreachable", &[1], 2);
    scene.trust_key(1, "k1-copy.pub");
    scene.sign(1);
    check_rejected(&scene, &["threshold 2 but only 1 distinct trusted key"]);
}

#[test]
fn a_replayed_older_serial_is_rejected() {
    let scene = Scene::new("replay-older", &[1], 1);
    scene.sign(1);
    scene.apply_state(3, 3);
    check_rejected(&scene, &["serial 1 is not above the highest applied serial 3", "rollback"]);
}

#[test]
fn a_replayed_equal_serial_is_rejected() {
    let scene = Scene::new("replay-equal", &[1], 1);
    scene.sign(1);
    scene.apply_state(1, 1);
    check_rejected(&scene, &["serial 1 is not above the highest applied serial 1"]);
}

#[test]
fn serials_spent_before_a_rollback_stay_spent() {
    let scene = Scene::new("replay-after-rollback", &[1], 1);
    scene.sign(1);
    // Plan 0 is in force again after a rollback, but serial 4 was applied once.
    scene.apply_state(0, 4);
    check_rejected(&scene, &["serial 1 is not above the highest applied serial 4"]);
}

#[test]
fn too_few_signatures_are_rejected() {
    let scene = Scene::new("threshold", &[1, 2, 3], 2);
    scene.sign(1);
    check_rejected(&scene, &["1 valid signature(s) from distinct trusted keys, the policy needs 2"]);
}

#[test]
fn an_unsigned_plan_is_rejected() {
    let scene = Scene::new("unsigned", &[1], 1);
    check_rejected(&scene, &["0 valid signature(s)"]);
}

#[test]
fn a_signature_with_an_unknown_algorithm_does_not_count() {
    let scene = Scene::new("unknown-alg", &[1], 1);
    scene.sign(1);
    scene.edit_plan(|plan| plan["signatures"][0]["alg"] = serde_json::json!("ed448"));
    check_rejected(&scene, &["0 valid signature(s)", "unknown algorithm \"ed448\""]);
}

#[test]
fn a_reformatted_plan_is_rejected() {
    let scene = Scene::new("reformatted", &[1], 1);
    scene.sign(1);
    let pretty = serde_json::to_vec_pretty(&scene.plan_json()).unwrap();
    scene.write("plan.json", &pretty);
    check_rejected(&scene, &["not in canonical form"]);
}

#[test]
fn a_plan_with_a_duplicated_key_is_rejected() {
    let scene = Scene::new("duplicate-key", &[1], 1);
    scene.sign(1);
    // A second "serial" that a last-wins parser would read: never accepted.
    let text = String::from_utf8(scene.read("plan.json")).unwrap().replacen("{", "{\"serial\":99,", 1);
    scene.write("plan.json", text.as_bytes());
    check_rejected(&scene, &["not a valid rtt plan", "duplicate field"]);
}

#[test]
fn a_missing_trust_store_is_rejected_with_how_to_make_one() {
    let scene = Scene::new("no-trust", &[1], 1);
    scene.sign(1);
    std::fs::remove_dir_all(scene.path("trust")).unwrap();
    check_rejected(&scene, &["trust is not a directory", "policy.json"]);
}

#[test]
fn a_missing_policy_is_rejected_with_how_to_fix_it() {
    let scene = Scene::new("no-policy", &[1], 1);
    scene.sign(1);
    std::fs::remove_file(scene.path("trust/policy.json")).unwrap();
    check_rejected(&scene, &["policy.json does not exist", "{\"threshold\": 1}"]);
}

#[test]
fn a_malformed_policy_is_rejected_with_how_to_fix_it() {
    for (name, policy) in [
        ("zero", &br#"{"threshold": 0}"#[..]),
        ("string", br#"{"threshold": "1"}"#),
        ("extra", br#"{"threshold": 1, "keys": ["*"]}"#),
        ("garbage", b"threshold=1"),
    ] {
        let scene = Scene::new(&format!("bad-policy-{name}"), &[1], 1);
        scene.sign(1);
        scene.write("trust/policy.json", policy);
        check_rejected(&scene, &["failed to load the trust policy", "{\"threshold\": N}"]);
    }
}

#[test]
fn a_weak_trusted_key_is_rejected() {
    let scene = Scene::new("weak-key", &[1], 1);
    scene.sign(1);
    // A point of order 8 ("Taming the many EdDSAs", vector 0): a signature
    // with S = 0 and R = A verifies under it for almost any message.
    scene.write(
        "trust/keys/weak.pub",
        b"rtt-ed25519-public:c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa\n",
    );
    check_rejected(&scene, &["weak.pub", "weak (a point of small order)"]);
}

#[test]
fn a_malformed_trusted_key_is_rejected() {
    let scene = Scene::new("bad-key", &[1], 1);
    scene.sign(1);
    scene.write("trust/keys/typo.pub", b"rtt-ed25519-public:not-hex\n");
    check_rejected(&scene, &["typo.pub", "expected one line"]);
}

#[test]
fn a_corrupt_state_is_rejected_not_treated_as_empty() {
    let scene = Scene::new("corrupt-state", &[1], 1);
    scene.sign(1);
    std::fs::create_dir_all(scene.path("state")).unwrap();
    scene.write("state/applied.json", b"{\"serial\": \"lots\"}");
    check_rejected(&scene, &["failed to read the applied state"]);
}

#[test]
fn a_missing_plan_is_rejected() {
    let scene = Scene::new("missing-plan", &[1], 1);
    std::fs::remove_file(scene.path("plan.json")).unwrap();
    check_rejected(&scene, &["failed to read plan.json"]);
}
