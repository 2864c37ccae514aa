//! The launcher's IO: each layer of a [`Policy`] applied to this process,
//! then `exec` of the driver, which inherits them all. Run only in the
//! launcher (`rtt-sandbox`), a fresh single-threaded process.
//!
//! Order matters: rlimits and namespaces first (unshare needs the rights
//! seccomp later removes), Landlock next (its syscalls are not filtered
//! anyway), the seccomp filter last, so that nothing after it needs a
//! refused call.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};
use nix::sched::{CloneFlags, unshare};
use nix::sys::resource::{Resource, setrlimit};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};
use serde::{Deserialize, Serialize};

use super::{DEVICES, Mode, Net, Policy};

/// The Landlock ABI rtt asks for (Linux 6.12: filesystem, TCP, signal and
/// abstract-socket scoping); older kernels get what they have (best effort).
const LANDLOCK_ABI: ABI = ABI::V6;

/// Test hook: layers (`landlock`, `seccomp`) the launcher reports missing
/// although it applied them.
pub const PRETEND_MISSING_ENV: &str = "RTT_SANDBOX_PRETEND_MISSING";

/// Which layers took effect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layers {
    /// `PR_SET_NO_NEW_PRIVS`.
    pub no_new_privs: bool,
    /// Every rlimit was set.
    pub rlimits: bool,
    /// A private mount namespace.
    pub mount_namespace: bool,
    /// A private network namespace (only when the driver has no `net` grant).
    pub network_namespace: Option<bool>,
    /// `full`, `partial` (an older kernel: some rights unrestricted) or `none`.
    pub landlock: String,
    /// The seccomp filter.
    pub seccomp: bool,
    /// A pids cgroup capping the driver's processes (only with `exec`:
    /// without it seccomp refuses process creation; `RLIMIT_NPROC` alone
    /// does not bind root).
    #[serde(default)]
    pub pids_cgroup: Option<bool>,
}

impl Layers {
    /// The layers that are missing or weaker than asked, by name.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        for (ok, name) in [
            (self.no_new_privs, "no_new_privs"),
            (self.rlimits, "rlimits"),
            (self.mount_namespace, "mount namespace"),
            (self.network_namespace != Some(false), "network namespace"),
            (self.landlock == "full", "landlock"),
            (self.seccomp, "seccomp"),
            (self.pids_cgroup != Some(false), "pids cgroup"),
        ] {
            if !ok {
                missing.push(name);
            }
        }
        missing
    }
}

/// Why the launcher did not start the driver.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// `sandbox: required` and a layer is missing.
    #[error("sandbox required but not available: {}", .0.join(", "))]
    Missing(Vec<&'static str>),
    /// A layer failed in a way that is not "the kernel lacks it".
    #[error("sandbox {layer}: {detail}")]
    Layer {
        /// Which.
        layer: &'static str,
        /// What happened.
        detail: String,
    },
    /// The driver program could not be executed.
    #[error("exec {program}: {detail}")]
    Exec {
        /// The program.
        program: String,
        /// Why.
        detail: String,
    },
}

/// Applies every layer of `policy` to this process and reports which took
/// effect. Irreversible: call it only in the launcher.
pub fn apply(policy: &Policy) -> Result<Layers, SandboxError> {
    let mut layers = Layers { no_new_privs: nix::sys::prctl::set_no_new_privs().is_ok(), ..Layers::default() };
    let limits = &policy.limits;
    layers.rlimits = [
        (Resource::RLIMIT_AS, limits.memory_bytes),
        (Resource::RLIMIT_CPU, limits.cpu_seconds),
        (Resource::RLIMIT_NOFILE, limits.open_files),
        (Resource::RLIMIT_FSIZE, limits.file_bytes),
        (Resource::RLIMIT_NPROC, limits.processes),
        (Resource::RLIMIT_CORE, 0),
    ]
    .into_iter()
    .all(|(resource, limit)| setrlimit(resource, limit, limit).is_ok());
    if policy.exec {
        layers.pids_cgroup = Some(pids_cgroup(limits.processes));
    }
    layers.mount_namespace = unshare(CloneFlags::CLONE_NEWNS).is_ok();
    if policy.net == Net::None {
        layers.network_namespace = Some(unshare(CloneFlags::CLONE_NEWNET).is_ok());
    }
    layers.landlock = landlock(policy)?;
    layers.seccomp = seccomp(policy.exec)?;
    // A test hook, like crate::fault's: report layers as missing that this
    // kernel has, so that `sandbox: required`'s refusal can be tested on it.
    if let Ok(pretend) = std::env::var(PRETEND_MISSING_ENV) {
        for layer in pretend.split(',') {
            match layer {
                "landlock" => layers.landlock = "none".into(),
                "seccomp" => layers.seccomp = false,
                _ => {}
            }
        }
    }
    if policy.mode == Mode::Required && !layers.missing().is_empty() {
        return Err(SandboxError::Missing(layers.missing()));
    }
    Ok(layers)
}

/// Replaces this process with the driver, environment cleared to the
/// policy's. Returns only on failure.
pub fn exec(policy: &Policy, argv: &[String]) -> SandboxError {
    let Some((program, args)) = argv.split_first() else {
        return SandboxError::Exec { program: String::new(), detail: "empty command".into() };
    };
    let error =
        std::process::Command::new(program).args(args).env_clear().envs(policy.env.iter().map(|(k, v)| (k, v))).exec();
    SandboxError::Exec { program: program.clone(), detail: error.to_string() }
}

