//! `rtt mount` and `rtt materialize`: a verified plan's provider views as a
//! read-only FUSE filesystem, or as a tree on disk.
//!
//! Nothing is served from a plan that did not pass every check of
//! `rtt verify` (signatures and threshold, the registry mix-and-match check)
//! plus the mount's own rollback rule: the plan must be the applied plan or
//! newer than anything applied.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rtt_durable::Layout;
use rtt_registry::Registry;
use rtt_vfs::materialize::{Method, Mode};
use rtt_vfs::status::{MountRecord, MountState};
use rtt_vfs::{Mount, snapshot};

use crate::cli::{Format, MaterializeArgs, MaterializeMode, MountArgs, MountCommand};
use crate::exit::Failure;
use crate::views::{MountFailed, applied_plan_hash, verified_views};

/// How often a following mount looks for a newly applied plan.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

pub fn mount(args: &MountArgs) -> Result<ExitCode, Failure> {
    let mountpoint = match (&args.command, &args.mountpoint) {
        (Some(MountCommand::Status { format }), _) => return status(&args.checks.layout, *format),
        (None, Some(mountpoint)) => mountpoint,
        (None, None) => return Err(MountFailed { reason: "no mount point given".into() }.into()),
    };
    let layout = &args.checks.layout;
    let absolute = std::path::absolute(mountpoint)
        .map_err(|e| MountFailed { reason: format!("{}: {e}", mountpoint.display()) })?;
    if args.cleanup {
        let was = rtt_vfs::cleanup(mountpoint)?;
        rtt_vfs::status::withdraw(layout, &absolute)?;
        println!("{}: {}", mountpoint.display(), if was { "unmounted" } else { "not mounted" });
        return Ok(ExitCode::SUCCESS);
    }
    // Fail before forking: a plan that does not verify is reported here, to the caller.
    let (plan_path, plan, views) = verified_views(args.plan.as_deref(), &args.checks, args.provider.as_deref())?;
    if !args.foreground {
        return spawn_background(args, mountpoint);
    }
    let registry = Registry::open(layout.registry().root());
    let mount = Mount::new(mountpoint, snapshot(plan, &views, registry)?)?;
    let mut record = MountRecord {
        mountpoint: absolute,
        pid: std::process::id(),
        plan,
        plan_path: std::path::absolute(&plan_path).unwrap_or(plan_path.clone()),
        follows_applied: args.plan.is_none(),
        started_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        switches: 0,
    };
    if let Err(e) = rtt_vfs::status::publish(layout, &record) {
        // Serving matters more than being listed.
        eprintln!("rtt: warning: `rtt mount status` will not list this mount: {e}");
    }
    crate::output::note(format_args!("serving plan {plan} from {} at {}", plan_path.display(), mountpoint.display()));
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(|e| MountFailed { reason: e.to_string() })?;
    }
    let mut serving = plan;
    // Until a signal, or until the mount is unmounted from outside (then
    // there is nothing left to serve, and a lingering process would only
    // confuse `rtt mount status`).
    while !stop.load(Ordering::Relaxed) && mount.is_serving() {
        std::thread::sleep(FOLLOW_EVERY);
        if args.plan.is_some() {
            continue;
        }
        // Following the applied plan: switch only to a plan that verifies; otherwise keep serving.
        match applied_plan_hash(&args.checks.state) {
            Ok(Some(hash)) if hash != serving => match verified_views(None, &args.checks, args.provider.as_deref()) {
                Ok((path, next, views)) => {
                    let registry = Registry::open(args.checks.layout.registry().root());
                    match snapshot(next, &views, registry) {
                        Ok(snap) => {
                            let changes = mount.switch(snap);
                            serving = next;
                            record.plan = next;
                            record.plan_path = std::path::absolute(&path).unwrap_or(path.clone());
                            record.switches += 1;
                            if let Err(e) = rtt_vfs::status::publish(layout, &record) {
                                eprintln!("rtt: warning: the mount's record still names the previous plan: {e}");
                            }
                            eprintln!(
                                "rtt: switched to plan {next} from {} ({} entries, {} directories changed)",
                                path.display(),
                                changes.entries.len(),
                                changes.inodes.len()
                            );
                        }
                        Err(e) => eprintln!("rtt: not switching to plan {next}: {e}"),
                    }
                }
                Err(failure) => eprintln!("rtt: not switching to plan {hash}: {}", failure.report),
            },
            Ok(_) => {}
            Err(failure) => eprintln!("rtt: cannot read the applied state: {}", failure.report),
        }
    }
    let from_outside = !mount.is_serving();
    mount.unmount()?;
    rtt_vfs::status::withdraw(layout, &record.mountpoint)?;
    let how = if from_outside { " (from outside)" } else { "" };
    crate::output::note(format_args!("unmounted {}{how}", mountpoint.display()));
    Ok(ExitCode::SUCCESS)
}

