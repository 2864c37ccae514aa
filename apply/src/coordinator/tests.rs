//! The coordinator against real drivers: the built-in `dir` driver in
//! process, and driver processes (`apply/tests/drivers/misbehaving`, built on
//! the Python example) that misbehave in one way each. Crashes (SIGKILL) are
//! in the root package's crash matrix, which needs the `rtt` binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rtt_canonical::Sha256;
use rtt_plan::{PlacementRow, PlanDocument};

use super::*;
use crate::driver::dir::{DirStore, PlacementsFile};
use crate::driver::protocol::Placement;
use crate::log::recovery::{Action, next_action, transactions};
use crate::log::wal::{Entry, Wal};
use crate::workspace::{DriverConfig, Fleet, Workspace};

fn plan(serial: u64, previous: Option<Sha256>, rows: &[(&str, &str, u32)]) -> PlanToApply {
    let placements: Vec<PlacementRow> = rows
        .iter()
        .map(|(agent, host, replicas)| PlacementRow {
            agent: (*agent).into(),
            host: (*host).into(),
            numa: 0,
            replicas: *replicas,
        })
        .collect();
    let document = PlanDocument::bare(Sha256::of(b"config"), serial, previous, placements);
    let hash = document.hash().expect("hashable");
    let bytes = document.to_file_bytes().expect("encodable");
    PlanToApply::verified(document, hash, bytes)
}

struct Setup {
    _dir: tempfile::TempDir,
    workspace: Workspace,
    fleet: Fleet,
}

impl Setup {
    /// Drivers by name with their hosts; `None` is a built-in dir driver,
    /// `Some(mode)` the misbehaving process in that mode.
    fn new(drivers: &[(&str, Option<&str>, &[&str])]) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().to_owned();
        let workspace =
            Workspace { layout: rtt_durable::Layout::at(base.join(".rtt")), base: base.clone(), launcher: None };
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drivers/misbehaving");
        let mut fleet = Fleet { drivers: BTreeMap::new(), driver_of: BTreeMap::new(), hosts_of: BTreeMap::new() };
        for (name, mode, hosts) in drivers {
            let root = base.join("hosts").join(name);
            let config = match mode {
                None => DriverConfig::Dir { root },
                Some(mode) => DriverConfig::Command {
                    argv: vec![
                        "python3".into(),
                        script.display().to_string(),
                        (*mode).into(),
                        "--root".into(),
                        root.display().to_string(),
                    ],
                    capabilities: vec!["placements.write".into()],
                    timeout: Duration::from_millis(1500),
                    root: root.clone(),
                    env: Vec::new(),
                    // No launcher in a library test: the protocol is what is tested here.
                    sandbox: crate::driver::sandbox::Mode::Off,
                },
            };
            fleet.drivers.insert((*name).into(), config);
            for host in *hosts {
                fleet.driver_of.insert((*host).into(), (*name).into());
            }
            fleet.hosts_of.insert((*name).into(), hosts.iter().map(|h| h.to_string()).collect());
        }
        Setup { _dir: dir, workspace, fleet }
    }

    fn coordinator(&self) -> Coordinator {
        Coordinator::open(self.workspace.clone(), self.fleet.clone(), Faults::disabled()).expect("coordinator opens")
    }

    /// Apply through a fresh coordinator, closing it like the CLI does.
    fn apply(&self, plan: &PlanToApply) -> Result<Report, ApplyError> {
        let mut coordinator = self.coordinator();
        let result = coordinator.recover().and_then(|_| coordinator.apply(plan));
        coordinator.finish();
        result
    }

    fn root(&self, driver: &str) -> PathBuf {
        self.workspace.base.join("hosts").join(driver)
    }

    fn host(&self, driver: &str, host: &str) -> Option<PlacementsFile> {
        DirStore::read_host(&self.root(driver), host).expect("readable")
    }

    fn staged_files(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.workspace.base.join("hosts")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("placements.json.")) {
                    found.push(path);
                }
            }
        }
        found
    }

    fn wal_action(&self) -> Action {
        let wal = Wal::open(&self.workspace.layout.wal(), None).expect("wal opens");
        next_action(&transactions(wal.records()).expect("consistent"))
    }
}

