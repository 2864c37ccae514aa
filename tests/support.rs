//! Shared helpers for the end-to-end tests: run the real `rtt` binary.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (integration tests run with it as the working directory).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `cue` tool the tests run: `RTT_CUE`, else `cue` on PATH (scripts/setup
/// installs the pinned one). Missing is a failure, never a skip.
pub fn cue_tool() -> PathBuf {
    rtt_schema::cue::find_cue().expect("no `cue` tool: run scripts/setup, or set RTT_CUE")
}

/// `rtt ARGS...` run from the repository root.
pub fn rtt(args: &[&str]) -> Output {
    rtt_in(&repo(), args)
}

/// `rtt ARGS...` run from `dir`.
pub fn rtt_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtt"))
        .args(args)
        .current_dir(dir)
        .env("RTT_CUE", cue_tool())
        .env_remove("NO_COLOR")
        .output()
        .expect("the rtt binary runs")
}

/// Stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Compares `actual` with the snapshot at `path`; with `RTT_BLESS=1` rewrites it.
pub fn check_snapshot(path: &Path, actual: &str) -> Result<(), String> {
    if std::env::var_os("RTT_BLESS").is_some() {
        std::fs::write(path, actual).map_err(|e| format!("writing {}: {e}", path.display()))?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(path)
        .map_err(|e| format!("missing snapshot {} ({e}); run with RTT_BLESS=1 to create it", path.display()))?;
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "{} differs (RTT_BLESS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        ))
    }
}

// Registry fixtures shared by tests/registry.rs and tests/views.rs.

/// A gateway manifest.
pub const GATEWAY: &str = r#"{"id": "gateway@1", "image": "gw:1", "env": {"LOG": "info"}}"#;
/// A search manifest.
pub const SEARCH: &str = r#"{"id": "search@1", "image": "search:4"}"#;

/// A project directory with two manifests added, a provider and an env overlay.
pub fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("gateway.json"), GATEWAY).expect("write");
    fs::write(dir.path().join("search.json"), SEARCH).expect("write");
    let out = rtt_in(dir.path(), &["registry", "add", "gateway.json", "search.json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    write(
        dir.path(),
        ".rtt/overlays/provider/claude.json",
        r#"{"agents": {"*": {"merge": {"env": {"PROVIDER": "claude"}}}}}"#,
    );
    write(
        dir.path(),
        ".rtt/overlays/env/prod.json",
        r#"{"agents": {"gateway@1": {"patch": [{"op": "replace", "path": "/env/LOG", "value": "warn"}]}}}"#,
    );
    dir
}

/// Writes `text` at `root/relative`, creating directories.
pub fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, text).expect("write");
}

/// Every file under `.rtt` with its bytes: "unchanged state" is this map being equal.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.insert(path.clone(), fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&root.join(".rtt"), &mut out);
    out
}

/// Flips one byte of a read-only file in place (what a disk or an attacker might do).
pub fn flip(path: &Path, at: usize) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut bytes = fs::read(path).expect("read");
    let at = at.min(bytes.len() - 1);
    bytes[at] ^= 0x01;
    fs::write(path, bytes).expect("write");
}

/// Where the loose object `hash` lives under `root/.rtt`.
pub fn loose_path(root: &Path, hash: &str) -> PathBuf {
    let hex = hash.trim_start_matches("sha256:");
    root.join(".rtt/registry/cas/sha256").join(&hex[..2]).join(format!("{hex}.json"))
}

/// The manifest hash the index holds for `id`.
pub fn hash_of(root: &Path, id: &str) -> String {
    let out = rtt_in(root, &["registry", "ls"]);
    stdout(&out).lines().find_map(|l| l.strip_prefix(&format!("{id} ")).map(str::to_owned)).expect("id in the index")
}

/// A two-host config whose `claude` and `codex` providers show the manifests.
pub fn config_with_providers(root: &Path) {
    let config = fs::read_to_string(repo().join("tests/data/config/err/env-escapes.yaml")).expect("fixture");
    let config = config.replace("env: \"..\"", "env: prod").replace(
        "claude: {dir: .claude/agents, agents: \"*\"}",
        "claude: {dir: .claude/agents, agents: \"*\"}\n  codex: {dir: .codex/agents, agents: [search@1]}",
    );
    fs::write(root.join("rtt.yaml"), config).expect("write config");
}

/// A signed plan with views, a trust store that trusts its key, in `root`.
pub fn signed_plan_with_views(root: &Path) {
    config_with_providers(root);
    let keygen = rtt_in(root, &["keygen", "--out", "k"]);
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    let keys = root.join(".rtt/registry/trust/keys");
    fs::create_dir_all(&keys).expect("mkdir");
    fs::copy(root.join("k.pub"), keys.join("k.pub")).expect("trust the key");
    fs::write(root.join(".rtt/registry/trust/policy.json"), r#"{"threshold": 1}"#).expect("policy");
    let plan = rtt_in(root, &["plan", "rtt.yaml", "-o", "plan.json", "--sign-key", "k.key"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let verify = rtt_in(root, &["verify", "plan.json"]);
    assert!(verify.status.success(), "{}{}", stdout(&verify), stderr(&verify));
    assert!(stdout(&verify).contains("views match the registry"), "{}", stdout(&verify));
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    rtt_canonical::Sha256::of(bytes).hex()
}

/// The Python interpreter itself, by absolute path: a version manager's
/// `python3` on `PATH` (pyenv here) is a shell script that starts other
/// programs, which a driver sandbox without `exec` refuses.
pub fn python() -> String {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let out = std::process::Command::new("python3")
                .args(["-c", "import sys; print(sys.executable)"])
                .output()
                .expect("python3 runs");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .clone()
}

/// The path of `program` on `PATH`, if it is there.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|dir| dir.join(program)).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|candidate| candidate.is_file())
}
