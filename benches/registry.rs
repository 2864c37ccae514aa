//! Registry speed with 100,000 manifests (SPEC §7, issue 5):
//!
//! - batch lookups of every object by hash through `rtt registry get --batch`,
//!   beside `git cat-file --batch` over the same bytes in a packed git
//!   repository, measured in the same run;
//! - opening the pack (map + checks) and the first lookup, in-process.
//!
//!     cargo bench --bench registry            (RTT_BENCH_MANIFESTS=N to change the count)

#[path = "support/timing.rs"]
mod timing;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rtt_canonical::Sha256;
use rtt_registry::{Index, Registry};

const RUNS: usize = 5;

/// A deterministic manifest of a few hundred bytes to a few KiB.
fn manifest(i: usize) -> String {
    let env: Vec<String> = (0..(i % 17) + 3).map(|k| format!("\"VAR_{k}\":\"value-{i}-{k}\"")).collect();
    format!(
        "{{\"id\":\"agent-{i:06}@1\",\"image\":\"registry.example/agent-{i}:1.{}\",\"env\":{{{}}},\"args\":[\"--threads\",\"{}\"]}}",
        i % 7,
        env.join(","),
        i % 32
    )
}

fn run_batch(program: &str, args: &[&str], dir: &Path, input: &[u8]) -> Duration {
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let status = child.wait().expect("wait");
    writer.join().expect("writer").expect("write stdin");
    assert!(status.success(), "{program} failed");
    start.elapsed()
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git").args(args).current_dir(dir).stdout(Stdio::null()).status().expect("git");
    assert!(status.success(), "git {args:?}");
}

fn main() {
    let n: usize = std::env::var("RTT_BENCH_MANIFESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();

    // The rtt registry: every manifest stored, indexed, packed.
    let mut registry = Registry::open(&root.join(".rtt/registry"));
    let mut index = Index::default();
    let mut hashes = Vec::with_capacity(n);
    let mut total = 0usize;
    let start = Instant::now();
    for i in 0..n {
        let text = manifest(i);
        total += text.len();
        let (id, hash) = registry.add_manifest("bench.json", &text).expect("add");
        index.agents.insert(id, hash);
        hashes.push(hash);
    }
    registry.write_index(&index).expect("index");
    let added = start.elapsed();
    let start = Instant::now();
    let report = registry.pack(|_| true).expect("pack");
    let packed = start.elapsed();
    println!(
        "{n} manifests, {} MiB; add {:.1} s, pack {:.2} s ({} MiB pack)",
        total >> 20,
        added.as_secs_f64(),
        packed.as_secs_f64(),
        report.bytes >> 20
    );

    // The same bytes in git, packed too (git repack -a -d), so both sides read packs.
    let repo = root.join("git");
    std::fs::create_dir_all(repo.join("objects-in")).expect("mkdir");
    git(&repo, &["init", "-q"]);
    let mut paths = String::new();
    for (i, hash) in hashes.iter().enumerate() {
        let path = repo.join("objects-in").join(format!("{i}.json"));
        std::fs::write(&path, registry.get(hash).expect("get")).expect("write");
        paths.push_str(&format!("objects-in/{i}.json\n"));
    }
    let output = Command::new("git")
        .args(["hash-object", "-w", "--stdin-paths"])
        .current_dir(&repo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            // Feed stdin from a thread: git answers as it reads, and both pipes must flow.
            let mut stdin = child.stdin.take().expect("stdin");
            let writer = std::thread::spawn(move || stdin.write_all(paths.as_bytes()));
            let output = child.wait_with_output();
            writer.join().expect("writer")?;
            output
        })
        .expect("git hash-object");
    let git_ids = output.stdout;
    git(&repo, &["repack", "-a", "-d", "-q"]);
    git(&repo, &["prune-packed"]);

    let rtt_input: String = hashes.iter().map(|h| format!("{h}\n")).collect();
    let rtt_bin = env!("CARGO_BIN_EXE_rtt");
    let rtt = timing::median_measured(RUNS, || {
        run_batch(rtt_bin, &["registry", "get", "--batch"], root, rtt_input.as_bytes())
    });
    let git_time = timing::median_measured(RUNS, || run_batch("git", &["cat-file", "--batch"], &repo, &git_ids));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("git cat-file --batch (all objects)   {:>9.1} ms", ms(git_time));
    println!("rtt registry get --batch             {:>9.1} ms   ({:.2}x git's speed)", ms(rtt), ms(git_time) / ms(rtt));

    // Open (map, check shapes and the lut checksum) and one lookup.
    let first: Sha256 = hashes[n / 2];
    let open = timing::median_measured(21, || {
        let start = Instant::now();
        let registry = Registry::open(&root.join(".rtt/registry"));
        let bytes = registry.get(&first).expect("lookup");
        std::hint::black_box(bytes.len());
        start.elapsed()
    });
    println!("open pack + first lookup             {:>9.3} ms", ms(open));
}
