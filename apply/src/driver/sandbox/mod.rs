//! The driver sandbox (docs/apply.md, "Sandbox"): what a spawned driver may
//! do, derived from the config, and the launcher that enforces it.
//!
//! The coordinator never starts a driver directly. It starts the launcher
//! (`rtt-sandbox --policy POLICY -- COMMAND…`, a small binary installed
//! beside `rtt`), a fresh single-threaded process that applies every layer to
//! itself — no_new_privs, rlimits, private mount and network namespaces,
//! a Landlock ruleset, a seccomp filter, a cleared environment — and then
//! `exec`s the driver, which inherits all of them and cannot drop any. A
//! separate process rather than `pre_exec`: the layers are applied with the
//! crates' safe APIs (the workspace forbids `unsafe`), and nothing runs
//! between fork and exec of the multi-threaded coordinator.
//!
//! This module is the pure part: capability words parsed into a [`Policy`].
//! [`enforce`] is the IO.

pub mod enforce;

use std::path::{Path, PathBuf};

use rtt_schema::model::Grant;
use serde::{Deserialize, Serialize};

/// How strictly a driver is sandboxed (`sandbox:` of a driver in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every layer the kernel has; a missing one is reported, not fatal.
    #[default]
    Default,
    /// Every layer, or the driver does not start.
    Required,
    /// No sandbox (for debugging; reported loudly).
    Off,
}

/// Network access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Net {
    /// None: a private network namespace with nothing in it.
    None,
    /// TCP connections to these ports only (Landlock cannot tell hosts apart).
    Ports(Vec<u16>),
    /// Any.
    Any,
}

/// Resource limits of a driver process (and everything it starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Address space, bytes (`RLIMIT_AS`).
    pub memory_bytes: u64,
    /// CPU time, seconds (`RLIMIT_CPU`).
    pub cpu_seconds: u64,
    /// Open files (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// Largest file it may write, bytes (`RLIMIT_FSIZE`; stdout is capped by the framing).
    pub file_bytes: u64,
    /// Processes of its user (`RLIMIT_NPROC`; the kernel does not apply it to root, so
    /// without `exec` process creation is refused outright by seccomp).
    pub processes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { memory_bytes: 2 << 30, cpu_seconds: 3600, open_files: 1024, file_bytes: 256 << 20, processes: 256 }
    }
}

/// Everything the launcher needs: what the driver may touch, and how hard to insist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// How strictly.
    pub mode: Mode,
    /// Read and execute beneath these (runtime, the driver's own files).
    pub read: Vec<PathBuf>,
    /// Read, write and create beneath these (the driver's root, `fs:` grants).
    pub write: Vec<PathBuf>,
    /// Network access.
    pub net: Net,
    /// May start processes (`exec`).
    pub exec: bool,
    /// The whole environment of the driver.
    pub env: Vec<(String, String)>,
    /// Resource limits.
    pub limits: Limits,
}

/// A capability word rtt does not know, or a malformed one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("capability `{word}` is not valid: {why}")]
pub struct CapabilityError {
    /// The word.
    pub word: String,
    /// What is wrong.
    pub why: String,
}

/// Directories every driver may read and execute from: the system's
/// programs, libraries and configuration. Not `/root`, `/home`, `/var` or
/// `/tmp`.
pub const RUNTIME: [&str; 8] = ["/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/opt"];

/// Device files a driver may read and write.
pub const DEVICES: [&str; 4] = ["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"];

impl Policy {
    /// The policy of a driver started as `argv` in `cwd`, with read-write
    /// `root`, the granted `capabilities` and the configured `env`. `path`
    /// is the coordinator's `PATH`, to find the program and to pass on.
    pub fn new(
        mode: Mode,
        argv: &[String],
        cwd: &Path,
        root: &Path,
        capabilities: &[String],
        env: &[(String, String)],
        path: Option<&str>,
    ) -> Result<Self, CapabilityError> {
        let absolute = |p: &str| if Path::new(p).is_absolute() { PathBuf::from(p) } else { cwd.join(p) };
        let mut read: Vec<PathBuf> = RUNTIME.iter().map(PathBuf::from).collect();
        read.extend(program_dirs(argv, cwd, path));
        let mut write = vec![root.to_owned()];
        let mut net = Net::None;
        let mut exec = false;
        for word in capabilities {
            let grant =
                Grant::parse(word).map_err(|why| CapabilityError { word: word.clone(), why: why.to_owned() })?;
            match grant {
                Some(Grant::Write(p)) => write.push(absolute(p)),
                Some(Grant::Read(p)) => read.push(absolute(p)),
                Some(Grant::AnyNet) => net = Net::Any,
                Some(Grant::Port(port)) => match &mut net {
                    Net::Any => {}
                    Net::Ports(ports) => ports.push(port),
                    Net::None => net = Net::Ports(vec![port]),
                },
                Some(Grant::Exec) => exec = true,
                None => {}
            }
        }
        if let Net::Ports(ports) = &mut net {
            ports.sort_unstable();
            ports.dedup();
        }
        let mut environment = vec![
            ("PATH".to_owned(), path.unwrap_or("/usr/local/bin:/usr/bin:/bin").to_owned()),
            ("HOME".to_owned(), root.display().to_string()),
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
            ("RTT_DRIVER_ROOT".to_owned(), root.display().to_string()),
        ];
        for (key, value) in env {
            environment.retain(|(k, _)| k != key);
            environment.push((key.clone(), value.clone()));
        }
        // The fault-injection hooks (crate::fault; test harnesses set them)
        // reach the driver, and the files they name stay writable.
        for key in [crate::fault::FAULT_ENV, crate::fault::FAULT_ONCE_ENV, crate::fault::FAULT_TRACE_ENV] {
            if let Ok(value) = std::env::var(key) {
                if key != crate::fault::FAULT_ENV
                    && let Some(dir) = Path::new(&value).parent()
                {
                    write.push(absolute(&dir.display().to_string()));
                }
                environment.push((key.to_owned(), value));
            }
        }
        Ok(Self { mode, read, write, net, exec, env: environment, limits: Limits::default() })
    }
}