fn rows(agent: &str, replicas: u32) -> Vec<Placement> {
    vec![Placement { agent: agent.into(), numa: 0, replicas }]
}

#[test]
fn a_plan_commits_on_every_driver_and_a_second_touches_only_changed_hosts() {
    let setup = Setup::new(&[("a", None, &["h1", "h2"]), ("b", None, &["h3"])]);
    let first = plan(1, None, &[("x@1", "h1", 1), ("x@1", "h2", 1), ("y@1", "h3", 2)]);
    let report = setup.apply(&first).expect("first apply");
    assert_eq!(report.outcome, Outcome::Committed);
    assert_eq!(report.hosts_changed, 3);
    assert_eq!(setup.host("b", "h3").expect("h3 written").placements, rows("y@1", 2));
    let second = plan(2, Some(first.hash()), &[("x@1", "h1", 2), ("x@1", "h2", 1), ("y@1", "h3", 2)]);
    let report = setup.apply(&second).expect("second apply");
    assert_eq!((report.hosts_changed, report.drivers.clone()), (1, vec!["a".to_owned()]));
    assert_eq!(setup.host("a", "h1").expect("h1").plan, second.hash().to_string());
    assert_eq!(setup.host("a", "h2").expect("h2").plan, first.hash().to_string(), "h2 did not change");
    let applied = read_applied(&setup.workspace.state_dir()).expect("readable").expect("applied");
    assert_eq!((applied.plan, applied.serial, applied.highest_serial), (second.hash(), 2, 2));
    assert!(setup.staged_files().is_empty());
    assert_eq!(setup.wal_action(), Action::Nothing);
}

/// A well-behaved dir driver `a` prepares first; the misbehaving `b` then
/// fails. Whatever `b` does, `a` ends on the old placements, nothing stays
/// staged, the WAL has nothing in doubt, and the error names `b`.
fn misbehaving(mode: &str) -> ApplyError {
    let setup = Setup::new(&[("a", None, &["h1"]), ("b", Some(mode), &["h2"])]);
    let before = plan(1, None, &[("x@1", "h1", 1)]);
    setup.apply(&before).expect("only `a` takes part in the first plan");
    let after = plan(2, Some(before.hash()), &[("x@1", "h1", 2), ("x@1", "h2", 1)]);
    let error = setup.apply(&after).expect_err("the misbehaving driver stops the plan");
    assert!(error.to_string().contains("`b`"), "error names the driver: {error}");
    assert_eq!(setup.host("a", "h1").expect("h1").placements, rows("x@1", 1), "old placements on `a`");
    assert!(setup.staged_files().iter().all(|p| !p.starts_with(setup.root("a"))), "nothing staged on `a`");
    assert_eq!(setup.wal_action(), Action::Nothing, "nothing in doubt");
    let applied = read_applied(&setup.workspace.state_dir()).expect("readable").expect("applied");
    assert_eq!(applied.plan, before.hash());
    error
}

#[test]
fn a_silent_driver_times_out_before_anything_is_logged() {
    let error = misbehaving("silent");
    assert!(
        matches!(error, ApplyError::NotStarted(DriverError::Timeout { ref driver, .. }) if driver == "b"),
        "{error}"
    );
}

#[test]
fn a_slow_driver_times_out_at_prepare_and_the_transaction_aborts() {
    let error = misbehaving("slow-prepare");
    assert!(
        matches!(error, ApplyError::Aborted { ref reasons, .. } if reasons[0].contains("did not answer Tx")),
        "{error}"
    );
}

#[test]
fn a_driver_that_dies_after_the_handshake_votes_no() {
    let error = misbehaving("dies-after-handshake");
    assert!(
        matches!(error, ApplyError::Aborted { ref reasons, .. } if reasons[0].contains("exited during Open")),
        "{error}"
    );
}

#[test]
fn garbage_on_stdout_votes_no() {
    let error = misbehaving("garbage");
    assert!(matches!(error, ApplyError::Aborted { ref reasons, .. } if reasons[0].contains("garbage")), "{error}");
}

