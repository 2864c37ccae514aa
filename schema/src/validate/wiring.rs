//! Drivers and providers: names, references and paths that must not escape.

use std::collections::HashSet;

use super::dangling;
use crate::issue::Issue;
use crate::model::{
    AgentId, DEFAULT_DRIVER_TIMEOUT_MS, Driver, DriverId, DriverKind, IMPLICIT_DRIVER, IMPLICIT_DRIVER_ROOT, Model,
    Provider,
};
use crate::raw::{self, AgentSelection};
use crate::source::{Path, Target};

pub(super) struct Drivers {
    pub(super) list: Vec<Driver>,
    default: Option<DriverId>,
    explicit: bool,
}

impl Drivers {
    fn id(&self, name: &str) -> Option<DriverId> {
        self.list.iter().position(|d| d.name == name).map(|i| DriverId(i as u32))
    }

    fn names(&self) -> Vec<&str> {
        self.list.iter().map(|d| d.name.as_str()).collect()
    }

    /// The driver of a host: its own, else `hosts_driver`, else the implicit one.
    pub(super) fn for_host(&self, host: &raw::Host, path: &Path, issues: &mut Vec<Issue>) -> DriverId {
        if let Some(name) = &host.driver {
            if let Some(id) = self.id(name) {
                return id;
            }
            let mut issue = dangling("driver", name, &path.key("driver"), &self.names());
            if !self.explicit {
                issue = issue
                    .help("the config declares no `drivers`; declare this one under `drivers:` or remove `driver:`");
            }
            issues.push(issue);
            return DriverId(0);
        }
        match self.default {
            Some(id) => id,
            None => {
                // Reported once per host so each one is visible in the editor.
                let message = format!("host `{}` has no driver", host.name);
                let help = "set `hosts_driver:` for all hosts or `driver:` on this host".to_owned();
                issues.push(Issue::at(&path.key("name"), Target::Value, message, "no driver".into()).help(help));
                DriverId(0)
            }
        }
    }
}

pub(super) fn drivers(config: &raw::Config, issues: &mut Vec<Issue>) -> Drivers {
    let base = Path::root().key("drivers");
    if config.drivers.is_empty() {
        let implicit =
            Driver { name: IMPLICIT_DRIVER.into(), kind: DriverKind::Dir { root: IMPLICIT_DRIVER_ROOT.into() } };
        if let Some(name) = &config.hosts_driver
            && name != IMPLICIT_DRIVER
        {
            issues.push(dangling("driver", name, &Path::root().key("hosts_driver"), &[IMPLICIT_DRIVER]));
        }
        return Drivers { list: vec![implicit], default: Some(DriverId(0)), explicit: false };
    }
    let mut list = Vec::new();
    for (name, driver) in &config.drivers {
        let path = base.key(name);
        check_name("driver", name, &path, issues);
        if driver.uid.is_some() && driver.socket.is_none() {
            issues.push(
                Issue::at(
                    &path.key("uid"),
                    Target::Key,
                    format!("driver `{name}` sets `uid` without `socket`"),
                    "only for socket drivers".into(),
                )
                .help("`uid` is the user a socket driver must run as; rtt starts `command` drivers as itself"),
            );
        }
        let kind = match (&driver.builtin, &driver.command, &driver.socket) {
            (None, None, Some(socket)) => socket_driver(name, socket, driver, &path, issues),
            (Some(raw::BuiltinDriver::Dir), None, None) => {
                if driver.timeout_ms.is_some() || !driver.capabilities.is_empty() {
                    let message = format!("driver `{name}` is built in and takes no `timeout_ms` or `capabilities`");
                    issues.push(
                        Issue::at(&path, Target::Key, message, "built-in driver".into())
                            .help("remove them, or use `command:` for an external driver"),
                    );
                }
                DriverKind::Dir { root: driver.root.clone().unwrap_or_else(|| IMPLICIT_DRIVER_ROOT.into()) }
            }
            (None, Some(argv), None) => {
                if argv.first().is_none_or(|program| program.is_empty()) {
                    issues.push(
                        Issue::new(
                            &path.key("command"),
                            format!("driver `{name}` has an empty command"),
                            "empty".into(),
                        )
                        .help("give the program and its arguments, e.g. [python3, drivers/fleet.py]"),
                    );
                }
                for (i, word) in driver.capabilities.iter().enumerate() {
                    if let Err(why) = crate::model::Grant::parse(word) {
                        issues.push(
                            Issue::new(&path.key("capabilities").index(i), format!("capability `{word}` is not valid"), why.into())
                                .help("sandbox grants are `fs:PATH`, `fs.read:PATH`, `net`, `net:PORT`, `net:HOST:PORT` and `exec` (docs/apply.md)"),
                        );
                    }
                }
                DriverKind::Command {
                    argv: argv.clone(),
                    capabilities: driver.capabilities.clone(),
                    timeout_ms: driver.timeout_ms.unwrap_or(DEFAULT_DRIVER_TIMEOUT_MS),
                    root: driver.root.clone(),
                    env: driver.env.clone(),
                    sandbox: driver.sandbox.unwrap_or(crate::raw::SandboxMode::Default),
                }
            }
            _ => {
                let message = format!("driver `{name}` must set exactly one of `builtin`, `command` and `socket`");
                issues.push(Issue::at(&path, Target::Key, message, "ambiguous driver".into()).help(
                    "`builtin: dir` (with optional `root:`), `command: [program, args...]`, or `socket: PATH` for a resident driver",
                ));
                DriverKind::Dir { root: IMPLICIT_DRIVER_ROOT.into() }
            }
        };
        list.push(Driver { name: name.clone(), kind });
    }
    let mut drivers = Drivers { list, default: None, explicit: true };
    if let Some(name) = &config.hosts_driver {
        drivers.default = drivers.id(name);
        if drivers.default.is_none() {
            issues.push(dangling("driver", name, &Path::root().key("hosts_driver"), &drivers.names()));
            drivers.default = Some(DriverId(0));
        }
    }
    drivers
}

