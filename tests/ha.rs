//! HA on etcd (issue 19, docs/ha.md): a real 3-member etcd cluster on
//! loopback (Debian's `etcd`), three `rtt reconcile --etcd` controllers,
//! each with its own `.rtt/` (as on three machines), and two built-in `dir`
//! drivers whose roots all three reach (the fleet). Faults: SIGKILL of the
//! leader at random points of an apply, SIGSTOP of the leader past its
//! lease, an etcd member killed, and the leader cut off from etcd in a
//! network namespace.
//!
//! The judging is done on recorded history: every `Open`/`Tx` the drivers
//! judged (`.rtt-dir/calls.jsonl`: who, epoch, accepted or not) and the
//! controllers' `leading` events. After each fault, once the fleet settles:
//! - the hosts hold exactly the plan etcd's pointer names (never a mixed
//!   state), and nothing is left prepared;
//! - each driver accepted epochs only in increasing order (no stale epoch
//!   accepted);
//! - the accepted calls of one epoch came from one controller, which led
//!   at that epoch's revision;
//! - progress resumed within the lease TTL plus one cycle.
//!
//! `RTT_HA_KILLS` sets the number of leader kills (10 here; the benchmark,
//! `scripts/ha-matrix`, runs 50 and more), `RTT_HA_REPORT` a file for the
//! figures (failover times, counts) as JSON.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rtt_apply::driver::dir::{Call, DirStore};

const TTL: Duration = Duration::from_secs(2);
const INTERVAL: &str = "500ms";
/// How long a fault may take to heal: the lease, a cycle, a plan and an
/// apply on a debug build on a busy 2-core machine.
const SETTLE: Duration = Duration::from_secs(40);

