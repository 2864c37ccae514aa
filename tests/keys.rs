//! `rtt keys list|add|revoke` and key rotation without downtime, through the
//! binary: a new key is added while the old one is still trusted (plans
//! signed by either verify), the old one is revoked (its signatures are
//! reported `revoked` and never count), a revoked key cannot come back, and
//! revoking below the threshold makes the store reject everything.

mod apply_workspace;
mod support;

use std::path::Path;

use apply_workspace::{Drivers, ok, run, template};

fn json(root: &Path, args: &[&str]) -> serde_json::Value {
    let out = run(root, args, &[]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", support::stderr(&out)))
}

fn key_id(root: &Path, public: &str) -> String {
    let text = std::fs::read_to_string(root.join(public)).expect("public key");
    let key = rtt_trust::PublicKey::parse(&text).expect("key");
    key.id().to_string()
}

fn accepted(root: &Path, plan: &str) -> bool {
    run(root, &["verify", plan], &[]).status.success()
}

#[test]
fn keys_rotate_without_downtime_and_a_revoked_key_never_counts_again() {
    // Trusted: `k` (threshold 1); p1..p3 signed by `k` only.
    let (dir, _) = template(Drivers::BuiltIn, 0);
    let root = dir.path();
    let old = key_id(root, "k.pub");
    let listed = json(root, &["keys", "list", "--format", "json"]);
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!((listed["keys"][0]["status"].as_str(), listed["threshold"].as_u64()), (Some("trusted"), Some(1)));

    // Overlap: the new key is trusted beside the old one.
    ok(root, &["keygen", "--out", "k2"]);
    let new = key_id(root, "k2.pub");
    let added = support::stdout(&ok(root, &["keys", "add", "k2.pub"]));
    assert!(added.contains(&format!("trusted {new}")), "{added}");
    assert!(root.join(format!(".rtt/registry/trust/keys/{new}.pub")).exists());
    let again = run(root, &["keys", "add", "k2.pub"], &[]);
    assert!(
        !again.status.success() && support::stderr(&again).contains("already trusted"),
        "{}",
        support::stderr(&again)
    );
    ok(root, &["sign", "p2.json", "--key", "k2.key"]);
    assert!(accepted(root, "p1.json") && accepted(root, "p2.json"), "both keys count during the overlap");

    // The old key is revoked: what only it signed is refused, and says why.
    let revoked = support::stdout(&ok(root, &["keys", "revoke", &old]));
    assert!(revoked.contains(&format!("revoked {old}")) && !revoked.contains("warning"), "{revoked}");
    let report = json(root, &["verify", "p1.json", "--format", "json"]);
    assert_eq!((report["accepted"].as_bool(), report["check"].as_str()), (Some(false), Some("signatures")), "{report}");
    assert_eq!(report["signatures"]["not_counted"][0]["reason"]["kind"], "revoked", "{report}");
    assert!(accepted(root, "p2.json"), "the new key's signature still counts");
    let listed = json(root, &["keys", "list", "--format", "json"]);
    let status = |id: &str| {
        listed["keys"].as_array().expect("keys").iter().find(|k| k["key_id"] == id).map(|k| k["status"].clone())
    };
    assert_eq!((status(&old), status(&new)), (Some("revoked".into()), Some("trusted".into())), "{listed}");

    // A revoked key cannot come back, not even from a fresh copy of its file.
    std::fs::remove_file(root.join(".rtt/registry/trust/keys/k.pub")).expect("rm");
    let back = run(root, &["keys", "add", "k.pub"], &[]);
    assert!(!back.status.success() && support::stderr(&back).contains("was revoked"), "{}", support::stderr(&back));
    assert!(!accepted(root, "p1.json"));

    // Revoking the last key is never refused, and the store then fails closed.
    let last = support::stdout(&ok(root, &["keys", "revoke", &new]));
    assert!(last.contains("warning: every plan is now rejected"), "{last}");
    assert!(!accepted(root, "p2.json"));
    let listed = support::stdout(&ok(root, &["keys", "list"]));
    assert!(listed.contains("UNUSABLE"), "{listed}");
    let refused = run(root, &["apply", "p2.json"], &[]);
    assert!(!refused.status.success() && !root.join("hosts").exists(), "apply refused, nothing touched");
}

#[test]
fn a_damaged_revocation_list_rejects_every_plan() {
    let (dir, _) = template(Drivers::BuiltIn, 0);
    let root = dir.path();
    assert!(accepted(root, "p1.json"));
    for bad in ["", "{\"revoked\": [\"nothex\"]}", "{\"revoked\": []", "{\"revoked\": [], \"extra\": 1}"] {
        std::fs::write(root.join(".rtt/registry/trust/revoked.json"), bad).expect("write");
        let out = run(root, &["verify", "p1.json"], &[]);
        assert!(!out.status.success(), "{bad:?} must not read as an empty list");
        assert!(support::stderr(&out).contains("revocation list"), "{bad:?}: {}", support::stderr(&out));
    }
}