#[test]
fn a_line_over_one_mebibyte_votes_no() {
    let error = misbehaving("huge-line");
    assert!(matches!(error, ApplyError::Aborted { ref reasons, .. } if reasons[0].contains("over 1 MiB")), "{error}");
}

#[test]
fn a_driver_asking_for_ungranted_capabilities_is_refused_before_the_transaction() {
    let error = misbehaving("capability-breach");
    assert!(matches!(error, ApplyError::NotStarted(DriverError::CapabilityBreach { .. })), "{error}");
}

#[test]
fn a_fenced_off_coordinator_aborts_on_stale_epoch() {
    let error = misbehaving("stale-epoch");
    assert!(matches!(error, ApplyError::Aborted { ref reasons, .. } if reasons[0].contains("stale_epoch")), "{error}");
}

#[test]
fn a_no_vote_aborts_everywhere() {
    let error = misbehaving("votes-no");
    assert!(matches!(error, ApplyError::Aborted { ref reasons, .. } if reasons[0].contains("disk full")), "{error}");
}

#[test]
fn a_verify_mismatch_rolls_back_to_the_previous_plan_through_a_second_transaction() {
    let setup = Setup::new(&[("a", None, &["h1"]), ("b", Some("rx-lies-once"), &["h2"])]);
    std::fs::create_dir_all(setup.root("b")).expect("root");
    std::fs::write(setup.root("b").join(".lied"), "").expect("no lie for the first plan");
    let before = plan(1, None, &[("x@1", "h1", 1), ("x@1", "h2", 1)]);
    setup.apply(&before).expect("first apply verifies");
    std::fs::remove_file(setup.root("b").join(".lied")).expect("lie once now");
    let after = plan(2, Some(before.hash()), &[("x@1", "h1", 2), ("x@1", "h2", 2)]);
    let error = setup.apply(&after).expect_err("verify fails");
    assert!(
        matches!(error, ApplyError::VerifyFailed { ref rollback, .. } if rollback.starts_with("rolled back")),
        "{error}"
    );
    assert_eq!(setup.host("a", "h1").expect("h1").placements, rows("x@1", 1));
    let b = DirStore::read_host(&setup.root("b"), "h2").expect("readable").expect("h2");
    assert_eq!(b.placements, rows("x@1", 1));
    let applied = read_applied(&setup.workspace.state_dir()).expect("readable").expect("applied");
    assert_eq!((applied.plan, applied.serial, applied.highest_serial), (before.hash(), 1, 2), "serial 2 stays spent");
    assert_eq!(setup.wal_action(), Action::Nothing);
}

#[test]
fn a_breaker_opens_after_repeated_transport_failures_and_refuses_without_contacting_the_driver() {
    let setup = Setup::new(&[("b", Some("dies-after-handshake"), &["h2"])]);
    let target = plan(1, None, &[("x@1", "h2", 1)]);
    for _ in 0..crate::coordinator::breaker::THRESHOLD {
        assert!(matches!(setup.apply(&target), Err(ApplyError::Aborted { .. })));
    }
    let error = setup.apply(&target).expect_err("breaker open");
    assert!(matches!(error, ApplyError::BreakerOpen { ref driver, .. } if driver == "b"), "{error}");
}

#[test]
fn a_second_coordinator_is_locked_out() {
    let setup = Setup::new(&[("a", None, &["h1"])]);
    let _first = setup.coordinator();
    let second = Coordinator::open(setup.workspace.clone(), setup.fleet.clone(), Faults::disabled());
    assert!(matches!(second, Err(ApplyError::Lock(LockError::Held { .. }))));
}

