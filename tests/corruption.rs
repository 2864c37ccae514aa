//! The corruption matrix (issue 16): every artifact rtt stores — loose
//! objects, the pack, the lut, the index, signed plans, WAL segments, the
//! registry's targets files and the `.rtt/state` files — is damaged in each region (head, middle, tail) in
//! each way (one flipped bit, truncated, zeroed), on a fresh copy each time.
//! Every case must be detected by the artifact's readers: `registry verify`
//! and `verify` fail, `registry get`, `view` and a FUSE `mount` never serve
//! wrong bytes, `materialize` refuses, and
//! `apply`/`rollback` refuse without changing anything (recovery does not
//! guess). The tally is printed for BENCHMARKS.md.

mod apply_workspace;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use apply_workspace::{Drivers, copy_tree, template};

#[derive(Debug, Clone, Copy)]
enum Region {
    Head,
    Middle,
    Tail,
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    /// One bit of the region's first byte.
    Flip,
    /// The file cut where the region starts (the head: to nothing).
    Truncate,
    /// Up to 16 bytes of the region set to 0.
    Zero,
}

const REGIONS: [Region; 3] = [Region::Head, Region::Middle, Region::Tail];
const DAMAGES: [Damage; 3] = [Damage::Flip, Damage::Truncate, Damage::Zero];

