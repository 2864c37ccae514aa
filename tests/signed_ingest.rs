//! Signed ingest (issue 21), through the binary: under a `registry_threshold`
//! of 2, manifests vouched for by two registry signers are planned and
//! served, and each attack on the registry's trust files is refused by
//! `rtt plan`, `rtt view` and `rtt materialize` with `.rtt` unchanged.

mod support;

use std::fs;
use std::path::Path;

use support::{project, rtt_in, signed_plan_with_views, stderr, stdout, write};

/// Words of the output, miette's wrapping undone.
fn words(text: &str) -> String {
    text.split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ")
}

fn ok(root: &Path, args: &[&str]) -> String {
    let out = rtt_in(root, args);
    assert!(out.status.success(), "rtt {args:?}: {}", stderr(&out));
    stdout(&out)
}

fn key_id(root: &Path, name: &str) -> String {
    let text = fs::read_to_string(root.join(format!("{name}.pub"))).expect("public key");
    rtt_trust::PublicKey::parse(&text).expect("key").id().to_string()
}

/// The project of tests/views.rs (a signed plan with views of two
/// manifests), plus registry signers r1, r2, r3 (keys made, r1 and r2
/// trusted as registry signers, r3 not) and `registry_threshold` 2.
fn registry_with_signers() -> tempfile::TempDir {
    let dir = project();
    let root = dir.path();
    signed_plan_with_views(root);
    for name in ["r1", "r2", "r3"] {
        ok(root, &["keygen", "--out", name]);
    }
    trust_signer(root, "r1");
    trust_signer(root, "r2");
    fs::write(root.join(".rtt/registry/trust/policy.json"), r#"{"threshold": 1, "registry_threshold": 2}"#)
        .expect("policy");
    dir
}

fn trust_signer(root: &Path, name: &str) {
    let added = ok(root, &["keys", "add", "--registry", &format!("{name}.pub")]);
    assert!(added.contains(&format!("registry-keys/{}.pub", key_id(root, name))), "{added}");
}

#[test]
fn keys_add_registry_trusts_a_registry_signer_apart_from_plan_signers() {
    let dir = registry_with_signers();
    let root = dir.path();
    let listing = ok(root, &["keys", "list"]);
    for name in ["r1", "r2"] {
        assert!(listing.contains(&format!("registry-keys/{}.pub", key_id(root, name))), "{listing}");
    }
    assert!(listing.contains("registry threshold 2") && listing.contains("threshold 1"), "{listing}");
    // A registry signer is not a plan signer: a plan r1 signs is not accepted.
    ok(root, &["registry", "sign", "--sign-key", "r1.key", "--all"]);
    ok(root, &["registry", "sign", "--sign-key", "r2.key", "--all"]);
    ok(root, &["plan", "rtt.yaml", "-o", "by-r1.json", "--sign-key", "r1.key"]);
    let verify = rtt_in(root, &["verify", "by-r1.json"]);
    let err = words(&format!("{}{}", stdout(&verify), stderr(&verify)));
    assert!(!verify.status.success() && err.contains("0 valid signature(s) from distinct trusted keys"), "{err}");
    // The same key twice in one set is refused; in the other set it is allowed.
    let again = rtt_in(root, &["keys", "add", "--registry", "r1.pub"]);
    assert!(!again.status.success() && words(&stderr(&again)).contains("already trusted (registry-keys/"));
    ok(root, &["keys", "add", "r1.pub"]);
}

fn targets(root: &Path, name: &str) -> std::path::PathBuf {
    root.join(format!(".rtt/registry/targets/{}.json", key_id(root, name)))
}

/// `rtt plan`, `rtt view` and `rtt materialize` of the signed plan all
/// refuse, saying `says`, and nothing under `.rtt` changes.
fn refused_everywhere(root: &Path, says: &str) {
    let before = support::snapshot(root);
    for args in [
        &["plan", "rtt.yaml", "-o", "refused.json"][..],
        &["view", "search@1", "--provider", "claude"][..],
        &["materialize", "--plan", "plan.json", "out"][..],
        &["verify", "plan.json"][..],
    ] {
        let out = rtt_in(root, args);
        assert!(!out.status.success(), "rtt {args:?} accepted");
        let err = words(&format!("{}{}", stdout(&out), stderr(&out)));
        assert!(err.contains(says), "rtt {args:?}: {err}");
    }
    assert!(!root.join("refused.json").exists() && !root.join("out").exists(), "nothing written");
    assert_eq!(support::snapshot(root), before, ".rtt unchanged");
}

#[test]
fn manifests_two_signers_vouch_for_are_planned_and_served() {
    let dir = registry_with_signers();
    let root = dir.path();
    refused_everywhere(root, "has 0 of the 2 registry signature(s) it needs");
    let signed = ok(root, &["registry", "sign", "--sign-key", "r1.key", "--all"]);
    assert!(signed.contains("signed 2 manifest(s)") && signed.contains("version 1"), "{signed}");
    refused_everywhere(root, "has 1 of the 2 registry signature(s) it needs");
    ok(root, &["registry", "sign", "--sign-key", "r2.key", "gateway@1", "search@1"]);
    ok(root, &["plan", "rtt.yaml", "-o", "again.json"]);
    ok(root, &["view", "search@1", "--provider", "claude"]);
    ok(root, &["materialize", "--plan", "plan.json", "out"]);
    let verified = ok(root, &["verify", "plan.json"]);
    assert!(verified.contains("manifests signed by at least 2 registry signer(s)"), "{verified}");
    let verify = ok(root, &["registry", "verify"]);
    assert!(verify.contains("2 of 2 indexed manifests signed"), "{verify}");
    // A manifest added and vouched for by one signer only is refused again.
    write(root, "gateway2.json", &support::GATEWAY.replace("gw:1", "gw:2"));
    let added = ok(root, &["registry", "add", "gateway2.json", "--sign-key", "r1.key"]);
    assert!(added.contains("signed 1 manifest(s)") && added.contains("version 2"), "{added}");
    let out = rtt_in(root, &["plan", "rtt.yaml", "-o", "p3.json"]);
    let err = words(&stderr(&out));
    assert!(!out.status.success() && err.contains("gateway@1 has 1 of the 2") && err.contains("instead"), "{err}");
    let verify = rtt_in(root, &["registry", "verify"]);
    assert!(!verify.status.success() && stderr(&verify).contains("unsigned: manifest"), "{}", stderr(&verify));
}

#[test]
fn a_key_that_is_not_a_registry_signer_changes_nothing() {
    let dir = registry_with_signers();
    let root = dir.path();
    let before = support::snapshot(root);
    write(root, "new.json", r#"{"id": "new@1", "image": "new:1"}"#);
    for args in [
        &["registry", "add", "new.json", "--sign-key", "r3.key"][..],
        &["registry", "add", "new.json", "--sign-key", "k.key"][..],
        &["registry", "sign", "--sign-key", "r3.key", "--all"][..],
    ] {
        let out = rtt_in(root, args);
        assert!(!out.status.success(), "rtt {args:?} accepted");
        assert!(words(&stderr(&out)).contains("is not a registry signer"), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(support::snapshot(root), before, "the index and the targets files are as they were");
}

#[test]
fn every_attack_on_the_registrys_trust_files_is_refused_with_state_unchanged() {
    // An unknown key: r3's file, signed while it was briefly trusted.
    let dir = registry_with_signers();
    let root = dir.path();
    trust_signer(root, "r3");
    ok(root, &["registry", "sign", "--sign-key", "r3.key", "--all"]);
    fs::remove_file(root.join(format!(".rtt/registry/trust/registry-keys/{}.pub", key_id(root, "r3"))))
        .expect("untrust r3");
    ok(root, &["registry", "sign", "--sign-key", "r1.key", "--all"]);
    refused_everywhere(root, &format!("signer {} is not a registry signer", key_id(root, "r3")));

    // A revoked key: r1, r2 and r3 are signers and sign; r2 is revoked.
    trust_signer(root, "r3");
    ok(root, &["registry", "sign", "--sign-key", "r2.key", "--all"]);
    ok(root, &["plan", "rtt.yaml", "-o", "three.json"]);
    fs::remove_file(targets(root, "r3")).expect("r3 vouches no more");
    ok(root, &["keys", "revoke", &key_id(root, "r2")]);
    refused_everywhere(root, &format!("signer {} is revoked", key_id(root, "r2")));

    // Threshold padding: r1's file copied under r3's name, r1's key under a second name.
    fs::copy(targets(root, "r1"), targets(root, "r3")).expect("copy");
    fs::copy(root.join("r1.pub"), root.join(".rtt/registry/trust/registry-keys/r1-again.pub")).expect("copy");
    refused_everywhere(root, &format!("named for key {} but its signer is {}", key_id(root, "r3"), key_id(root, "r1")));
}

#[test]
fn replayed_and_expired_targets_files_are_refused() {
    let dir = registry_with_signers();
    let root = dir.path();
    ok(root, &["registry", "sign", "--sign-key", "r1.key", "--all"]);
    ok(root, &["registry", "sign", "--sign-key", "r2.key", "--all"]);
    ok(root, &["plan", "rtt.yaml", "-o", "v1.json"]);
    let old = [targets(root, "r1"), targets(root, "r2"), root.join(".rtt/registry/index.json")]
        .map(|path| (fs::read(&path).expect("read"), path));

    // A new gateway manifest, vouched for by both (version 2 of each file).
    write(root, "gateway2.json", &support::GATEWAY.replace("gw:1", "gw:2"));
    ok(root, &["registry", "add", "gateway2.json", "--sign-key", "r1.key"]);
    ok(root, &["registry", "sign", "--sign-key", "r2.key", "gateway@1"]);
    ok(root, &["plan", "rtt.yaml", "-o", "v2.json"]);
    // Whoever can write the registry puts the old index and files back, to serve the old manifest.
    for (bytes, path) in &old {
        fs::write(path, bytes).expect("restore");
    }
    refused_everywhere(root, "version 1 is older than version 2 seen before (a replay)");

    // Freeze: files that expired vouch for nothing.
    let dir = registry_with_signers();
    let root = dir.path();
    ok(root, &["registry", "sign", "--sign-key", "r1.key", "--all", "--expires-in", "1s"]);
    ok(root, &["registry", "sign", "--sign-key", "r2.key", "--all", "--expires-in", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    refused_everywhere(root, "expired at");
    // Signing again renews a signer's file, keeping what it vouched for.
    let renewed = ok(root, &["registry", "sign", "--sign-key", "r1.key", "search@1"]);
    assert!(renewed.contains("2 in all") && renewed.contains("version 2"), "{renewed}");
}

#[test]
fn a_signers_own_file_changed_behind_its_back_is_not_signed_over() {
    let dir = registry_with_signers();
    let root = dir.path();
    ok(root, &["registry", "sign", "--sign-key", "r1.key", "search@1"]);
    let path = targets(root, "r1");
    let text = fs::read_to_string(&path).expect("targets");
    fs::write(&path, text.replace("\"version\":1", "\"version\":9")).expect("edit");
    let out = rtt_in(root, &["registry", "sign", "--sign-key", "r1.key", "gateway@1"]);
    assert!(!out.status.success() && words(&stderr(&out)).contains("does not verify"), "{}", stderr(&out));
}