/// Writes the WAL records and driver state a coordinator leaves when it
/// crashes after `begin` and after every driver voted yes.
fn crashed_after_prepare(setup: &Setup, decision: Option<Decision>) -> (PlanToApply, PlanToApply) {
    let before = plan(1, None, &[("x@1", "h1", 1), ("x@1", "h2", 1)]);
    setup.apply(&before).expect("first apply");
    let after = plan(2, Some(before.hash()), &[("x@1", "h1", 3), ("x@1", "h2", 3)]);
    setup.workspace.keep_plan(&after.hash(), &after.bytes).expect("kept");
    let anchor = setup.workspace.read_anchor().expect("anchor");
    let mut wal = Wal::open(&setup.workspace.layout.wal(), anchor.as_ref()).expect("wal");
    let epoch = 50;
    let participants =
        BTreeMap::from([("a".to_owned(), vec!["h1".to_owned()]), ("b".to_owned(), vec!["h2".to_owned()])]);
    let begin = Entry::Begin {
        txn: "t50".into(),
        epoch,
        from: Some(before.hash()),
        to: after.hash(),
        serial: 2,
        rollback_of: None,
        participants: participants.clone(),
    };
    wal.append(begin, &Faults::disabled()).expect("begin");
    for (driver, hosts) in &participants {
        let mut store = DirStore::open(&setup.root(driver), Faults::disabled()).expect("store");
        let open = serde_json::json!({"plan": after.hash().to_string(), "epoch": epoch,
            "capabilities": ["placements.write"], "hosts": hosts});
        crate::driver::serve::Handler::handle(&mut store, crate::driver::protocol::Method::Open, open).expect("open");
        let desired: BTreeMap<&String, Vec<Placement>> = hosts.iter().map(|h| (h, rows("x@1", 3))).collect();
        let prepare = serde_json::json!({"phase": "prepare", "epoch": epoch, "txn": "t50", "hosts": desired});
        crate::driver::serve::Handler::handle(&mut store, crate::driver::protocol::Method::Tx, prepare)
            .expect("prepare");
    }
    if let Some(outcome) = decision {
        wal.append(Entry::Decision { txn: "t50".into(), outcome, reason: None }, &Faults::disabled())
            .expect("decision");
    }
    (before, after)
}

fn files_of(setup: &Setup) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![setup.workspace.base.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if !path.ends_with("phases.jsonl") {
                files.insert(path.clone(), std::fs::read(&path).expect("readable"));
            }
        }
    }
    files
}

#[test]
fn recovery_presumes_abort_when_no_decision_was_logged() {
    let setup = Setup::new(&[("a", None, &["h1"]), ("b", None, &["h2"])]);
    let (before, _) = crashed_after_prepare(&setup, None);
    let mut coordinator = setup.coordinator();
    let report = coordinator.recover().expect("recovers").expect("had work");
    coordinator.finish();
    assert_eq!(report.outcome, Outcome::Aborted);
    for (driver, host) in [("a", "h1"), ("b", "h2")] {
        assert_eq!(setup.host(driver, host).expect("host").plan, before.hash().to_string());
    }
    assert!(setup.staged_files().is_empty());
}

#[test]
fn recovery_redelivers_a_logged_commit_and_replaying_it_again_changes_nothing() {
    let setup = Setup::new(&[("a", None, &["h1"]), ("b", None, &["h2"])]);
    let (_, after) = crashed_after_prepare(&setup, Some(Decision::Commit));
    let mut coordinator = setup.coordinator();
    let report = coordinator.recover().expect("recovers").expect("had work");
    coordinator.finish();
    assert_eq!(report.outcome, Outcome::Committed);
    for (driver, host) in [("a", "h1"), ("b", "h2")] {
        assert_eq!(setup.host(driver, host).expect("host").placements, rows("x@1", 3));
    }
    let applied = read_applied(&setup.workspace.state_dir()).expect("readable").expect("applied");
    assert_eq!(applied.plan, after.hash());
    let once = files_of(&setup);
    for _ in 0..3 {
        let mut again = setup.coordinator();
        assert_eq!(again.recover().expect("recovers"), None);
        again.finish();
    }
    let mut many = files_of(&setup);
    many.remove(&setup.workspace.layout.state().breakers());
    let mut once = once;
    once.remove(&setup.workspace.layout.state().breakers());
    assert_eq!(many, once, "replaying the finished WAL changes no file");
}

