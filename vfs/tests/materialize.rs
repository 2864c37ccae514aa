//! `materialize` in every mode: the same bytes as the registry serves, the
//! switch by rename, the hardlink → symlink fallback across filesystems
//! (EXDEV), and refusal to replace a directory rtt did not write.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rtt_canonical::Sha256;
use rtt_plan::{View, Views};
use rtt_registry::Registry;
use rtt_vfs::materialize::{MARKER, Method, Mode, materialize};

fn views(registry: &Registry, texts: &[(&str, &str)]) -> Views {
    let entries = texts
        .iter()
        .map(|(id, text)| {
            let hash = registry.put(text.as_bytes()).expect("put");
            View {
                id: (*id).into(),
                path: format!(".claude/agents/{id}.json"),
                base: hash,
                overlays: vec![],
                result: hash,
            }
        })
        .collect();
    Views::from([("claude".to_owned(), entries)])
}

const TEXTS: [(&str, &str); 2] = [("a@1", "{\"v\":1}"), ("b@1", "{\"v\":2}")];

fn read_tree(dir: &Path) -> Vec<(String, String)> {
    TEXTS
        .iter()
        .map(|(id, _)| {
            let path = dir.join(format!("claude/.claude/agents/{id}.json"));
            ((*id).to_owned(), fs::read_to_string(path).expect("read"))
        })
        .collect()
}

#[test]
fn every_mode_gives_the_registry_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::open(&dir.path().join(".rtt/registry"));
    let v = views(&registry, &TEXTS);
    let expected: Vec<(String, String)> = TEXTS.iter().map(|(i, t)| ((*i).to_owned(), (*t).to_owned())).collect();
    for (mode, method) in [
        (Mode::Auto, Method::Hardlink),
        (Mode::Only(Method::Hardlink), Method::Hardlink),
        (Mode::Only(Method::Symlink), Method::Symlink),
        (Mode::Only(Method::Copy), Method::Copy),
    ] {
        let out = dir.path().join(format!("out-{}", method.name()));
        let report = materialize(&out, Sha256::of(b"plan"), &v, &registry, mode).expect("materialize");
        assert_eq!(report.method, method);
        assert_eq!(report.files, 2);
        assert_eq!(read_tree(&out), expected, "{mode:?}");
        let file = out.join("claude/.claude/agents/a@1.json");
        let meta = fs::symlink_metadata(&file).expect("stat");
        match method {
            Method::Hardlink => assert!(meta.nlink() >= 2 && meta.mode() & 0o222 == 0, "read-only hard link"),
            Method::Symlink => assert!(meta.file_type().is_symlink()),
            _ => assert!(meta.is_file() && meta.mode() & 0o222 == 0),
        }
        assert!(out.join(MARKER).is_file());
    }
    let out = dir.path().join("out-proxy");
    let report = materialize(&out, Sha256::of(b"plan"), &v, &registry, Mode::Only(Method::Proxy)).expect("proxy");
    assert_eq!(report.method, Method::Proxy);
    let proxy = fs::read_to_string(out.join("claude/.claude/agents/b@1.json")).expect("read");
    assert_eq!(proxy, format!("{{\"$ref\":\"{}\"}}", Sha256::of(b"{\"v\":2}")));
}

#[test]
fn hardlinks_across_filesystems_fall_back_to_symlinks() {
    // The registry on tmpfs, the tree on the disk: link(2) fails with EXDEV.
    let shm = tempfile::tempdir_in("/dev/shm").expect("tmpfs dir");
    let disk = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("disk dir");
    if fs::metadata(shm.path()).expect("stat").dev() == fs::metadata(disk.path()).expect("stat").dev() {
        panic!("/dev/shm and the target dir share a filesystem; this test needs two");
    }
    let registry = Registry::open(&shm.path().join(".rtt/registry"));
    let v = views(&registry, &TEXTS);
    let out = disk.path().join("views");
    let err = materialize(&out, Sha256::of(b"p"), &v, &registry, Mode::Only(Method::Hardlink))
        .expect_err("hardlink alone cannot cross filesystems");
    assert!(err.to_string().contains("hardlink"), "{err}");
    assert!(!out.exists(), "a failed materialize leaves nothing behind");
    let report = materialize(&out, Sha256::of(b"p"), &v, &registry, Mode::Auto).expect("auto");
    assert_eq!(report.method, Method::Symlink);
    assert!(report.fallbacks[0].starts_with("hardlink:"), "{:?}", report.fallbacks);
    assert_eq!(read_tree(&out).len(), 2);
}

#[test]
fn a_new_plan_replaces_the_tree_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::open(&dir.path().join(".rtt/registry"));
    let out = dir.path().join("views");
    let first = views(&registry, &TEXTS);
    materialize(&out, Sha256::of(b"1"), &first, &registry, Mode::Only(Method::Copy)).expect("first");
    let second = views(&registry, &[("c@1", "{\"v\":3}")]);
    materialize(&out, Sha256::of(b"2"), &second, &registry, Mode::Only(Method::Copy)).expect("second");
    let agents = out.join("claude/.claude/agents");
    let names: Vec<String> =
        fs::read_dir(&agents).expect("list").map(|e| e.expect("entry").file_name().to_string_lossy().into()).collect();
    assert_eq!(names, vec!["c@1.json".to_owned()]);
    let marker = fs::read_to_string(out.join(MARKER)).expect("marker");
    assert!(marker.contains(&Sha256::of(b"2").to_string()), "{marker}");
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".rtt-new."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn refuses_to_replace_a_directory_it_did_not_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::open(&dir.path().join(".rtt/registry"));
    let out = dir.path().join("home");
    fs::create_dir(&out).expect("mkdir");
    fs::write(out.join("precious.txt"), "keep me").expect("write");
    let v = views(&registry, &TEXTS);
    let err = materialize(&out, Sha256::of(b"p"), &v, &registry, Mode::Auto).expect_err("refused");
    assert!(err.to_string().contains("refusing"), "{err}");
    assert_eq!(fs::read_to_string(out.join("precious.txt")).expect("kept"), "keep me");
}

#[test]
fn hostile_view_paths_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::open(&dir.path().join(".rtt/registry"));
    let hash = registry.put(b"{}").expect("put");
    let v = Views::from([(
        "claude".to_owned(),
        vec![View {
            id: "a@1".into(),
            path: "../../escape/a@1.json".into(),
            base: hash,
            overlays: vec![],
            result: hash,
        }],
    )]);
    let out = dir.path().join("views");
    assert!(materialize(&out, Sha256::of(b"p"), &v, &registry, Mode::Auto).is_err());
    assert!(!out.exists());
    assert!(!dir.path().join("escape").exists());
}