/// The directories of the program and of the first argument that names an
/// existing file (the script an interpreter runs), read-only — not of later
/// arguments, which are data (`--config /etc/x` must not open `/etc/x`'s
/// neighbours). A program in a `bin` or `shims` directory brings its install
/// prefix (its libraries: `/usr/local/go`, a pyenv root).
fn program_dirs(argv: &[String], cwd: &Path, path: Option<&str>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let file = |arg: &String| {
        Some(if Path::new(arg).is_absolute() { PathBuf::from(arg) } else { cwd.join(arg) }).filter(|p| p.is_file())
    };
    let program = argv.first().and_then(|arg| {
        if arg.contains('/') {
            file(arg)
        } else {
            path.unwrap_or_default().split(':').map(|d| Path::new(d).join(arg)).find(|p| p.is_file())
        }
    });
    let script = argv.iter().skip(1).find_map(file);
    for candidate in [program, script] {
        for file in candidate.into_iter().flat_map(|f| [f.clone(), std::fs::canonicalize(&f).unwrap_or(f)]) {
            let Some(dir) = file.parent() else { continue };
            let prefix = match dir.file_name().and_then(|n| n.to_str()) {
                Some("bin" | "shims" | "sbin") => dir.parent().unwrap_or(dir),
                _ => dir,
            };
            if !dirs.iter().any(|d: &PathBuf| d == prefix) {
                dirs.push(prefix.to_owned());
            }
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(capabilities: &[&str]) -> Result<Policy, CapabilityError> {
        let words: Vec<String> = capabilities.iter().map(|w| (*w).to_owned()).collect();
        Policy::new(Mode::Default, &["true".into()], Path::new("/cfg"), Path::new("/cfg/state"), &words, &[], None)
    }

    #[test]
    fn grants_widen_the_policy_exactly_that_far() {
        let p = policy(&["placements.write"]).expect("policy");
        assert_eq!((p.net.clone(), p.exec, p.write.clone()), (Net::None, false, vec![PathBuf::from("/cfg/state")]));
        let p = policy(&["fs:data", "fs.read:/srv/m", "net:db:5432", "net:80", "net:80", "exec"]).expect("policy");
        assert_eq!(p.write, vec![PathBuf::from("/cfg/state"), PathBuf::from("/cfg/data")]);
        assert!(p.read.contains(&PathBuf::from("/srv/m")));
        assert_eq!((p.net, p.exec), (Net::Ports(vec![80, 5432]), true));
        assert_eq!(policy(&["net:80", "net"]).expect("policy").net, Net::Any);
    }

    #[test]
    fn malformed_grants_are_refused() {
        for word in ["fs:", "fs.read:", "net:http", "net:0", "net:host:99999"] {
            assert!(policy(&[word]).is_err(), "{word}");
        }
    }

    #[test]
    fn the_environment_is_what_the_config_lists_and_the_root() {
        let env = vec![("TOKEN".to_owned(), "x".to_owned()), ("LANG".to_owned(), "de_DE.UTF-8".to_owned())];
        let p =
            Policy::new(Mode::Default, &["true".into()], Path::new("/c"), Path::new("/c/r"), &[], &env, Some("/bin"))
                .expect("policy");
        let keys: Vec<&str> = p.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["PATH", "HOME", "RTT_DRIVER_ROOT", "TOKEN", "LANG"]);
        assert!(p.env.contains(&("LANG".to_owned(), "de_DE.UTF-8".to_owned())));
    }
}