/// The misbehaving-driver matrix (issue 16): driver `b` misbehaves once,
/// in every way, at every point of an apply; `a` is well behaved. Whatever
/// the first apply returns, after recovery every host holds the plan the
/// applied state names (never a mix), nothing is staged or in doubt, and
/// once `b` behaves the new plan is reached. A failure is a typed error
/// naming `b`, never a panic or a hang.
#[test]
fn every_driver_fault_at_every_point_ends_on_one_plan() {
    const FAULTS: [&str; 8] = ["hang", "crash", "garbage", "huge", "partial", "wrong-id", "stale-id", "stderr-flood"];
    const POINTS: [&str; 6] = ["Probe", "Open", "prepare", "commit", "Rx", "Close"];
    let cases: Vec<(&str, &str)> = FAULTS.iter().flat_map(|f| POINTS.iter().map(move |p| (*f, *p))).collect();
    // Two at a time: half the hangs' deadlines overlap.
    let outcomes: Vec<String> = std::thread::scope(|scope| {
        cases
            .chunks(cases.len().div_ceil(2))
            .map(|chunk| scope.spawn(move || chunk.iter().map(|(f, p)| one_fault(f, p)).collect::<Vec<_>>()))
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|h| h.join().expect("a case panicked"))
            .collect()
    });
    let failed = outcomes.iter().filter(|o| o.contains("failed")).count();
    eprintln!("driver faults: {} of {} survived, {failed} of them with a typed error", outcomes.len(), cases.len());
    for outcome in &outcomes {
        eprintln!("  {outcome}");
    }
}

/// One case of the matrix; returns what happened, for the tally.
fn one_fault(fault: &str, point: &str) -> String {
    let mode = format!("{fault}@{point}");
    let setup = Setup::new(&[("a", None, &["h1"]), ("b", Some(&mode), &["h2"])]);
    let before = plan(1, None, &[("x@1", "h1", 1)]);
    setup.apply(&before).expect("only `a` takes part in the first plan");
    let after = plan(2, Some(before.hash()), &[("x@1", "h1", 2), ("x@1", "h2", 1)]);
    let first = setup.apply(&after);
    if let Err(error) = &first {
        assert!(error.to_string().contains("`b`"), "{mode}: the error names the driver: {error}");
    }
    // Recovery (as the next command runs it), then one plan everywhere.
    let mut coordinator = setup.coordinator();
    coordinator.recover().unwrap_or_else(|e| panic!("{mode}: recovery: {e}"));
    coordinator.finish();
    let applied = read_applied(&setup.workspace.state_dir()).expect("readable").expect("applied");
    let on = |host: &str, driver: &str| setup.host(driver, host).map(|f| f.placements).unwrap_or_default();
    if applied.plan == after.hash() {
        assert_eq!((on("h1", "a"), on("h2", "b")), (rows("x@1", 2), rows("x@1", 1)), "{mode}: all on plan 2");
    } else {
        assert_eq!(applied.plan, before.hash(), "{mode}");
        assert_eq!((on("h1", "a"), on("h2", "b")), (rows("x@1", 1), vec![]), "{mode}: all on plan 1");
    }
    assert!(setup.staged_files().is_empty(), "{mode}: nothing staged: {:?}", setup.staged_files());
    assert_eq!(setup.wal_action(), Action::Nothing, "{mode}: nothing in doubt");
    // `b` behaves now: the new plan is reached.
    if applied.plan != after.hash() {
        setup.apply(&after).unwrap_or_else(|e| panic!("{mode}: once `b` behaves: {e}"));
        assert_eq!((on("h1", "a"), on("h2", "b")), (rows("x@1", 2), rows("x@1", 1)), "{mode}: then plan 2");
    }
    // Before the decision a fault aborts; after it, the decision is
    // delivered to a restarted `b` and verified within the same apply; a
    // flood on stderr is drained to the driver's log and changes nothing.
    let before_decision = matches!(point, "Probe" | "Open" | "prepare") && fault != "stderr-flood";
    assert_eq!(first.is_err(), before_decision, "{mode}: {first:?}");
    match first {
        Ok(_) => format!("{mode}: committed"),
        Err(error) => format!("{mode}: failed ({}), then on plan {}", error_code(&error), applied.serial),
    }
}

fn error_code(error: &ApplyError) -> String {
    miette::Diagnostic::code(error).map(|c| c.to_string()).unwrap_or_else(|| "no code".into())
}