/// `rtt mount status`: every mount recorded under `RTT/mounts/`, with what is
/// true of it now.
fn status(layout: &Layout, format: Format) -> Result<ExitCode, Failure> {
    let mounts = rtt_vfs::status::statuses(layout)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    crate::output::emit(
        format,
        || {
            if mounts.is_empty() {
                return format!("no mounts recorded in {}\n", layout.mounts().display());
            }
            let mut out = String::new();
            for mount in &mounts {
                let record = &mount.record;
                let serves = if record.follows_applied { "following the applied plan" } else { "pinned by --plan" };
                out += &format!(
                    "{}  {}  pid {}  plan {} ({serves}, {} switches)  up {}\n",
                    record.mountpoint.display(),
                    mount.state.name(),
                    record.pid,
                    record.plan,
                    record.switches,
                    age(now.saturating_sub(record.started_unix)),
                );
                match mount.state {
                    MountState::Stale => {
                        out += &format!("  the process is gone: rtt mount --cleanup {}\n", record.mountpoint.display());
                    }
                    MountState::Exited => {
                        out += "  the process is gone and nothing is mounted (record left by a kill)\n"
                    }
                    MountState::NotMounted => out += "  unmounted from outside while the process runs\n",
                    MountState::Serving => {}
                }
            }
            out
        },
        || serde_json::json!({"kind": "rtt.mount.status", "mounts": mounts}),
    );
    Ok(ExitCode::SUCCESS)
}

/// `3h04m`, `12m05s` or `40s`.
fn age(seconds: u64) -> String {
    match seconds {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

pub fn materialize(args: &MaterializeArgs) -> Result<ExitCode, Failure> {
    let (_, plan, views) = verified_views(args.plan.as_deref(), &args.checks, args.provider.as_deref())?;
    let registry = Registry::open(args.checks.layout.registry().root());
    let mode = match args.mode {
        MaterializeMode::Auto => Mode::Auto,
        MaterializeMode::Hardlink => Mode::Only(Method::Hardlink),
        MaterializeMode::Symlink => Mode::Only(Method::Symlink),
        MaterializeMode::Proxy => Mode::Only(Method::Proxy),
        MaterializeMode::Copy => Mode::Only(Method::Copy),
    };
    let report = rtt_vfs::materialize::materialize(&args.target, plan, &views, &registry, mode)?;
    for fallback in &report.fallbacks {
        eprintln!("rtt: passed over {fallback}");
    }
    println!(
        "materialized {} views of plan {plan} into {} (mode {})",
        report.files,
        args.target.display(),
        report.method.name()
    );
    Ok(ExitCode::SUCCESS)
}

/// Re-runs this command with `--foreground` in a new process group, its
/// output appended to `<dir>/mount.log`, and returns once the mount is up
/// (or reports why it did not come up).
fn spawn_background(args: &MountArgs, mountpoint: &Path) -> Result<ExitCode, Failure> {
    let log_path = args.checks.layout.mount_log();
    let failed = |reason: String| -> Failure { MountFailed { reason }.into() };
    let dir = args.checks.layout.root();
    std::fs::create_dir_all(dir).map_err(|e| failed(format!("{}: {e}", dir.display())))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| failed(format!("{}: {e}", log_path.display())))?;
    let exe = std::env::current_exe().map_err(|e| failed(e.to_string()))?;
    let mut child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .arg("--foreground")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| failed(format!("cannot start the mount process: {e}")))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let record = std::path::absolute(mountpoint).map(|absolute| args.checks.layout.mount_record(&absolute));
    let mut mounted_at = None;
    loop {
        // Up means mounted and listed by `rtt mount status` (which the process
        // does right after mounting; a record it cannot write only warns).
        if rtt_vfs::is_mounted(mountpoint)? {
            let since = *mounted_at.get_or_insert_with(Instant::now);
            let listed = record.as_ref().is_ok_and(|path| {
                let read =
                    std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice::<MountRecord>(&bytes).ok());
                read.is_some_and(|record| record.pid == child.id())
            });
            if !listed && since.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            println!("mounted at {} (pid {}; log {})", mountpoint.display(), child.id(), log_path.display());
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(status) = child.try_wait().map_err(|e| failed(e.to_string()))? {
            return Err(failed(format!("the mount process exited ({status}); see {}", log_path.display())));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(failed(format!("the mount did not come up within 30 s; see {}", log_path.display())));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