fn damage(path: &Path, region: Region, how: Damage) {
    use std::os::unix::fs::PermissionsExt;
    let mut bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let len = bytes.len();
    assert!(len > 32, "{} is too small to have regions", path.display());
    let start = match region {
        Region::Head => 0,
        Region::Middle => len / 2,
        Region::Tail => len - 16,
    };
    match how {
        Damage::Flip => bytes[start] ^= 0x01,
        // Cutting at the tail removes its last byte only.
        Damage::Truncate => bytes.truncate(if matches!(region, Region::Tail) { len - 1 } else { start }),
        Damage::Zero => bytes[start..(start + 16).min(len)].fill(0),
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::write(path, bytes).expect("write damage");
}

/// What a reader of the damaged copy did wrong, if anything.
type Check = fn(&Path, &Goods) -> Result<(), String>;

/// Outputs of the intact fixture, to tell a right answer from a wrong one.
#[derive(Default)]
struct Goods(BTreeMap<String, Vec<u8>>);

struct Artifact {
    name: &'static str,
    fixture: &'static Path,
    file: PathBuf,
    check: Check,
}

/// Runs the matrix over `artifacts`, returning (tried, failures).
fn run_matrix(artifacts: &[Artifact], goods: &BTreeMap<&Path, Goods>) -> (usize, Vec<String>) {
    let mut tried = 0;
    let mut failures = Vec::new();
    for artifact in artifacts {
        for region in REGIONS {
            for how in DAMAGES {
                tried += 1;
                let copy = tempfile::tempdir().expect("tempdir");
                copy_tree(artifact.fixture, copy.path());
                damage(&copy.path().join(&artifact.file), region, how);
                if let Err(problem) = (artifact.check)(copy.path(), &goods[artifact.fixture]) {
                    failures.push(format!("{} {region:?} {how:?}: {problem}", artifact.name));
                }
            }
        }
    }
    (tried, failures)
}

fn rtt(root: &Path, args: &[&str]) -> std::process::Output {
    apply_workspace::run(root, args, &[])
}

/// The registry reads: damage is reported by `registry verify`, and never
/// served (a read either fails with nothing on stdout or returns the intact
/// bytes, as a read of an undamaged object in a damaged pack may).
fn registry_reads(root: &Path, goods: &Goods) -> Result<(), String> {
    let verify = rtt(root, &["registry", "verify"]);
    if verify.status.code() != Some(1) {
        return Err(format!("registry verify exited {:?}", verify.status.code()));
    }
    for id in ["gateway@1", "search@1"] {
        for args in [vec!["registry", "get", id], vec!["view", id, "--provider", "claude", "--env", "prod"]] {
            let out = rtt(root, &args);
            let key = args.join(" ");
            if out.status.success() && out.stdout != goods.0[&key] {
                return Err(format!("`{key}` served bytes that are not the manifest's"));
            }
            if !out.status.success() && !out.stdout.is_empty() {
                return Err(format!("`{key}` failed but wrote to stdout"));
            }
        }
    }
    mount_reads(root, goods)
}

/// Damaged copies that `rtt mount` still served (their damage elsewhere).
static MOUNTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `rtt mount` of the plan: refused, or every file it serves is either
/// unreadable (EIO) or exactly the intact fixture's.
fn mount_reads(root: &Path, goods: &Goods) -> Result<(), String> {
    let mnt = root.join("mnt");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    let out = rtt(root, &["mount", "mnt", "--plan", "plan.json"]);
    if !out.status.success() {
        return Ok(());
    }
    MOUNTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut problem = None;
    for (path, bytes) in goods.0.iter().filter_map(|(k, v)| k.strip_prefix("tree:").map(|p| (p, v))) {
        if let Ok(served) = std::fs::read(mnt.join(path))
            && &served != bytes
        {
            problem = Some(format!("the mount served wrong bytes for {path}"));
        }
    }
    let pid = std::fs::read_dir(root.join(".rtt/mounts"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|r| r["pid"].as_u64());
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    if let Some(pid) = pid {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    problem.map_or(Ok(()), Err)
}

/// The registry reads, `rtt verify` of the plan made from what was damaged,
/// and `rtt materialize` of its views: refused, and no tree left behind.
fn registry_reads_and_plan(root: &Path, goods: &Goods) -> Result<(), String> {
    registry_reads(root, goods)?;
    plan_refused(root)?;
    let out = rtt(root, &["materialize", "--plan", "plan.json", "views"]);
    if out.status.success() {
        return Err("materialize wrote the views of a damaged registry".into());
    }
    if root.join("views").exists() {
        return Err("materialize refused but left views/ behind".into());
    }
    Ok(())
}

/// `rtt verify plan.json` refuses: the plan, or the registry it names, is damaged.
fn plan_refused(root: &Path) -> Result<(), String> {
    let out = rtt(root, &["verify", "plan.json"]);
    if out.status.success() { Err("rtt verify accepted plan.json".into()) } else { Ok(()) }
}

/// `rtt ARGS` refuses and leaves `.rtt` exactly as it was.
fn refuses_unchanged(root: &Path, args: &[&str]) -> Result<(), String> {
    let before = support::snapshot(root);
    let out = rtt(root, args);
    if out.status.success() {
        return Err(format!("`rtt {}` went ahead: {}", args.join(" "), support::stdout(&out).trim()));
    }
    if support::snapshot(root) != before {
        return Err(format!("`rtt {}` refused but changed .rtt", args.join(" ")));
    }
    Ok(())
}

fn wal_and_apply(root: &Path, _: &Goods) -> Result<(), String> {
    let wal = rtt(root, &["wal", "verify"]);
    if wal.status.success() {
        return Err("wal verify passed".into());
    }
    refuses_unchanged(root, &["apply", "p3.json"])
}

fn status_and_apply(root: &Path, _: &Goods) -> Result<(), String> {
    let status = rtt(root, &["status"]);
    if status.status.success() {
        return Err("status passed".into());
    }
    refuses_unchanged(root, &["apply", "p3.json"])
}

fn apply_refused(root: &Path, _: &Goods) -> Result<(), String> {
    refuses_unchanged(root, &["apply", "p3.json"])
}

fn rollback_refused(root: &Path, _: &Goods) -> Result<(), String> {
    refuses_unchanged(root, &["rollback"])
}

fn plan_check(root: &Path, _: &Goods) -> Result<(), String> {
    plan_refused(root)
}

/// Under a registry threshold a damaged targets file (or the sealed record
/// of versions seen) vouches for nothing: planning, verifying and serving
/// views all refuse, and planning changes nothing.
fn unsigned_refused(root: &Path, _: &Goods) -> Result<(), String> {
    plan_refused(root)?;
    refuses_unchanged(root, &["plan", "rtt.yaml", "-o", "again.json"])?;
    refuses_unchanged(root, &["view", "search@1", "--provider", "claude"])?;
    let out = rtt(root, &["materialize", "--plan", "plan.json", "views"]);
    if out.status.success() || root.join("views").exists() {
        return Err("materialize served views vouched for by a damaged targets file".into());
    }
    Ok(())
}

/// The views project under `registry_threshold` 1: signer r1 vouches for
/// both manifests, and one `rtt plan` has recorded the version it saw.
fn signed_registry_project() -> tempfile::TempDir {
    let dir = views_project();
    let root = dir.path();
    for args in [&["keygen", "--out", "r1"][..], &["keys", "add", "--registry", "r1.pub"]] {
        let out = rtt(root, args);
        assert!(out.status.success(), "{args:?}: {}", support::stderr(&out));
    }
    std::fs::write(root.join(".rtt/registry/trust/policy.json"), r#"{"threshold": 1, "registry_threshold": 1}"#)
        .expect("policy");
    for args in [
        &["registry", "sign", "--sign-key", "r1.key", "--all"][..],
        &["plan", "rtt.yaml", "-o", "plan.json", "--sign-key", "k.key"],
    ] {
        let out = rtt(root, args);
        assert!(out.status.success(), "{args:?}: {}", support::stderr(&out));
    }
    dir
}

/// The registry and views project: loose objects, the index, a signed plan.
fn views_project() -> tempfile::TempDir {
    let dir = support::project();
    support::signed_plan_with_views(dir.path());
    dir
}

fn goods_of(root: &Path) -> Goods {
    let mut goods = Goods::default();
    for id in ["gateway@1", "search@1"] {
        for args in [vec!["registry", "get", id], vec!["view", id, "--provider", "claude", "--env", "prod"]] {
            let out = rtt(root, &args);
            assert!(out.status.success(), "{args:?}: {}", support::stderr(&out));
            goods.0.insert(args.join(" "), out.stdout);
        }
    }
    // Every file of the plan's views, as materialize writes them.
    let tree = tempfile::tempdir().expect("tempdir");
    let out = rtt(root, &["materialize", "--plan", "plan.json", tree.path().join("v").to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", support::stderr(&out));
    let mut stack = vec![tree.path().join("v")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("list").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n != ".rtt-materialized.json") {
                let relative = path.strip_prefix(tree.path().join("v")).expect("inside").display().to_string();
                goods.0.insert(format!("tree:{relative}"), std::fs::read(&path).expect("read"));
            }
        }
    }
    assert!(goods.0.keys().filter(|k| k.starts_with("tree:")).count() >= 3, "the plan has views");
    goods
}

fn leak(dir: tempfile::TempDir) -> &'static Path {
    Box::leak(Box::new(dir)).path()
}

#[test]
fn every_damaged_artifact_is_detected_and_never_served() {
    let rel = |root: &Path, path: &Path| path.strip_prefix(root).expect("inside").to_owned();
    let loose = leak(views_project());
    let packed = leak(views_project());
    let pack = rtt(packed, &["registry", "pack"]);
    assert!(pack.status.success(), "{}", support::stderr(&pack));
    let signed = leak(signed_registry_project());
    let targets = std::fs::read_dir(signed.join(".rtt/registry/targets"))
        .expect("targets/")
        .flatten()
        .map(|e| rel(signed, &e.path()))
        .next()
        .expect("r1's targets file");
    let (applied, hashes) = template(Drivers::BuiltIn, 2);
    let applied = leak(applied);

    let manifest = support::loose_path(loose, &support::hash_of(loose, "gateway@1"));
    let kept = |hash: &rtt_canonical::Sha256| PathBuf::from(format!(".rtt/state/plans/{}.json", hash.hex()));
    let artifacts = [
        Artifact {
            name: "loose manifest",
            fixture: loose,
            file: rel(loose, &manifest),
            check: registry_reads_and_plan,
        },
        Artifact {
            name: "index",
            fixture: loose,
            file: ".rtt/registry/index.json".into(),
            check: registry_reads_and_plan,
        },
        Artifact { name: "signed plan", fixture: loose, file: "plan.json".into(), check: plan_check },
        Artifact {
            name: "pack",
            fixture: packed,
            file: ".rtt/registry/pack/agents.pack".into(),
            check: registry_reads,
        },
        Artifact { name: "lut", fixture: packed, file: ".rtt/registry/pack/index.lut".into(), check: registry_reads },
        Artifact { name: "targets file", fixture: signed, file: targets, check: unsigned_refused },
        Artifact {
            name: "registry versions seen",
            fixture: signed,
            file: ".rtt/state/registry-targets.json".into(),
            check: unsigned_refused,
        },
        Artifact { name: "WAL", fixture: applied, file: ".rtt/wal/wal.jsonl".into(), check: wal_and_apply },
        Artifact {
            name: "WAL anchor",
            fixture: applied,
            file: ".rtt/state/wal-anchor.json".into(),
            check: wal_and_apply,
        },
        Artifact {
            name: "applied state",
            fixture: applied,
            file: ".rtt/state/applied.json".into(),
            check: status_and_apply,
        },
        Artifact {
            name: "breakers",
            fixture: applied,
            file: ".rtt/state/breakers.json".into(),
            check: status_and_apply,
        },
        Artifact { name: "plan in force (kept)", fixture: applied, file: kept(&hashes[1]), check: apply_refused },
        Artifact { name: "plan before (kept)", fixture: applied, file: kept(&hashes[0]), check: rollback_refused },
    ];
    // The readers succeed on the intact fixtures, so every refusal counted
    // is the damage's doing.
    for fixture in [loose, packed] {
        let copy = tempfile::tempdir().expect("tempdir");
        copy_tree(fixture, copy.path());
        assert!(registry_reads(copy.path(), &goods_of(copy.path())).is_err(), "registry verify fails only on damage");
        mount_reads(copy.path(), &goods_of(copy.path())).expect("an intact mount serves the right bytes");
        let out = rtt(copy.path(), &["materialize", "--plan", "plan.json", "views"]);
        assert!(out.status.success() && plan_refused(copy.path()).is_err(), "{}", support::stderr(&out));
    }
    for args in [
        &["verify", "plan.json"][..],
        &["plan", "rtt.yaml", "-o", "again.json"],
        &["view", "search@1", "--provider", "claude"],
        &["materialize", "--plan", "plan.json", "views"],
    ] {
        let copy = tempfile::tempdir().expect("tempdir");
        copy_tree(signed, copy.path());
        let out = rtt(copy.path(), args);
        assert!(out.status.success(), "{args:?}: {}", support::stderr(&out));
    }
    for args in [&["wal", "verify"][..], &["status"], &["apply", "p3.json"], &["rollback"]] {
        let copy = tempfile::tempdir().expect("tempdir");
        copy_tree(applied, copy.path());
        let out = rtt(copy.path(), args);
        assert!(out.status.success(), "{args:?}: {}", support::stderr(&out));
    }
    let goods = BTreeMap::from([
        (loose, goods_of(loose)),
        (packed, goods_of(packed)),
        (applied, Goods::default()),
        (signed, Goods::default()),
    ]);
    let before = MOUNTED.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(before, 2, "both intact fixtures mount");
    let (tried, failures) = run_matrix(&artifacts, &goods);
    let mounted = MOUNTED.load(std::sync::atomic::Ordering::Relaxed) - before;
    eprintln!(
        "corruption matrix: {} detected / {tried} tried; {mounted} damaged copies mounted, none served wrong bytes",
        tried - failures.len()
    );
    assert!(failures.is_empty(), "{} undetected:\n{}", failures.len(), failures.join("\n"));
}
