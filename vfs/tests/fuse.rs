//! Real FUSE mounts (CI runs as root with /dev/fuse): every view readable and
//! equal to the registry's bytes, listings, EROFS on every write path, and
//! plan switches under concurrent readers that never show a mixed listing.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rtt_canonical::Sha256;
use rtt_plan::{View, Views};
use rtt_registry::Registry;
use rtt_vfs::{Mount, snapshot};

const EROFS: i32 = 30;

/// A registry holding `objects`, and views of provider `p` placing each under `d/`.
fn views(registry: &Registry, objects: &[(&str, String)]) -> Views {
    let entries = objects
        .iter()
        .map(|(id, text)| {
            let hash = registry.put(text.as_bytes()).expect("put");
            View { id: (*id).into(), path: format!("d/{id}.json"), base: hash, overlays: vec![], result: hash }
        })
        .collect();
    Views::from([("p".to_owned(), entries)])
}

fn plan_a() -> Vec<(&'static str, String)> {
    vec![("a@1", "{\"v\":\"a1\"}".into()), ("b@1", "{\"v\":\"b1\"}".into()), ("c@1", "{\"v\":\"c1\"}".into())]
}

fn plan_b() -> Vec<(&'static str, String)> {
    vec![("a@1", "{\"v\":\"a1\"}".into()), ("b@1", "{\"v\":\"b2\"}".into()), ("e@1", "{\"v\":\"e2\"}".into())]
}

fn listing(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir).expect("list").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect()
}

/// Plan a's views mounted from a fresh registry: (tempdir, registry dir, mount point, mount).
fn mounted_plan_a() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf, Mount) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join(".rtt/registry");
    let v = views(&Registry::open(&root), &plan_a());
    let mountpoint = dir.path().join("mnt");
    fs::create_dir(&mountpoint).expect("mkdir");
    let mount = Mount::new(&mountpoint, snapshot(Sha256::of(b"plan a"), &v, Registry::open(&root)).expect("snapshot"))
        .expect("mount");
    (dir, root, mountpoint, mount)
}

#[test]
fn serves_every_view_read_only() {
    let (_dir, _root, mountpoint, mount) = mounted_plan_a();
    assert!(rtt_vfs::is_mounted(&mountpoint).expect("mountinfo"));

    assert_eq!(listing(&mountpoint), BTreeSet::from(["p".to_owned()]));
    assert_eq!(listing(&mountpoint.join("p/d")), ["a@1.json", "b@1.json", "c@1.json"].map(String::from).into());
    for (id, text) in plan_a() {
        let path = mountpoint.join(format!("p/d/{id}.json"));
        assert_eq!(fs::read_to_string(&path).expect("read"), text);
        let meta = fs::metadata(&path).expect("stat");
        assert_eq!(meta.len(), text.len() as u64);
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777, 0o444);
    }
    // Stable inode per path.
    let ino = |p: &str| std::os::unix::fs::MetadataExt::ino(&fs::metadata(mountpoint.join(p)).expect("stat"));
    assert_eq!(ino("p/d/a@1.json"), rtt_vfs::tree::file_inode("p/d/a@1.json", &Sha256::of(b"{\"v\":\"a1\"}")));

    let file = mountpoint.join("p/d/a@1.json");
    let attempts: Vec<(&str, std::io::Result<()>)> = vec![
        ("create", fs::File::create(mountpoint.join("p/d/new.json")).map(drop)),
        ("open for write", fs::OpenOptions::new().write(true).open(&file).map(drop)),
        ("truncate", fs::OpenOptions::new().write(true).truncate(true).open(&file).map(drop)),
        ("append", fs::OpenOptions::new().append(true).open(&file).map(drop)),
        ("write", fs::write(&file, b"x")),
        ("remove", fs::remove_file(&file)),
        ("rename", fs::rename(&file, mountpoint.join("p/d/z.json"))),
        ("mkdir", fs::create_dir(mountpoint.join("p/x"))),
        ("rmdir", fs::remove_dir(mountpoint.join("p/d"))),
        ("chmod", fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644))),
        ("symlink", std::os::unix::fs::symlink("a", mountpoint.join("p/l"))),
        ("hardlink", fs::hard_link(&file, mountpoint.join("p/h"))),
    ];
    for (what, result) in attempts {
        let err = result.expect_err(what);
        assert_eq!(err.raw_os_error(), Some(EROFS), "{what}: {err}");
    }
    assert_eq!(fs::read(mountpoint.join("p/d/missing.json")).expect_err("missing").kind(), ErrorKind::NotFound);
    mount.unmount().expect("unmount");
    assert!(!rtt_vfs::is_mounted(&mountpoint).expect("mountinfo"));
}

