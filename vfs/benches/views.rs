//! Views through FUSE against the same files on disk, measured in one run
//! (issue 7):
//!
//! - mount-to-first-read with 10,000 agents (snapshot: every object checked;
//!   mount; first read of one view);
//! - cached open+read+close of a 4 KiB view through the mount vs the same
//!   file materialized on disk (goal ≤ 2×);
//! - sequential read of a large (8 MiB) view through the mount vs on disk
//!   (goal ≈ 1× with keep-cache).
//!
//!     cargo bench -p rtt-vfs --bench views        (needs root and /dev/fuse)

use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use rtt_canonical::Sha256;
use rtt_plan::{View, Views};
use rtt_registry::Registry;
use rtt_vfs::materialize::{Method, Mode, materialize};
use rtt_vfs::{Mount, snapshot};

const AGENTS: usize = 10_000;

/// A canonical JSON document of about `size` bytes.
fn document(i: usize, size: usize) -> String {
    let filler = "x".repeat(size.saturating_sub(40));
    format!("{{\"id\":\"agent-{i:05}@1\",\"pad\":\"{filler}\"}}")
}

fn median(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..runs).map(|_| f()).collect();
    times.sort();
    times[runs / 2]
}

fn open_read_close(path: &Path, buf: &mut Vec<u8>) {
    buf.clear();
    fs::File::open(path).and_then(|mut f| f.read_to_end(buf)).expect("read");
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join(".rtt/registry");
    let mut registry = Registry::open(&root);
    let mut entries = Vec::with_capacity(AGENTS + 1);
    for i in 0..AGENTS {
        let hash = registry.put(document(i, 4096).as_bytes()).expect("put");
        let id = format!("agent-{i:05}@1");
        entries.push(View { path: format!("agents/{id}.json"), id, base: hash, overlays: vec![], result: hash });
    }
    let large = registry.put(document(AGENTS, 8 << 20).as_bytes()).expect("put large");
    entries.push(View {
        id: "large@1".into(),
        path: "agents/large@1.json".into(),
        base: large,
        overlays: vec![],
        result: large,
    });
    registry.pack(|_| true).expect("pack");
    let views = Views::from([("p".to_owned(), entries)]);
    let plan = Sha256::of(b"bench plan");

    let mountpoint = dir.path().join("mnt");
    fs::create_dir(&mountpoint).expect("mkdir");
    let start = Instant::now();
    let snap = snapshot(plan, &views, Registry::open(&root)).expect("snapshot");
    let built = start.elapsed();
    let mount = Mount::new(&mountpoint, snap).expect("mount (needs root and /dev/fuse)");
    let mut buf = Vec::new();
    open_read_close(&mountpoint.join("p/agents/agent-00042@1.json"), &mut buf);
    let first = start.elapsed();
    println!("{AGENTS} agents: snapshot {:.1} ms, mount to first read {:.1} ms", ms(built), ms(first));

    let disk = dir.path().join("disk");
    materialize(&disk, plan, &views, &Registry::open(&root), Mode::Only(Method::Copy)).expect("materialize");
    let small = "p/agents/agent-04242@1.json";
    let (fuse_small, disk_small) = (mountpoint.join(small), disk.join(small));
    for path in [&fuse_small, &disk_small] {
        open_read_close(path, &mut buf); // warm the caches
    }
    const N: usize = 20_000;
    let time_many = |path: &Path, buf: &mut Vec<u8>| {
        let start = Instant::now();
        for _ in 0..N {
            open_read_close(path, buf);
        }
        start.elapsed() / N as u32
    };
    let fuse_cached = median(5, || time_many(&fuse_small, &mut buf));
    let disk_cached = median(5, || time_many(&disk_small, &mut buf));
    println!(
        "cached open+read+close of a 4 KiB view: disk {:.2} µs, fuse {:.2} µs ({:.2}x)",
        us(disk_cached),
        us(fuse_cached),
        us(fuse_cached) / us(disk_cached)
    );

    let big = "p/agents/large@1.json";
    let (fuse_big, disk_big) = (mountpoint.join(big), disk.join(big));
    open_read_close(&fuse_big, &mut buf);
    open_read_close(&disk_big, &mut buf);
    let read_big = |path: &Path, buf: &mut Vec<u8>| {
        let start = Instant::now();
        open_read_close(path, buf);
        start.elapsed()
    };
    let fuse_seq = median(11, || read_big(&fuse_big, &mut buf));
    let disk_seq = median(11, || read_big(&disk_big, &mut buf));
    let mib = (8 << 20) as f64 / (1 << 20) as f64;
    println!(
        "sequential read of an 8 MiB view: disk {:.0} MiB/s, fuse {:.0} MiB/s ({:.2}x the time)",
        mib / disk_seq.as_secs_f64(),
        mib / fuse_seq.as_secs_f64(),
        fuse_seq.as_secs_f64() / disk_seq.as_secs_f64()
    );
    mount.unmount().expect("unmount");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
