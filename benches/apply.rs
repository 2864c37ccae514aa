//! Apply speed (SPEC §8, issue 6): one signed plan that changes 100 hosts,
//! each served by its own built-in `dir` driver (100 drivers), applied through
//! the whole path — verification, lock, WAL, prepare, decision, commit,
//! verify through `Rx`, applied pointer, end. Reported beside the floor: the
//! same fsyncs (as many of new small files, as many of their directory),
//! measured in the same run on the same disk, since fsyncs are what a durable
//! apply cannot avoid. Runs without the flight recorder alternate with the
//! recorded ones, and the recorder's cost is their ratio.
//!
//!     cargo bench --bench apply          (RTT_BENCH_HOSTS=N to change the count)

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use rtt_apply::coordinator::Coordinator;
use rtt_apply::fault::Faults;
use rtt_apply::workspace::{DriverConfig, Fleet, Workspace};
use rtt_canonical::Sha256;
use rtt_plan::{PlacementRow, PlanDocument};
use rtt_trust::SecretKey;

const RUNS: usize = 11;

fn plan(serial: u64, previous: Option<Sha256>, hosts: usize, key: &SecretKey) -> (Vec<u8>, Sha256) {
    let placements: Vec<PlacementRow> = (0..hosts)
        .map(|i| PlacementRow {
            agent: format!("agent-{:03}@1", (i + serial as usize) % 37),
            host: format!("h{i:03}"),
            numa: (i % 2) as u32,
            replicas: 1 + (serial as u32 + i as u32) % 3,
        })
        .collect();
    let mut document = PlanDocument::bare(Sha256::of(b"bench"), serial, previous, placements);
    rtt_trust::sign_document(&mut document, key).expect("sign");
    (document.to_file_bytes().expect("encode"), document.hash().expect("hash"))
}

fn fleet(base: &Path, hosts: usize) -> Fleet {
    let mut fleet = Fleet { drivers: BTreeMap::new(), driver_of: BTreeMap::new(), hosts_of: BTreeMap::new() };
    for i in 0..hosts {
        let (host, driver) = (format!("h{i:03}"), format!("d{i:03}"));
        fleet.drivers.insert(driver.clone(), DriverConfig::Dir { root: base.join("hosts").join(&driver) });
        fleet.driver_of.insert(host.clone(), driver.clone());
        fleet.hosts_of.insert(driver, vec![host]);
    }
    fleet
}

fn apply(workspace: &Workspace, fleet: &Fleet, bytes: &[u8], recorded: bool) {
    let applied = rtt_trust::state::read_applied(&workspace.state_dir()).expect("state");
    let plan = rtt_apply::admission::plan_for_apply(bytes, workspace, applied.as_ref()).expect("verified");
    let mut coordinator = Coordinator::open(workspace.clone(), fleet.clone(), Faults::disabled()).expect("open");
    if !recorded {
        coordinator.stop_recording();
    }
    coordinator.recover().expect("recover");
    coordinator.apply(&plan).expect("apply");
    assert!(coordinator.finish().0.is_empty());
}

/// One measured transaction: (wall time, (file, directory) fsyncs), then the floor of as many fsyncs.
fn run(hosts: usize, key: &SecretKey, recorded: bool) -> (Duration, (u64, u64), Duration) {
    // On the disk the target directory lives on, not a tmpfs.
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-apply");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let dir = tempfile::tempdir_in(&scratch).expect("tempdir");
    let base = dir.path().to_owned();
    let workspace =
        Workspace { layout: rtt_durable::Layout::at(base.join(".rtt")), base: base.clone(), launcher: None };
    let trust = workspace.trust_dir();
    std::fs::create_dir_all(trust.join("keys")).expect("trust");
    std::fs::write(trust.join("keys/bench.pub"), key.public_key().to_text()).expect("key");
    std::fs::write(trust.join("policy.json"), "{\"threshold\": 1}\n").expect("policy");
    let fleet = fleet(&base, hosts);
    let (first, first_hash) = plan(1, None, hosts, key);
    let (second, _) = plan(2, Some(first_hash), hosts, key);
    apply(&workspace, &fleet, &first, recorded);

    let fsyncs_before = rtt_durable::fsyncs();
    let started = Instant::now();
    apply(&workspace, &fleet, &second, recorded);
    let wall = started.elapsed();
    let fsyncs_after = rtt_durable::fsyncs();
    let fsyncs = (fsyncs_after.files - fsyncs_before.files, fsyncs_after.dirs - fsyncs_before.dirs);

    let floor_dir = base.join("floor");
    std::fs::create_dir_all(&floor_dir).expect("floor dir");
    let started = Instant::now();
    for i in 0..fsyncs.0.max(fsyncs.1) {
        if i < fsyncs.0 {
            let mut file = std::fs::File::create(floor_dir.join(format!("f{i}"))).expect("create");
            file.write_all(b"{\"plan\":\"sha256:0\",\"placements\":[]}\n").expect("write");
            file.sync_all().expect("fsync");
        }
        if i < fsyncs.1 {
            std::fs::File::open(&floor_dir).expect("open dir").sync_all().expect("fsync dir");
        }
    }
    let floor = started.elapsed();
    (wall, fsyncs, floor)
}