#[test]
fn plan_switch_under_concurrent_readers_never_mixes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join(".rtt/registry");
    let registry = Registry::open(&root);
    let (va, vb) = (views(&registry, &plan_a()), views(&registry, &plan_b()));
    let snap = |v: &Views, name: &[u8]| snapshot(Sha256::of(name), v, Registry::open(&root)).expect("snapshot");
    let mountpoint = dir.path().join("mnt");
    fs::create_dir(&mountpoint).expect("mkdir");
    let mount = Mount::new(&mountpoint, snap(&va, b"a")).expect("mount");

    let listing_a: BTreeSet<String> = ["a@1.json", "b@1.json", "c@1.json"].map(String::from).into();
    let listing_b: BTreeSet<String> = ["a@1.json", "b@1.json", "e@1.json"].map(String::from).into();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let d = mountpoint.join("p/d");
            let (la, lb) = (listing_a.clone(), listing_b.clone());
            std::thread::spawn(move || {
                let mut seen = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let now = listing(&d);
                    assert!(now == la || now == lb, "mixed listing: {now:?}");
                    match fs::read_to_string(d.join("b@1.json")) {
                        Ok(text) => assert!(text == "{\"v\":\"b1\"}" || text == "{\"v\":\"b2\"}", "{text}"),
                        Err(e) => panic!("b@1.json unreadable during a switch: {e}"),
                    }
                    seen += 1;
                }
                seen
            })
        })
        .collect();
    for round in 0..40 {
        let next = if round % 2 == 0 { snap(&vb, b"b") } else { snap(&va, b"a") };
        let changes = mount.switch(next);
        assert!(changes.entries.iter().any(|(_, name)| name == "b@1.json"), "{changes:?}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        assert!(reader.join().expect("reader") > 0);
    }
    // With no reader racing it, a switch is visible at once: the kernel's
    // cached entries, pages and listing of what changed were invalidated.
    for (views, listing_now, b) in [(&vb, &listing_b, "{\"v\":\"b2\"}"), (&va, &listing_a, "{\"v\":\"b1\"}")] {
        mount.switch(snap(views, b"x"));
        assert_eq!(fs::read_to_string(mountpoint.join("p/d/b@1.json")).expect("read"), b);
        assert_eq!(&listing(&mountpoint.join("p/d")), listing_now);
    }
    mount.unmount().expect("unmount");
}

#[test]
fn damaged_object_is_an_io_error_not_data() {
    let (_dir, root, mountpoint, mount) = mounted_plan_a();
    let hash = Sha256::of(b"{\"v\":\"c1\"}");
    let object = root.join("cas/sha256").join(&hash.hex()[..2]).join(format!("{}.json", hash.hex()));
    fs::set_permissions(&object, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
    fs::write(&object, b"{\"v\":\"XX\"}").expect("tamper");
    let err = fs::read(mountpoint.join("p/d/c@1.json")).expect_err("tampered bytes are not served");
    assert_eq!(err.raw_os_error(), Some(5), "EIO: {err}");
    mount.unmount().expect("unmount");
}

#[test]
fn a_file_read_in_pieces_across_hundreds_of_switches_is_one_plans_bytes() {
    use std::io::Read;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join(".rtt/registry");
    let registry = Registry::open(&root);
    // 256 KiB each, so a read takes 64 page-sized pieces and a switch can
    // land between any two of them.
    let big = |fill: char| format!("{{\"v\":\"{}\"}}", fill.to_string().repeat(256 << 10));
    let (a, b) = (big('a'), big('b'));
    let (va, vb) = (views(&registry, &[("f@1", a.clone())]), views(&registry, &[("f@1", b.clone())]));
    let snap = |v: &Views, name: &[u8]| snapshot(Sha256::of(name), v, Registry::open(&root)).expect("snapshot");
    let mountpoint = dir.path().join("mnt");
    fs::create_dir(&mountpoint).expect("mkdir");
    let mount = Mount::new(&mountpoint, snap(&va, b"a")).expect("mount");

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = Arc::clone(&stop);
        let file = mountpoint.join("p/d/f@1.json");
        let (a, b) = (a.clone(), b.clone());
        std::thread::spawn(move || {
            let (mut reads, mut kinds) = (0usize, BTreeSet::new());
            while !stop.load(Ordering::Relaxed) {
                let mut handle = fs::File::open(&file).expect("open during a switch");
                let mut whole = Vec::new();
                let mut piece = [0u8; 4096];
                loop {
                    let n = handle.read(&mut piece).expect("read during a switch");
                    if n == 0 {
                        break;
                    }
                    whole.extend_from_slice(&piece[..n]);
                    std::thread::yield_now();
                }
                let text = String::from_utf8(whole).expect("utf-8");
                assert!(text == a || text == b, "a read mixed two plans ({} bytes)", text.len());
                kinds.insert(text == a);
                reads += 1;
            }
            (reads, kinds.len())
        })
    };
    let switches = 300;
    for round in 0..switches {
        mount.switch(if round % 2 == 0 { snap(&vb, b"b") } else { snap(&va, b"a") });
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    let (reads, kinds) = reader.join().expect("reader");
    eprintln!("{switches} switches under {reads} whole reads in 4 KiB pieces: none mixed");
    assert!(reads > 0 && kinds == 2, "the reader saw both plans ({reads} reads)");
    mount.unmount().expect("unmount");
}
