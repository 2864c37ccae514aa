//! Architecture invariants that a machine can check (see ARCHITECTURE.md):
//! the direction of dependencies between the workspace crates, where files
//! are written from, and the shape of the binary.

use std::collections::BTreeSet;

/// Every crate a manifest's `[dependencies]` names (dev-dependencies may differ).
fn dependencies(manifest: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(manifest)).unwrap();
    let mut in_dependencies = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if in_dependencies && !line.is_empty() && !line.starts_with('#') {
            found.insert(line.split(['.', ' ', '=']).next().unwrap_or_default().to_owned());
        }
    }
    found
}

/// The rtt crates among them.
fn rtt_dependencies(manifest: &str) -> BTreeSet<String> {
    dependencies(manifest).into_iter().filter(|name| name.starts_with("rtt-")).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn canonical_and_solver_are_foundations_and_schema_sits_on_canonical() {
    assert_eq!(rtt_dependencies("canonical/Cargo.toml"), set(&[]), "canonical JSON and hashes are the bottom");
    assert_eq!(rtt_dependencies("schema/Cargo.toml"), set(&["rtt-canonical"]), "the config is the pipeline's start");
    assert_eq!(rtt_dependencies("solver/Cargo.toml"), set(&[]), "the solver knows nothing of agents or hosts");
    assert_eq!(rtt_dependencies("durable/Cargo.toml"), set(&["rtt-canonical"]), "durable files know only hashes");
}

#[test]
fn the_plan_format_sits_on_canonical_only() {
    assert_eq!(rtt_dependencies("plan/Cargo.toml"), set(&["rtt-canonical"]), "a plan is bytes and types, not planning");
}

#[test]
fn only_the_binary_depends_on_the_planner() {
    // Reading, signing, applying and serving plans must never build HiGHS.
    let below = ["schema", "plan", "instances", "registry", "trust", "vfs", "apply"];
    for name in below {
        let manifest = format!("{name}/Cargo.toml");
        let found = rtt_dependencies(&manifest);
        assert!(!found.contains("rtt-planner") && !found.contains("rtt-solver"), "{manifest}: {found:?}");
    }
    // The binary asks the planner; it names no solver type of its own.
    assert!(!rtt_dependencies("Cargo.toml").contains("rtt-solver"), "the binary depends on rtt-solver");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in rust_files(&root.join("src")) {
        assert!(!product_code(&file).contains("rtt_solver"), "{} names rtt_solver", file.display());
    }
    // …and HiGHS comes in through the solver alone.
    assert!(dependencies("solver/Cargo.toml").contains("highs"), "the check reads the manifests");
    for name in below.into_iter().chain(["planner"]) {
        let found = dependencies(&format!("{name}/Cargo.toml"));
        assert!(!found.contains("good_lp") && !found.contains("highs"), "{name}/Cargo.toml names the MILP engine");
    }
}

#[test]
fn planner_sits_on_schema_plan_and_solver_only() {
    assert_eq!(rtt_dependencies("planner/Cargo.toml"), set(&["rtt-canonical", "rtt-plan", "rtt-schema", "rtt-solver"]));
    assert_eq!(rtt_dependencies("instances/Cargo.toml"), set(&["rtt-schema"]));
}

#[test]
fn registry_sits_on_canonical_durable_plan_and_schema_only() {
    assert_eq!(
        rtt_dependencies("registry/Cargo.toml"),
        set(&["rtt-canonical", "rtt-durable", "rtt-plan", "rtt-schema"]),
        "the registry stores bytes and builds the views a plan carries; it knows nothing of planning"
    );
}

#[test]
fn trust_sits_on_canonical_durable_and_plan_only() {
    // Verification needs the plan format (rtt-plan), the canonical JSON
    // (rtt-canonical) and the one atomic writer (rtt-durable); not the
    // config, not the registry.
    assert_eq!(rtt_dependencies("trust/Cargo.toml"), set(&["rtt-canonical", "rtt-durable", "rtt-plan"]));
}

#[test]
fn vfs_sits_on_canonical_durable_plan_and_registry_only() {
    assert_eq!(rtt_dependencies("vfs/Cargo.toml"), set(&["rtt-canonical", "rtt-durable", "rtt-plan", "rtt-registry"]));
}

#[test]
fn only_canonical_hashes() {
    // Anything hashed or signed goes through rtt-canonical: no other crate
    // names a hash or JCS implementation of its own.
    for name in [
        "durable",
        "schema",
        "plan",
        "solver",
        "planner",
        "instances",
        "registry",
        "trust",
        "vfs",
        "apply",
        "telemetry",
        "ha",
        ".",
    ] {
        let found = dependencies(&format!("{name}/Cargo.toml"));
        for engine in ["sha2", "serde_json_canonicalizer"] {
            assert!(!found.contains(engine), "{name}/Cargo.toml depends on {engine}");
        }
    }
}

#[test]
fn nothing_below_the_binary_depends_on_trust() {
    for manifest in [
        "schema/Cargo.toml",
        "plan/Cargo.toml",
        "solver/Cargo.toml",
        "planner/Cargo.toml",
        "instances/Cargo.toml",
        "registry/Cargo.toml",
        "vfs/Cargo.toml",
    ] {
        assert!(!rtt_dependencies(manifest).contains("rtt-trust"), "{manifest} depends on rtt-trust");
    }
}

#[test]
fn apply_sits_on_schema_plan_durable_and_trust_and_only_the_binary_uses_it() {
    assert_eq!(
        rtt_dependencies("apply/Cargo.toml"),
        set(&["rtt-canonical", "rtt-driver", "rtt-durable", "rtt-plan", "rtt-schema", "rtt-telemetry", "rtt-trust"]),
        "apply verifies through trust, writes through rtt-durable, speaks protocol 1 through the SDK and gates on \
         rtt-telemetry; it never plans"
    );
    for manifest in [
        "schema/Cargo.toml",
        "plan/Cargo.toml",
        "solver/Cargo.toml",
        "planner/Cargo.toml",
        "instances/Cargo.toml",
        "registry/Cargo.toml",
        "trust/Cargo.toml",
        "vfs/Cargo.toml",
        "durable/Cargo.toml",
    ] {
        assert!(!rtt_dependencies(manifest).contains("rtt-apply"), "{manifest} depends on rtt-apply");
    }
}

#[test]
fn telemetry_knows_only_hashes_and_durable_files() {
    // Observations are filed by plan hash and written by the atomic writer;
    // the gate judges numbers, not plans or drivers.
    assert_eq!(rtt_dependencies("telemetry/Cargo.toml"), set(&["rtt-canonical", "rtt-durable"]));
}

#[test]
fn ha_sits_on_apply_and_only_the_binary_uses_it() {
    // The coordinator knows a `Replica`, not etcd: tokio and gRPC stay in rtt-ha.
    assert_eq!(
        rtt_dependencies("ha/Cargo.toml"),
        set(&["rtt-apply", "rtt-canonical", "rtt-durable", "rtt-trust"]),
        "rtt-ha shares the coordinator's memory; it never plans or verifies"
    );
    for manifest in ["apply/Cargo.toml", "trust/Cargo.toml", "durable/Cargo.toml", "telemetry/Cargo.toml"] {
        assert!(!rtt_dependencies(manifest).contains("rtt-ha"), "{manifest} depends on rtt-ha");
        assert!(!dependencies(manifest).contains("etcd-client"), "{manifest} depends on etcd-client");
    }
}

#[test]
fn transport_is_a_foundation() {
    // Drivers, agents and the coordinator all use the ring; it knows no rtt crate.
    assert!(rtt_dependencies("transport/Cargo.toml").is_empty());
}

#[test]
fn the_rust_driver_sdk_stands_alone() {
    // `rtt driver new --lang rust` copies it into a driver of its own.
    assert!(rtt_dependencies("sdk/rust/Cargo.toml").is_empty(), "the SDK depends on an rtt crate");
    let manifest =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk/rust/Cargo.toml")).unwrap();
    let inherits = manifest.lines().any(|l| !l.trim_start().starts_with('#') && l.contains("workspace = true"));
    assert!(!inherits, "the SDK inherits from the workspace");
}

/// The source folders of the product (tests and benches aside).
const CRATE_SOURCES: [&str; 17] = [
    "src",
    "canonical/src",
    "durable/src",
    "schema/src",
    "plan/src",
    "solver/src",
    "planner/src",
    "instances/src",
    "registry/src",
    "trust/src",
    "vfs/src",
    "apply/src",
    "sdk/rust/src",
    "transport/src",
    "transport/ffi/src",
    "telemetry/src",
    "ha/src",
];

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn every_source_file_opens_with_its_module_docs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in CRATE_SOURCES {
        for file in rust_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(text.starts_with("//!"), "{} does not open with //! docs saying what it holds", file.display());
        }
    }
}