/// Moves this process into a fresh pids cgroup capped at `limit` (cgroup
/// v1's `pids` hierarchy, else v2's), before Landlock closes `/sys`. Empty
/// groups of drivers that have exited are removed first, so they do not
/// pile up. False where neither hierarchy is writable.
fn pids_cgroup(limit: u64) -> bool {
    let hierarchies = [Path::new("/sys/fs/cgroup/pids"), Path::new("/sys/fs/cgroup")];
    for base in hierarchies {
        let v2 = !base.ends_with("pids");
        if v2 {
            let controllers = std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
            if !controllers.split_whitespace().any(|c| c == "pids") {
                continue;
            }
        } else if !base.join("cgroup.procs").is_file() {
            continue;
        }
        let parent = base.join("rtt-drivers");
        if std::fs::create_dir_all(&parent).is_err() {
            continue;
        }
        if v2 {
            let _ = std::fs::write(base.join("cgroup.subtree_control"), "+pids");
            let _ = std::fs::write(parent.join("cgroup.subtree_control"), "+pids");
        }
        for stale in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            // rmdir of a cgroup fails while it has processes: only empty ones go.
            let _ = std::fs::remove_dir(stale.path());
        }
        let group = parent.join(std::process::id().to_string());
        let joined = std::fs::create_dir_all(&group).is_ok()
            && std::fs::write(group.join("pids.max"), limit.to_string()).is_ok()
            && std::fs::write(group.join("cgroup.procs"), std::process::id().to_string()).is_ok();
        if joined {
            return true;
        }
    }
    false
}

fn landlock(policy: &Policy) -> Result<String, SandboxError> {
    let fail = |e: landlock::RulesetError| SandboxError::Layer { layer: "landlock", detail: e.to_string() };
    for dir in &policy.write {
        std::fs::create_dir_all(dir)
            .map_err(|e| SandboxError::Layer { layer: "landlock", detail: format!("{}: {e}", dir.display()) })?;
    }
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(LANDLOCK_ABI))
        .map_err(fail)?
        .scope(Scope::from_all(LANDLOCK_ABI))
        .map_err(fail)?;
    if policy.net != Net::Any {
        ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp).map_err(fail)?;
    }
    let mut created = ruleset.create().map_err(fail)?;
    let mut grants: Vec<(&Path, landlock::BitFlags<AccessFs>)> = Vec::new();
    grants.extend(policy.read.iter().map(|p| (p.as_path(), AccessFs::from_read(LANDLOCK_ABI))));
    grants.push((Path::new("/proc"), AccessFs::from_read(LANDLOCK_ABI) & !AccessFs::Execute));
    grants.extend(DEVICES.iter().map(|d| (Path::new(*d), AccessFs::ReadFile | AccessFs::WriteFile)));
    grants.extend(policy.write.iter().map(|p| (p.as_path(), AccessFs::from_all(LANDLOCK_ABI))));
    for (path, access) in grants {
        // A runtime directory this system does not have is simply not granted.
        let Ok(fd) = PathFd::new(path) else { continue };
        let access = if path.is_dir() { access } else { access & AccessFs::from_file(LANDLOCK_ABI) };
        created = created.add_rule(PathBeneath::new(fd, access)).map_err(fail)?;
    }
    if let Net::Ports(ports) = &policy.net {
        for port in ports {
            created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp)).map_err(fail)?;
        }
    }
    let status = created.restrict_self().map_err(fail)?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => "full",
        RulesetStatus::PartiallyEnforced => "partial",
        _ => "none",
    }
    .to_owned())
}

/// Syscalls no driver needs: debugging other processes, mounts, kernel
/// modules and images, BPF, namespaces, keyrings, the clock, reboot.
const REFUSED: &[i64] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fsopen,
    libc::SYS_fsmount,
    libc::SYS_fsconfig,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_quotactl,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_syslog,
    libc::SYS_vhangup,
];

fn seccomp(exec: bool) -> Result<bool, SandboxError> {
    let fail = |e: seccompiler::BackendError| SandboxError::Layer { layer: "seccomp", detail: e.to_string() };
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = REFUSED.iter().map(|s| (*s, Vec::new())).collect();
    if !exec {
        // No new processes: fork and vfork refused, clone only for threads.
        rules.insert(libc::SYS_fork, Vec::new());
        rules.insert(libc::SYS_vfork, Vec::new());
        let not_a_thread =
            SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64), 0)
                .map_err(fail)?;
        rules.insert(libc::SYS_clone, vec![SeccompRule::new(vec![not_a_thread]).map_err(fail)?]);
    }
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|e: seccompiler::BackendError| SandboxError::Layer { layer: "seccomp", detail: e.to_string() })?;
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
        .map_err(fail)?;
    let program: BpfProgram = filter.try_into().map_err(fail)?;
    if !exec {
        // clone3's flags are behind a pointer the filter cannot read: ENOSYS
        // makes libc fall back to clone, which the filter can.
        let clone3 = SeccompFilter::new(
            BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
            arch,
        )
        .map_err(fail)?;
        let clone3: BpfProgram = clone3.try_into().map_err(fail)?;
        if seccompiler::apply_filter(&clone3).is_err() {
            return Ok(false);
        }
    }
    // Fails only where the kernel has no seccomp: reported as missing.
    Ok(seccompiler::apply_filter(&program).is_ok())
}