fn main() {
    let hosts: usize = std::env::var("RTT_BENCH_HOSTS").ok().and_then(|n| n.parse().ok()).unwrap_or(100);
    let key = SecretKey::from_seed(&[7; 32]);
    // Runs with and without the flight recorder alternate, so both see the
    // same disk and the same neighbours.
    let mut unrecorded = Vec::new();
    let mut runs: Vec<(Duration, (u64, u64), Duration)> = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..RUNS {
        let recorded = run(hosts, &key, true);
        let bare = run(hosts, &key, false).0;
        ratios.push(recorded.0.as_secs_f64() / bare.as_secs_f64());
        runs.push(recorded);
        unrecorded.push(bare);
    }
    unrecorded.sort();
    ratios.sort_by(f64::total_cmp);
    runs.sort_by_key(|r| r.0);
    let (wall, fsyncs, _) = runs[RUNS / 2];
    let mut floors: Vec<Duration> = runs.iter().map(|r| r.2).collect();
    floors.sort();
    let floor = floors[RUNS / 2];
    // Signed: some of apply's fsyncs find little to flush (a directory
    // already synced by the file's rename), so it can come in under the floor.
    let mut overheads: Vec<f64> = runs.iter().map(|r| (r.0.as_secs_f64() - r.2.as_secs_f64()) * 1e3).collect();
    overheads.sort_by(f64::total_cmp);
    println!("apply: {hosts} hosts changed through {hosts} dir drivers, median of {RUNS} runs");
    println!("  transaction wall time     {:>9.1} ms", wall.as_secs_f64() * 1e3);
    println!(
        "  fsyncs per transaction    {:>9}  ({} of files, {} of directories)",
        fsyncs.0 + fsyncs.1,
        fsyncs.0,
        fsyncs.1
    );
    println!("  floor (as many fsyncs)    {:>9.1} ms", floor.as_secs_f64() * 1e3);
    println!("  minus the floor (median)  {:>+9.1} ms", overheads[RUNS / 2]);
    let bare = unrecorded[RUNS / 2];
    println!(
        "  without the flight recorder {:>7.1} ms  (median of the paired ratios: {:+.1} %)",
        bare.as_secs_f64() * 1e3,
        (ratios[RUNS / 2] - 1.0) * 100.0
    );
    // The recorder's own work, apart from the disk's noise: as many events
    // as such an apply records (a call per driver and phase, WAL records).
    let dir = tempfile::tempdir().expect("tempdir");
    let (recorder, _) = rtt_apply::flight::Recorder::open(dir.path()).expect("recorder");
    let events = hosts * 6 + 8;
    let request =
        format!("{{\"phase\":\"prepare\",\"epoch\":2,\"txn\":\"t2\",\"hosts\":{{\"h001\":[{}]}}}}", "x".repeat(60));
    let started = Instant::now();
    for i in 0..events {
        recorder.record(rtt_apply::flight::What::Call {
            driver: format!("d{i:03}"),
            phase: "prepare".into(),
            micros: 812,
            ok: true,
            request: request.clone(),
            response: "{\"vote\":\"yes\"}".into(),
        });
    }
    let work = started.elapsed();
    println!(
        "  recorder work for {events} events {:>7.2} ms  ({:.1} % of the unrecorded transaction)",
        work.as_secs_f64() * 1e3,
        work.as_secs_f64() / bare.as_secs_f64() * 100.0
    );
}