/// A resident driver on a Unix socket: rtt neither starts nor sandboxes it,
/// so the settings that only shape a started process are refused.
fn socket_driver(name: &str, socket: &str, driver: &raw::Driver, path: &Path, issues: &mut Vec<Issue>) -> DriverKind {
    if socket.is_empty() {
        issues.push(
            Issue::new(&path.key("socket"), format!("driver `{name}` has an empty `socket`"), "empty".into())
                .help("the path of the Unix socket the driver listens on, e.g. /run/fleet-driver.sock"),
        );
    }
    let started_only =
        [("root", driver.root.is_some()), ("env", !driver.env.is_empty()), ("sandbox", driver.sandbox.is_some())];
    for (key, set) in started_only {
        if set {
            issues.push(
                Issue::at(&path.key(key), Target::Key, format!("driver `{name}` listens on a socket and takes no `{key}`"), "not started by rtt".into())
                    .help("a socket driver is started by you (a service manager, a container), so its root, environment and sandbox are yours to set there"),
            );
        }
    }
    for (i, word) in driver.capabilities.iter().enumerate() {
        if !matches!(crate::model::Grant::parse(word), Ok(None)) {
            issues.push(
                Issue::new(
                    &path.key("capabilities").index(i),
                    format!("`{word}` is a sandbox grant, and a socket driver is not sandboxed by rtt"),
                    "not a protocol capability".into(),
                )
                .help("grant only protocol capabilities such as `placements.write`"),
            );
        }
    }
    DriverKind::Socket {
        path: socket.to_owned(),
        uid: driver.uid,
        capabilities: driver.capabilities.clone(),
        timeout_ms: driver.timeout_ms.unwrap_or(DEFAULT_DRIVER_TIMEOUT_MS),
    }
}

pub(super) fn providers(config: &raw::Config, model: &Model, issues: &mut Vec<Issue>) -> Vec<Provider> {
    let base = Path::root().key("providers");
    let known: Vec<&str> = model.agents.iter().map(|a| a.id.as_str()).collect();
    let mut providers = Vec::new();
    let mut dirs: HashSet<&str> = HashSet::new();
    for (name, provider) in &config.providers {
        let path = base.key(name);
        check_name("provider", name, &path, issues);
        if let Err(reason) = check_relative_dir(&provider.dir) {
            issues.push(
                Issue::new(&path.key("dir"), format!("provider `{name}` has an unsafe `dir`"), reason.into())
                    .help("use a relative path inside the project, e.g. .claude/agents"),
            );
        } else if !dirs.insert(provider.dir.trim_end_matches('/')) {
            issues.push(
                Issue::new(
                    &path.key("dir"),
                    format!("provider `{name}` shares its `dir` with another provider"),
                    "already used".into(),
                )
                .help("give every provider a directory of its own"),
            );
        }
        let agents: Vec<AgentId> = match &provider.agents {
            AgentSelection::All => (0..model.agents.len() as u32).map(AgentId).collect(),
            AgentSelection::Listed(ids) => {
                let mut seen = HashSet::new();
                let mut agents = Vec::new();
                for (i, id) in ids.iter().enumerate() {
                    let item = path.key("agents").index(i);
                    match model.agent_by_id(id) {
                        Some(agent) if seen.insert(agent) => agents.push(agent),
                        Some(_) => issues.push(
                            Issue::new(&item, format!("agent `{id}` is listed twice"), "listed again".into())
                                .help("list each agent once"),
                        ),
                        None => issues.push(dangling("agent", id, &item, &known)),
                    }
                }
                agents
            }
        };
        let mut agents = agents;
        agents.sort_by(|a, b| model.agents[a.0 as usize].id.cmp(&model.agents[b.0 as usize].id));
        providers.push(Provider { name: name.clone(), dir: provider.dir.clone(), agents });
    }
    providers
}

/// Map keys are names too, but JSON Schema does not check keys.
/// Names that become file names (providers, drivers, the env overlay) must
/// not be able to step out of their directory.
fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && name != "."
        && name != ".."
}

/// `env` names the file `.rtt/overlays/env/<env>.json`.
pub(super) fn env(config: &raw::Config, issues: &mut Vec<Issue>) {
    if let Some(env) = config.env.as_deref().filter(|env| !is_safe_name(env)) {
        issues.push(
            Issue::new(&Path::root().key("env"), format!("invalid env name {env:?}"), "not a plain file name".into())
                .help("a plain file name: letters, digits, '.', '_' and '-', not `.` or `..` (the overlay is .rtt/overlays/env/<env>.json)"),
        );
    }
}

fn check_name(what: &str, name: &str, path: &Path, issues: &mut Vec<Issue>) {
    if !is_safe_name(name) {
        issues.push(
            Issue::at(path, Target::Key, format!("invalid {what} name {name:?}"), "invalid name".into())
                .help("names use letters, digits, '.', '_' and '-' only"),
        );
    }
}

/// Why a provider directory could escape the project, if it could.
pub fn check_relative_dir(dir: &str) -> Result<(), &'static str> {
    if dir.is_empty() {
        return Err("empty directory");
    }
    if dir.contains('\0') {
        return Err("contains a NUL byte");
    }
    if dir.starts_with('/') || dir.starts_with('\\') || dir.get(1..2) == Some(":") {
        return Err("absolute path");
    }
    if dir.split(['/', '\\']).any(|part| part == "..") {
        return Err("`..` leaves the project");
    }
    Ok(())
}