fn now_ms() -> u64 {
    rtt_telemetry::now_ms()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A 3-member etcd cluster on loopback (and, for the partition case, on
/// the host side of a veth pair).
struct Cluster {
    dir: PathBuf,
    clients: Vec<u16>,
    peers: Vec<u16>,
    extra: Option<String>,
    members: Vec<Option<Child>>,
}

impl Cluster {
    fn start(dir: &Path, extra: Option<&str>) -> Cluster {
        let mut cluster = Cluster {
            dir: dir.to_owned(),
            clients: (0..3).map(|_| free_port()).collect(),
            peers: (0..3).map(|_| free_port()).collect(),
            extra: extra.map(str::to_owned),
            members: vec![None, None, None],
        };
        for i in 0..3 {
            cluster.run(i);
        }
        cluster.wait_healthy();
        cluster
    }

    fn run(&mut self, i: usize) {
        let initial: Vec<String> =
            self.peers.iter().enumerate().map(|(j, p)| format!("m{j}=http://127.0.0.1:{p}")).collect();
        let mut listen = format!("http://127.0.0.1:{}", self.clients[i]);
        if let Some(address) = &self.extra {
            listen.push_str(&format!(",http://{address}:{}", self.clients[i]));
        }
        let log = std::fs::File::create(self.dir.join(format!("m{i}.log"))).expect("log");
        let child = Command::new("etcd")
            .args(["--name", &format!("m{i}")])
            .args(["--data-dir", &self.dir.join(format!("m{i}")).display().to_string()])
            .args(["--listen-client-urls", &listen])
            .args(["--advertise-client-urls", &format!("http://127.0.0.1:{}", self.clients[i])])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{}", self.peers[i])])
            .args(["--initial-advertise-peer-urls", &format!("http://127.0.0.1:{}", self.peers[i])])
            .args(["--initial-cluster", &initial.join(",")])
            .args(["--initial-cluster-state", "new", "--initial-cluster-token", "rtt-ha-test"])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("etcd runs (scripts/setup installs Debian's etcd-server)");
        self.members[i] = Some(child);
    }

    fn endpoints(&self, host: &str) -> String {
        self.clients.iter().map(|p| format!("{host}:{p}")).collect::<Vec<_>>().join(",")
    }

    /// Every member answers a linearizable read (through rtt's own client:
    /// Debian's etcd-server package has no etcdctl).
    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let healthy = self.clients.iter().all(|port| {
                rtt_ha::Etcd::connect(&[format!("127.0.0.1:{port}")], "default")
                    .and_then(|etcd| etcd.get("/rtt/health"))
                    .is_ok()
            });
            if healthy {
                return;
            }
            assert!(Instant::now() < deadline, "etcd never became healthy; see {}", self.dir.display());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The shared memory, through rtt's own client.
    fn memory(&self) -> rtt_apply::replica::Memory {
        let endpoints: Vec<String> = self.clients.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let etcd = rtt_ha::Etcd::connect(&endpoints, "default").expect("connect");
        etcd.memory().expect("read")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..3 {
            self.kill(i);
        }
    }
}

/// A network namespace joined to the host by a veth pair: a controller in
/// it reaches etcd at `host_ip` until the link is cut.
struct Netns {
    name: String,
    host_link: String,
    host_ip: String,
}

impl Netns {
    fn create() -> Netns {
        let tag = std::process::id() % 10_000;
        let name = format!("rtt-ha-{tag}");
        let (host_link, ns_link) = (format!("rha{tag}h"), format!("rha{tag}n"));
        let octet = 1 + tag % 250;
        let (host_ip, ns_ip) = (format!("10.231.{octet}.1"), format!("10.231.{octet}.2"));
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let _ = Command::new("ip").args(["link", "del", &host_link]).output();
        for args in [
            vec!["netns", "add", &name],
            vec!["link", "add", &host_link, "type", "veth", "peer", "name", &ns_link],
            vec!["link", "set", &ns_link, "netns", &name],
            vec!["addr", "add", &format!("{host_ip}/24"), "dev", &host_link],
            vec!["link", "set", &host_link, "up"],
        ] {
            let out = Command::new("ip").args(&args).output().expect("ip runs (scripts/setup installs iproute2)");
            assert!(
                out.status.success(),
                "ip {}: {} (network namespaces need root, which CI has)",
                args.join(" "),
                support::stderr(&out)
            );
        }
        // Inside the namespace through nsenter, not `ip -n` or `ip netns
        // exec`: those remount / and /sys, which a chroot
        // (scripts/fresh-machine) refuses.
        let inside = format!("--net=/run/netns/{name}");
        for args in [
            vec!["addr", "add", &format!("{ns_ip}/24"), "dev", &ns_link],
            vec!["link", "set", &ns_link, "up"],
            vec!["link", "set", "lo", "up"],
        ] {
            let out = Command::new("nsenter").arg(&inside).arg("ip").args(&args).output().expect("nsenter runs");
            assert!(
                out.status.success(),
                "ip {}: {} (network namespaces need root, which CI has)",
                args.join(" "),
                support::stderr(&out)
            );
        }
        Netns { name, host_link, host_ip }
    }

    fn link(&self, up: bool) {
        let out = Command::new("ip")
            .args(["link", "set", &self.host_link, if up { "up" } else { "down" }])
            .output()
            .expect("ip");
        assert!(out.status.success(), "{}", support::stderr(&out));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host_link]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// One controller: its workspace (a machine's `.rtt/`) and its process.
struct Controller {
    id: String,
    dir: PathBuf,
    endpoints: String,
    netns: Option<String>,
    child: Option<Child>,
}

impl Controller {
    fn log(&self) -> PathBuf {
        self.dir.join("reconcile.log")
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log()).expect("log");
        let rtt = env!("CARGO_BIN_EXE_rtt");
        let args = [
            "reconcile",
            "--sign-key",
            "../k.key",
            "--etcd",
            &self.endpoints,
            "--id",
            &self.id,
            "--lease-ttl",
            "2s",
            "--interval",
            INTERVAL,
        ];
        let mut command = match &self.netns {
            Some(ns) => {
                // Only the network namespace changes (nsenter, from
                // util-linux), not the mounts.
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}")).arg(rtt).args(args);
                c
            }
            None => {
                let mut c = Command::new(rtt);
                c.args(args);
                c
            }
        };
        // Slow fsyncs widen each apply, so random kill points land inside
        // transactions more often (the benchmark counts how often).
        let child = command
            .env("RTT_DISK_DELAY_MS", "15")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("rtt reconcile starts");
        self.child = Some(child);
    }

    /// Sends `signal` to the controller and its running step.
    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill").args([&format!("-{signal}"), "--", &format!("-{}", child.id())]).output();
        }
    }

    fn kill(&mut self) {
        self.signal("KILL");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// SIGTERM: a leader finishes its step and resigns.
    fn stop(&mut self) {
        self.signal("TERM");
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + SETTLE;
            while child.try_wait().ok().flatten().is_none() {
                assert!(Instant::now() < deadline, "{} did not stop on SIGTERM", self.id);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Its log events, as JSON.
    fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The whole rig.
struct Rig {
    dir: tempfile::TempDir,
    cluster: Cluster,
    controllers: Vec<Controller>,
    netns: Option<Netns>,
    variant: usize,
    report: Report,
}

#[derive(Default, serde::Serialize)]
struct Report {
    kills: usize,
    /// Kills after which the next leader's recovery found a transaction open.
    kills_in_transaction: usize,
    failover_ms: Vec<u64>,
    settle_ms: Vec<u64>,
    pauses: usize,
    member_kills: usize,
    partitions: usize,
    accepted_calls: usize,
    stale_calls_refused: usize,
    stale_calls_accepted: usize,
    /// Faults after which the fleet was found exactly on the pointer's plan
    /// (a mixed state never settles, and fails the run).
    settled: usize,
    leaderships: usize,
}

const FLEETS: [&str; 2] = ["fleet-a", "fleet-b"];

impl Rig {
    fn new(partition: bool) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_owned();
        let netns = partition.then(Netns::create);
        let cluster = Cluster::start(&root, netns.as_ref().map(|n| n.host_ip.as_str()));
        let keygen = support::rtt_in(&root, &["keygen", "--out", "k"]);
        assert!(keygen.status.success(), "{}", support::stderr(&keygen));
        let mut controllers = Vec::new();
        for i in 1..=3 {
            let id = format!("c{i}");
            let workspace = root.join(&id);
            let trust = workspace.join(".rtt/registry/trust");
            std::fs::create_dir_all(trust.join("keys")).expect("trust");
            std::fs::copy(root.join("k.pub"), trust.join("keys/k.pub")).expect("key");
            std::fs::write(trust.join("policy.json"), "{\"threshold\": 1}\n").expect("policy");
            let in_ns = i == 3 && netns.is_some();
            let endpoints = match (&netns, in_ns) {
                (Some(ns), true) => cluster.endpoints(&ns.host_ip),
                _ => cluster.endpoints("127.0.0.1"),
            };
            controllers.push(Controller {
                id,
                dir: workspace,
                endpoints,
                netns: if in_ns { netns.as_ref().map(|n| n.name.clone()) } else { None },
                child: None,
            });
        }
        let rig = Rig { dir, cluster, controllers, netns, variant: 0, report: Report::default() };
        rig.write_config();
        rig
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The quickstart on two drivers (h01, h02 | h03, h04), in one of two
    /// variants whose plans move replicas on both drivers' hosts.
    fn write_config(&self) {
        let base = std::fs::read_to_string(support::repo().join("examples/quickstart/rtt.yaml")).expect("config");
        let mut config = base
            .replace("{name: h01,", "{name: h01, driver: fleet-a,")
            .replace("{name: h02,", "{name: h02, driver: fleet-a,")
            .replace("{name: h03,", "{name: h03, driver: fleet-b,")
            .replace("{name: h04,", "{name: h04, driver: fleet-b,");
        if self.variant % 2 == 1 {
            config = config
                .replace("id: batch@1\n    replicas: 2", "id: batch@1\n    replicas: 4")
                .replace("id: cache@2\n    replicas: 2", "id: cache@2\n    replicas: 4");
        }
        config.push_str("drivers:\n");
        for fleet in FLEETS {
            config.push_str(&format!("  {fleet}: {{builtin: dir, root: {}}}\n", self.root().join(fleet).display()));
        }
        for controller in &self.controllers {
            let path = controller.dir.join("rtt.yaml");
            let mut file = std::fs::File::create(&path).expect("config");
            file.write_all(config.as_bytes()).expect("write");
        }
    }

    /// Changes the inputs: the leader plans and applies a move.
    fn flip(&mut self) {
        self.variant += 1;
        self.write_config();
    }

    fn start_all(&mut self) {
        for controller in &mut self.controllers {
            controller.start();
        }
    }

    /// The controller that leads now, by the leader key.
    fn leader(&self) -> Option<usize> {
        let endpoints: Vec<String> = self.cluster.clients.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let etcd = rtt_ha::Etcd::connect(&endpoints, "default").ok()?;
        let leader = etcd.leader().ok()??;
        self.controllers.iter().position(|c| c.id == leader.id)
    }

    fn wait_leader(&self) -> usize {
        let deadline = Instant::now() + SETTLE;
        loop {
            if let Some(i) = self.leader() {
                return i;
            }
            assert!(Instant::now() < deadline, "no controller leads; logs under {}", self.root().display());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until etcd's pointer names a plan of the current variant,
    /// serial above `after`, and the hosts hold it; then judges the
    /// history. Returns when it settled.
    fn settle(&mut self, after: u64) -> Instant {
        let deadline = Instant::now() + SETTLE;
        loop {
            let memory = self.cluster.memory();
            if let Some(applied) = &memory.applied
                && applied.serial > after
                && let Some((_, bytes)) = memory.plans.iter().find(|(h, _)| *h == applied.plan)
            {
                let plan = rtt_trust::parse_plan(bytes).expect("a kept plan parses").document;
                let wanted = self.variant_replicas();
                let replicas: u32 = plan.placements.iter().filter(|p| p.agent == "batch@1").map(|p| p.replicas).sum();
                if replicas == wanted && self.fleet_matches(&plan) {
                    self.report.settled += 1;
                    let settled = Instant::now();
                    self.judge();
                    return settled;
                }
            }
            if Instant::now() > deadline {
                self.judge();
                panic!("the fleet did not settle on the current inputs within {SETTLE:?}: {}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn variant_replicas(&self) -> u32 {
        if self.variant % 2 == 1 { 4 } else { 2 }
    }

    fn serial(&self) -> u64 {
        self.cluster.memory().applied.map_or(0, |a| a.serial)
    }

    /// Every host holds exactly the plan's placements, and no staged
    /// (prepared, undecided) file is left.
    fn fleet_matches(&self, plan: &rtt_plan::PlanDocument) -> bool {
        let wanted = rtt_apply::coordinator::changes::by_host(&plan.placements);
        for (fleet, hosts) in FLEETS.iter().zip([["h01", "h02"], ["h03", "h04"]]) {
            let root = self.root().join(fleet);
            for host in hosts {
                let actual =
                    DirStore::read_host(&root, host).expect("readable").map(|f| f.placements).unwrap_or_default();
                let mut expected = wanted.get(host).cloned().unwrap_or_default();
                expected.sort();
                if actual != expected {
                    return false;
                }
                let staged = std::fs::read_dir(root.join(host))
                    .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("placements.json.")))
                    .unwrap_or(false);
                if staged {
                    return false;
                }
            }
        }
        true
    }

    /// The history checks of the module docs.
    fn judge(&mut self) {
        let mut led: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
        for controller in &self.controllers {
            for event in controller.events() {
                if event["event"] == "leading" {
                    led.entry(controller.id.clone()).or_default().insert(event["revision"].as_u64().expect("revision"));
                }
            }
        }
        let mut by_epoch: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
        let (mut accepted, mut refused, mut stale_accepted) = (0, 0, 0);
        for fleet in FLEETS {
            let calls: Vec<Call> = DirStore::calls(&self.root().join(fleet)).expect("calls");
            let mut highest = 0;
            for call in calls {
                if !call.accepted {
                    assert!(call.epoch < highest, "a refusal of a current epoch: {call:?}");
                    refused += 1;
                    continue;
                }
                accepted += 1;
                if call.epoch < highest {
                    stale_accepted += 1;
                }
                highest = highest.max(call.epoch);
                let revision = call.epoch >> rtt_ha::keys::EPOCH_SHIFT;
                assert!(
                    led.get(&call.by).is_some_and(|r| r.contains(&revision)),
                    "{} called {fleet} at epoch {} (leadership revision {revision}) without leading then: {led:?}",
                    call.by,
                    call.epoch
                );
                by_epoch.entry(call.epoch).or_default().insert(call.by);
            }
        }
        for (epoch, callers) in &by_epoch {
            assert_eq!(callers.len(), 1, "epoch {epoch} was used by {callers:?}");
        }
        assert_eq!(stale_accepted, 0, "a driver accepted a stale epoch");
        self.report.accepted_calls = accepted;
        self.report.stale_calls_refused = refused;
        self.report.stale_calls_accepted = stale_accepted;
        self.report.leaderships = led.values().map(BTreeSet::len).sum();
    }

    /// How long after `since_ms` a controller (the restarted one too) logged
    /// that it leads: waits for it.
    fn failover_ms(&self, since_ms: u64) -> u64 {
        let deadline = Instant::now() + SETTLE;
        loop {
            let won = self
                .controllers
                .iter()
                .flat_map(Controller::events)
                .filter(|e| e["event"] == "leading")
                .filter_map(|e| e["ts_ms"].as_u64())
                .filter(|ts| *ts >= since_ms)
                .min();
            if let Some(ts) = won {
                return ts - since_ms;
            }
            assert!(Instant::now() < deadline, "nobody took over: {}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A call at an epoch of the deposed leadership `revision`, to every
    /// driver, as its zombie would make it: each must be refused as stale
    /// (the drivers saw the successor's epoch). The judge counts them.
    fn zombie_calls(&self, revision: i64) {
        use rtt_apply::driver::protocol::{ErrorCode, Method};
        use rtt_apply::driver::serve::Handler;
        for (fleet, host) in FLEETS.iter().zip(["h01", "h03"]) {
            let mut store =
                DirStore::open(&self.root().join(fleet), rtt_apply::fault::Faults::disabled()).expect("driver");
            let open = serde_json::json!({"plan": format!("sha256:{}", "0".repeat(64)),
                "epoch": rtt_ha::keys::epochs(revision).start + 1, "capabilities": ["placements.write"], "hosts": [host]});
            match store.handle(Method::Open, open) {
                Err(refusal) => assert_eq!(refusal.code, ErrorCode::StaleEpoch, "{refusal:?}"),
                Ok(answer) => panic!("{fleet} accepted the deposed leadership {revision}'s epoch: {answer}"),
            }
        }
    }

    /// How many calls the drivers judged so far.
    fn calls(&self) -> usize {
        FLEETS.iter().map(|f| DirStore::calls(&self.root().join(f)).map_or(0, |c| c.len())).sum()
    }

    /// Whether a leadership won after `since_ms` found a transaction open.
    fn recovered_open(&self, since_ms: u64) -> bool {
        self.controllers.iter().flat_map(Controller::events).any(|e| {
            e["event"] == "recovered"
                && e["ts_ms"].as_u64().is_some_and(|ts| ts >= since_ms)
                && !e["stdout"].as_str().unwrap_or_default().contains("nothing to do")
        })
    }

    /// Every controller's log, for a failure message.
    fn logs(&self) -> String {
        self.controllers
            .iter()
            .map(|c| format!("--- {}\n{}", c.id, std::fs::read_to_string(c.log()).unwrap_or_default()))
            .collect()
    }

    fn write_report(&self) {
        if let Some(path) = std::env::var_os("RTT_HA_REPORT") {
            std::fs::write(path, serde_json::to_vec_pretty(&self.report).expect("json")).expect("report");
        }
        eprintln!("{}", serde_json::to_string(&self.report).expect("json"));
    }
}

/// A tiny deterministic generator for the kill points (the run is
/// reproducible from its seed, `RTT_HA_SEED`).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn leader_kills_pauses_and_a_lost_member_never_mix_the_fleet_nor_reuse_an_epoch() {
    let mut rig = Rig::new(false);
    rig.start_all();
    rig.wait_leader();
    rig.settle(0);
    let kills = env_number("RTT_HA_KILLS", 10) as usize;
    let mut rng = Lcg(env_number("RTT_HA_SEED", 19));
    for round in 0..kills {
        let leader = rig.wait_leader();
        let before = rig.serial();
        let calls = rig.calls();
        rig.flip();
        if round % 2 == 0 {
            // Anywhere from before the change is seen to after its commit.
            std::thread::sleep(Duration::from_millis(rng.below(1200)));
        } else {
            // Inside the transaction: from its first driver call on.
            let deadline = Instant::now() + Duration::from_secs(10);
            while rig.calls() == calls && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(rng.below(200)));
        }
        let killed_at = now_ms();
        rig.controllers[leader].kill();
        rig.controllers[leader].start();
        let failover = rig.failover_ms(killed_at);
        rig.settle(before);
        assert!(
            failover <= (TTL + Duration::from_secs(3)).as_millis() as u64,
            "failover took {failover} ms, above the lease TTL plus a cycle"
        );
        rig.report.failover_ms.push(failover);
        rig.report.settle_ms.push(now_ms() - killed_at);
        rig.report.kills += 1;
        if rig.recovered_open(killed_at) {
            rig.report.kills_in_transaction += 1;
        }
    }
    // A leader paused past its lease, then resumed: a zombie, deposed.
    for _ in 0..env_number("RTT_HA_PAUSES", 1) {
        let leader = rig.wait_leader();
        let before = rig.serial();
        let deposals = rig.controllers[leader].events().iter().filter(|e| e["event"] == "deposed").count();
        let revision = rig.controllers[leader]
            .events()
            .iter()
            .rev()
            .find(|e| e["event"] == "leading")
            .and_then(|e| e["revision"].as_i64())
            .expect("the leader logged its leadership");
        rig.controllers[leader].signal("STOP");
        let paused_at = now_ms();
        std::thread::sleep(TTL + Duration::from_millis(500));
        rig.flip();
        rig.report.failover_ms.push(rig.failover_ms(paused_at));
        rig.settle(before);
        rig.controllers[leader].signal("CONT");
        std::thread::sleep(Duration::from_secs(1));
        let now = rig.controllers[leader].events().iter().filter(|e| e["event"] == "deposed").count();
        assert!(now > deposals, "the resumed controller knows it was deposed: {}", rig.logs());
        rig.zombie_calls(revision);
        rig.judge();
        rig.report.pauses += 1;
    }
    // An etcd member dies: the cluster keeps its quorum and the work goes on.
    for round in 0..env_number("RTT_HA_MEMBER_KILLS", 1) as usize {
        let member = round % 3;
        rig.cluster.kill(member);
        let before = rig.serial();
        rig.flip();
        rig.settle(before);
        rig.report.member_kills += 1;
        rig.cluster.run(member);
        rig.cluster.wait_healthy();
    }
    // A plain step on a controller's workspace would act beside the leader.
    let plain = support::rtt_in(&rig.controllers[0].dir, &["recover"]);
    assert!(
        !plain.status.success() && support::stderr(&plain).contains("rtt::ha::managed"),
        "{}",
        support::stderr(&plain)
    );
    rig.write_report();
}

#[test]
fn a_leader_cut_off_from_etcd_is_replaced_and_rejoins_as_a_follower() {
    let mut rig = Rig::new(true);
    rig.controllers[2].start();
    rig.settle(0);
    for _ in 0..env_number("RTT_HA_PARTITIONS", 1) {
        // c3 (in the namespace) leads: the others stand down while it wins.
        rig.controllers[0].stop();
        rig.controllers[1].stop();
        let deadline = Instant::now() + SETTLE;
        while rig.leader() != Some(2) {
            assert!(Instant::now() < deadline, "c3 never led: {}", rig.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
        rig.controllers[0].start();
        rig.controllers[1].start();
        let deposals = rig.controllers[2].events().iter().filter(|e| e["event"] == "deposed").count();
        let revision = rig.controllers[2]
            .events()
            .iter()
            .rev()
            .find(|e| e["event"] == "leading")
            .and_then(|e| e["revision"].as_i64())
            .expect("c3 logged its leadership");
        let before = rig.serial();
        rig.flip();
        std::thread::sleep(Duration::from_millis(300));
        let cut_at = now_ms();
        rig.netns.as_ref().expect("namespace").link(false);
        rig.report.failover_ms.push(rig.failover_ms(cut_at));
        rig.settle(before);
        std::thread::sleep(TTL);
        let now = rig.controllers[2].events().iter().filter(|e| e["event"] == "deposed").count();
        assert!(now > deposals, "the cut-off leader stood down: {}", rig.logs());
        rig.zombie_calls(revision);
        rig.netns.as_ref().expect("namespace").link(true);
        // Healed, it follows; more work lands.
        let before = rig.serial();
        rig.flip();
        rig.settle(before);
        rig.report.partitions += 1;
    }
    rig.judge();
    rig.write_report();
}

#[test]
fn a_deposed_leadership_cannot_write_the_shared_wal_and_it_never_forks() {
    use rtt_apply::log::wal::{Decision, Entry, seal};
    use rtt_apply::replica::{Replica, ReplicaError};
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::start(dir.path(), None);
    let endpoints: Vec<String> = cluster.clients.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let etcd = rtt_ha::Etcd::connect(&endpoints, "default").expect("connect");
    let first = rtt_ha::Leadership::campaign(&etcd, "a", TTL).expect("etcd answers").expect("a wins");
    assert!(rtt_ha::Leadership::campaign(&etcd, "b", TTL).expect("etcd answers").is_none(), "one leader at a time");
    let old = first.revision();
    let mut deposed = rtt_ha::EtcdReplica::new(etcd.clone(), old);
    let begin = Entry::Begin {
        txn: "t1".into(),
        epoch: rtt_ha::keys::epochs(old).start,
        from: None,
        to: rtt_canonical::Sha256::of(b"plan"),
        serial: 1,
        rollback_of: None,
        participants: BTreeMap::new(),
    };
    let r1 = seal(1, None, begin).expect("seal");
    deposed.wal(&r1).expect("the leader writes");
    first.resign();
    let second = rtt_ha::Leadership::campaign(&etcd, "b", TTL).expect("etcd answers").expect("b wins");
    assert!(rtt_ha::keys::epochs(second.revision()).start >= rtt_ha::keys::epochs(old).end);
    let decision = |outcome| Entry::Decision { txn: "t1".into(), outcome, reason: None };
    let r2 = seal(2, Some(r1.hash), decision(Decision::Commit)).expect("seal");
    assert!(
        matches!(deposed.wal(&r2), Err(ReplicaError::Deposed { .. })),
        "the old leadership's write is refused by etcd"
    );
    let mut leader = rtt_ha::EtcdReplica::new(etcd.clone(), second.revision());
    let abort = seal(2, Some(r1.hash), decision(Decision::Abort)).expect("seal");
    leader.wal(&abort).expect("the new leader continues the chain");
    assert!(leader.wal(&r2).is_err(), "a second record at seq 2 (a fork) is refused");
    let gap = seal(4, Some(abort.hash), decision(Decision::Abort)).expect("seal");
    assert!(leader.wal(&gap).is_err(), "a gap is refused");
    assert_eq!(cluster.memory().wal, vec![r1, abort]);
}

#[test]
fn the_first_leader_seeds_the_cluster_with_its_single_machine_history() {
    let rig = Rig::new(false);
    let workspace = &rig.controllers[0].dir;
    // One machine first: a plan applied with the local WAL and pointer.
    let local = support::rtt_in(workspace, &["reconcile", "--once", "--sign-key", "../k.key"]);
    assert!(local.status.success(), "{}", support::stderr(&local));
    let before = rtt_apply::replica::local(&rtt_durable::Layout::beside(&workspace.join("rtt.yaml"))).expect("local");
    assert!(before.applied.is_some() && !before.wal.is_empty());
    // Then HA: the first leader brings that history into etcd, and acts on it.
    let endpoints = rig.cluster.endpoints("127.0.0.1");
    let once = support::rtt_in(workspace, &["reconcile", "--once", "--sign-key", "../k.key", "--etcd", &endpoints]);
    assert!(once.status.success(), "{}", support::stderr(&once));
    assert!(support::stderr(&once).contains("\"result\":\"idle\""), "{}", support::stderr(&once));
    let shared = rig.cluster.memory();
    assert_eq!(shared.wal, before.wal, "the WAL carried over, record for record");
    assert_eq!(shared.applied, before.applied);
    assert!(shared.plans.iter().any(|(hash, _)| before.applied.as_ref().is_some_and(|a| a.plan == *hash)));
    // It resigned on exit: another controller wins at once.
    let etcd = rtt_ha::Etcd::connect(&endpoints.split(',').map(str::to_owned).collect::<Vec<_>>(), "default")
        .expect("connect");
    assert_eq!(etcd.leader().expect("etcd answers"), None, "--once resigns");
}

#[test]
fn a_controller_that_cannot_reach_etcd_fails_once_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(support::repo().join("examples/quickstart/rtt.yaml"), dir.path().join("rtt.yaml")).expect("config");
    let nobody = format!("127.0.0.1:{}", free_port());
    let out = support::rtt_in(dir.path(), &["reconcile", "--once", "--etcd", &nobody]);
    assert_eq!(out.status.code(), Some(1), "{}", support::stderr(&out));
    assert!(support::stderr(&out).contains(&nobody), "the endpoint is named: {}", support::stderr(&out));
}