#[test]
fn no_command_module_imports_another() {
    // Commands are leaves: what two of them share lives beside them in the
    // binary (exit, files, output, views, workspace) or in a library crate.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
    let commands: Vec<String> = rust_files(&root)
        .iter()
        .filter_map(|f| f.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|name| name != "mod")
        .collect();
    for file in rust_files(&root).into_iter().filter(|f| !f.ends_with("mod.rs")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for command in &commands {
            for spelling in [format!("super::{command}::"), format!("crate::commands::{command}")] {
                assert!(!text.contains(&spelling), "{} uses `{spelling}`", file.display());
            }
        }
    }
}

/// A file's text without its `#[cfg(test)] mod tests` or `tests.rs` (tests
/// may set up files by hand), nor comments (which may name what they talk about).
fn product_code(file: &std::path::Path) -> String {
    if file.ends_with("tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(file).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text,
    };
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

#[test]
fn only_durable_fsyncs_and_renames() {
    // One atomic writer, counted: a rename or fsync anywhere else is a write
    // that bypasses it (and the fsync figures in BENCHMARKS.md).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    // The driver SDK stands alone (it is copied into drivers), so it has its own.
    for dir in CRATE_SOURCES.into_iter().filter(|d| !matches!(*d, "durable/src" | "sdk/rust/src")) {
        for file in rust_files(&root.join(dir)) {
            let code = product_code(&file);
            for call in ["sync_all(", "sync_data(", "fs::rename(", "renameat"] {
                assert!(!code.contains(call), "{} calls `{call}`: write through rtt-durable", file.display());
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} files checked");
    assert!(product_code(&root.join("durable/src/write.rs")).contains("sync_all("), "the check reads the writer");
}

#[test]
fn the_paths_of_spec_section_2_are_spelled_in_the_layout_only() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // Whole string literals and path joins, not words in messages.
    let names = [
        "\".rtt\"",
        "join(\"registry\"",
        "join(\"state\"",
        "join(\"trust\"",
        "join(\"keys\"",
        "\"wal\"",
        "\"plans\"",
        "\"overlays\"",
        "\"cas\"",
        "\"index.json\"",
        "\"agents.pack\"",
        "\"index.lut\"",
        "\"policy.json\"",
        "\"applied.json\"",
        "\"wal.jsonl\"",
        "\"apply.lock\"",
        "\"wal-anchor.json\"",
        "\"breakers.json\"",
        "\"phases.jsonl\"",
        "\"mount.log\"",
    ];
    let layout = product_code(&root.join("durable/src/layout.rs"));
    for name in names {
        assert!(layout.contains(name), "the layout spells {name}");
    }
    for dir in CRATE_SOURCES {
        for file in rust_files(&root.join(dir)).into_iter().filter(|f| !f.ends_with("durable/src/layout.rs")) {
            let code = product_code(&file);
            for name in names {
                assert!(!code.contains(name), "{} spells `{name}`: use rtt_durable::Layout", file.display());
            }
        }
    }
}
